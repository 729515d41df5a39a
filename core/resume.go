package core

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/presenced/presenced/core/cachefile"
	"github.com/presenced/presenced/internal/guid"
	"github.com/presenced/presenced/internal/mapfile"
	"github.com/presenced/presenced/store"
)

// Restarting from a snapshot of the cache. The cache is saved with the
// engine positions it reflects (one sequence per partition's stream), and
// after a restart loaded and brought up to date by reading only what the
// engine stored after those positions (store.Resumable.Replay), instead of
// walking every user (Warm). Every entry, from the file or the replay, is
// applied by the cache's one rule — only if newer than the revision cached
// — so a file older than it could be, or a replay that reads a change
// again, does no harm. What must never happen is a file that holds a user
// older than the engine with no newer change after its positions: the
// save makes sure of it (SaveSnapshot says how). An entry missing from the
// file is harmless: that user is read from the engine when asked for.

// cacheFormat is the layout of the cache's entries (core.go's entry, the
// cache form of compact.go) that a snapshot records. A snapshot of another
// format is refused: change it with any change to that layout, or to the
// meaning of a session id's number.
const cacheFormat = 1

// Errors of a snapshot that cannot be used (errors.Is), besides
// cachefile's: the server then warms the cache as without one.
var (
	ErrSnapshotForeign = errors.New("the cache snapshot is of another engine, or of an engine since changed")
	ErrNoResume        = errors.New("the engine cannot replay changes from a position")
)

// SaveSnapshot writes the cache to w with the engine positions it
// reflects, and returns the number of users written. The caller writes w
// to a file beside the engine (fsync, rename).
//
// The positions come first, then each shard is copied; an entry newer
// than them is harmless. An entry older than a change at or before them
// is not, so the positions must be reached by the cache, shard by shard,
// before it is copied: on a node alone (every write is this node's)
// Positions now, and every write acknowledged by then reaches its cache
// entry before its lane's write lock is let go (Do holds it from the
// read to the cache update), so taking each of the shard's lanes' locks
// once is waiting for it; in a cluster the follower's positions (each
// partition's last change it delivered, so every change at or before them
// was queued on its lane, and the queue is applied when the lock is
// taken). A lane's lock is held for no longer than a write; the shard's
// users are copied under its read lock after.
func (c *Core) SaveSnapshot(ctx context.Context, w io.Writer) (users int, err error) {
	if c.resume == nil {
		return 0, fmt.Errorf("core: save the cache: %w", ErrNoResume)
	}
	var pos []store.Position
	if f := c.follower(); f != nil {
		if pos, err = f.positions(); err != nil {
			return 0, fmt.Errorf("core: save the cache: %w", err)
		}
	} else if pos, err = c.resume.Positions(ctx); err != nil {
		return 0, fmt.Errorf("core: save the cache: %w", err)
	}
	h := cachefile.Header{Format: cacheFormat, Positions: make([]cachefile.Position, len(pos))}
	for i, p := range pos {
		h.Positions[i] = cachefile.Position(p)
	}
	sw := cachefile.NewWriter(w, h)
	type rec struct {
		k     userKey
		start int
	}
	var (
		buf  []byte
		recs []rec
	)
	for i := range c.shard {
		if err := ctx.Err(); err != nil {
			return users, err
		}
		sh := &c.shard[i]
		for _, ln := range c.lanesOf(i) {
			c.lock(ln, UserRef{}) // no holder: the lane's queued changes applied
			c.unlock(ln)
		}
		sh.mu.RLock()
		buf, recs = buf[:0], recs[:0]
		for k, sl := range sh.users {
			recs = append(recs, rec{k, len(buf)})
			buf = sh.appendEntry(k, sl, buf)
		}
		tenants := sh.names.tenants // only ever appended to
		var odd map[uint32]string
		if len(sh.names.odd) > 0 {
			odd = make(map[uint32]string, len(sh.names.odd))
			for id, n := range sh.names.odd {
				odd[n] = id
			}
		}
		sh.mu.RUnlock()
		for j, r := range recs {
			end := len(buf)
			if j+1 < len(recs) {
				end = recs[j+1].start
			}
			fr := cachefile.Record{Tenant: tenants[r.k.tenant&^oddID], Entry: buf[r.start:end]}
			if r.k.tenant&oddID != 0 {
				fr.ID = odd[binary.LittleEndian.Uint32(r.k.user[:])] // as names.key numbers it
			} else {
				fr.GUID, fr.IsGUID = r.k.user, true
			}
			if err := sw.Add(fr); err != nil {
				return users, fmt.Errorf("core: save the cache: %w", err)
			}
			users++
		}
	}
	c.ids.mu.RLock()
	ids := c.ids.ids[:len(c.ids.ids):len(c.ids.ids)] // only ever appended to
	c.ids.mu.RUnlock()
	if err := sw.Close(ids); err != nil {
		return users, fmt.Errorf("core: save the cache: %w", err)
	}
	return users, nil
}

// Restored is a snapshot loaded into the cache (Restore), to be brought
// up to date with CatchUp before anything reads the cache.
type Restored struct {
	Users int // users loaded
	after []store.Position
}

// Restore loads a snapshot (cachefile.Decode of the whole file, which
// must not change meanwhile: entries are copied from it) into the cache, which must
// be empty: at start, before Follow, and before anything reads or writes
// a user. It checks first that the snapshot is of this engine as it is
// (the same streams, created at the same instants, none behind the
// snapshot's positions) and of this build's entry layout, and returns an
// error (the cache untouched) otherwise. Unlike Warm it does not ask
// Options.Users (at a million users that was a third of its work): the
// file holds only users that were cached, so in the directory then, and
// a user removed from it since had their record deleted, which CatchUp
// reads. It needs neither the directory nor the follower, so the server
// runs it while the directory loads.
func (c *Core) Restore(ctx context.Context, s *cachefile.Snapshot) (Restored, error) {
	if c.resume == nil {
		return Restored{}, fmt.Errorf("core: load the cache: %w", ErrNoResume)
	}
	if err := checkFormat(s); err != nil {
		return Restored{}, err
	}
	now, err := c.resume.Positions(ctx)
	if err != nil {
		return Restored{}, fmt.Errorf("core: load the cache: %w", err)
	}
	if err := samePositions(s.Positions, now); err != nil {
		return Restored{}, fmt.Errorf("core: load the cache: %w: %w", ErrSnapshotForeign, err)
	}
	c.ids.mu.Lock()
	inUse := len(c.ids.ids) > 0 || c.CachedUsers() > 0
	c.ids.mu.Unlock()
	if inUse {
		return Restored{}, errors.New("core: load the cache: the cache is in use already")
	}
	n, err := c.fill(s)
	if err != nil {
		c.empty()
		return Restored{}, err
	}
	return Restored{Users: n, after: positionsOf(s.Positions)}, nil
}

// positionsOf is a snapshot's positions as the engine's.
func positionsOf(saved []cachefile.Position) []store.Position {
	out := make([]store.Position, len(saved))
	for i, p := range saved {
		out[i] = store.Position(p)
	}
	return out
}

// fill loads s into the cache, which is empty and read or written by
// nobody yet, and returns the number of users loaded, or why the
// snapshot's bytes could not be read (a mapped file cut short under it:
// mapfile.ErrFault), the cache then partly filled.
func (c *Core) fill(s *cachefile.Snapshot) (int, error) {
	c.ids.mu.Lock()
	c.ids.ids = s.SessionIDs
	c.ids.idx = make(map[string]uint32, len(s.SessionIDs))
	for n, id := range s.SessionIDs {
		c.ids.idx[id] = uint32(n)
	}
	c.ids.pub.Store(nil)
	if len(c.ids.ids) > 0 {
		c.ids.publishLocked()
	}
	c.ids.mu.Unlock()
	// Each shard's map made at its size at once: growing a million
	// users' maps step by step rehashes them all several times.
	per := s.Users/len(c.shard) + s.Users/len(c.shard)/8 + 8
	for i := range c.shard {
		sh := &c.shard[i]
		sh.mu.Lock()
		if sh.users == nil {
			sh.users = make(map[userKey]slot, per)
		}
		sh.mu.Unlock()
	}
	return c.restoreAll(s)
}

// restoreBatch is how many records of one shard restoreAll hands its
// worker at once.
const restoreBatch = 128

// restoreRec is one record on its way to the worker of its shard.
type restoreRec struct {
	tenant string
	g      [16]byte
	isGUID bool
	id     string
	e      []byte
}

// shardBatch is records of one shard.
type shardBatch struct {
	sh   *shard
	recs []restoreRec
}

// restoreAll caches the snapshot's records and returns how many. The file
// is read in order in this goroutine, which picks each record's shard and
// gathers the records shard by shard; the shards are filled by one worker
// per core, each owning a share of them (a shard is only ever written by
// its worker: no lock is contended), a batch of one shard at a time under
// one lock: its map and arena stay in the processor's cache for the batch,
// where records taken in the file's order touched a different shard's
// each time (at a million users the map's lookups were half of the
// load's CPU). A file saved by a build with shardHash is in shard order
// (SaveSnapshot writes shard by shard): a worker then fills one whole
// shard after another. At a million users this is the part of a start from the
// saved cache that grows with the users.
//
// The snapshot's bytes may be a mapped file (internal/mapfile): the
// workers, which copy the entries out of it, read under mapfile.Guard,
// and one that faults reads no more but still takes its batches, so that
// this goroutine never waits for it; the caller guards its own reads.
func (c *Core) restoreAll(s *cachefile.Snapshot) (int, error) {
	workers := max(1, min(runtime.GOMAXPROCS(0), 8))
	var (
		wg      sync.WaitGroup
		loaded  atomic.Int64
		faulted atomic.Pointer[error]
	)
	todo := make([]chan shardBatch, workers)
	free := make(chan []restoreRec, len(c.shard)+4*workers)
	for w := range todo {
		todo[w] = make(chan shardBatch, 4)
		wg.Go(func() {
			n := 0
			for b := range todo[w] {
				if faulted.Load() == nil {
					b.sh.mu.Lock()
					if err := mapfile.Guard(func() {
						for i := range b.recs {
							if c.restoreEntry(b.sh, &b.recs[i]) {
								n++
							}
						}
					}); err != nil {
						faulted.CompareAndSwap(nil, &err)
					}
					b.sh.mu.Unlock()
				}
				clear(b.recs)
				select {
				case free <- b.recs[:0]:
				default:
				}
			}
			loaded.Add(int64(n))
		})
	}
	// The workers are ended and waited for even if reading the file
	// panics (a mapped file cut short faults here first, under the
	// caller's mapfile.Guard): left waiting, they would keep the cache
	// filled so far, gigabytes, for good.
	ended := false
	end := func() {
		if !ended {
			ended = true
			for w := range todo {
				close(todo[w])
			}
			wg.Wait()
		}
	}
	defer end()
	batches := make([][]restoreRec, len(c.shard))
	var id [36]byte
	s.Each(func(fr *cachefile.Record) {
		uid := fr.ID
		if fr.IsGUID {
			guid.FormatInto(&id, fr.GUID)
			uid = unsafe.String(&id[0], len(id)) // hashed, not kept
		}
		n := shardHash(uid) % uint64(len(c.shard))
		if batches[n] == nil {
			select {
			case batches[n] = <-free:
			default:
				batches[n] = make([]restoreRec, 0, restoreBatch)
			}
		}
		batches[n] = append(batches[n], restoreRec{tenant: fr.Tenant, g: fr.GUID, isGUID: fr.IsGUID, id: fr.ID, e: fr.Entry})
		if len(batches[n]) == restoreBatch {
			todo[int(n)%workers] <- shardBatch{&c.shard[n], batches[n]}
			batches[n] = nil
		}
	})
	for n, b := range batches {
		if len(b) > 0 {
			todo[n%workers] <- shardBatch{&c.shard[n], b}
		}
	}
	end()
	if err := faulted.Load(); err != nil {
		return int(loaded.Load()), fmt.Errorf("core: load the cache: %w", *err)
	}
	return int(loaded.Load()), nil
}

// samePositions reports why positions saved in a snapshot are not of the
// engine now at positions now, if they are not.
func samePositions(saved []cachefile.Position, now []store.Position) error {
	if len(saved) != len(now) {
		return fmt.Errorf("%d partitions, the engine has %d", len(saved), len(now))
	}
	for i, p := range saved {
		n := now[i]
		switch {
		case p.Stream != n.Stream:
			return fmt.Errorf("partition %d is stream %s, the engine's is %s", i, p.Stream, n.Stream)
		case p.Created != n.Created:
			return fmt.Errorf("stream %s was made again since the snapshot", n.Stream)
		case p.Seq > n.Seq:
			return fmt.Errorf("stream %s ends at %d, before the snapshot's %d", n.Stream, n.Seq, p.Seq)
		}
	}
	return nil
}

// restoreEntry caches r's entry (a slice of the snapshot, copied here) in
// sh, its shard (mu held), unless its user holds a revision as new, and
// reports whether it did. A GUID user's key is made from the file's 16
// bytes, not parsed again.
func (c *Core) restoreEntry(sh *shard, r *restoreRec) bool {
	var k userKey
	if t, ok := sh.names.tenant(r.tenant); ok && r.isGUID {
		k = userKey{tenant: t, user: r.g}
	} else {
		u := UserRef{TenantID: r.tenant, UserID: r.id}
		if r.isGUID {
			u.UserID = guid.Format(r.g) // the tenant's first user in this shard
		}
		k, _ = sh.names.key(u, true)
	}
	if sh.users == nil {
		sh.users = make(map[userKey]slot)
	}
	rev := inPlace(r.e).rev()
	if old, ok := sh.users[k]; ok {
		if sh.rev(k, old) >= rev {
			return false
		}
		delete(sh.users, k)
		sh.release(k, old)
	}
	sl, ok := sh.arena.put(inPlace(r.e))
	if !ok {
		if sh.big == nil {
			sh.big = make(map[userKey]entry)
		}
		sh.big[k], sl = entry(string(r.e)), bigSlot // a copy: not the file's bytes
	}
	sh.users[k] = sl
	return true
}

// CatchUp applies what the engine stored after a restored snapshot's
// positions: up to where the follower's watch started (Follow, in a
// cluster), else up to the engine's positions now. It returns the number
// of changes read. If it fails, the cache is emptied (what the follower
// cached since is read again when asked for) and the caller warms it as
// without a snapshot.
func (c *Core) CatchUp(ctx context.Context, r Restored) (changes int, err error) {
	var upTo []store.Position
	if f := c.follower(); f != nil {
		upTo = f.started()
	} else if upTo, err = c.resume.Positions(ctx); err != nil {
		c.empty()
		return 0, fmt.Errorf("core: catch up with the engine: %w", err)
	}
	err = c.resume.Replay(ctx, userKeyPrefix, r.after, upTo, func(ch store.Change) error {
		changes++
		u, ok := c.userOfKey(ch.Key)
		if !ok {
			return nil
		}
		if rev, ok := c.cachedRev(u); ok && rev >= ch.Revision {
			return nil
		}
		x, err := c.decodeChange(u, ch.Revision, ch.Value, ch.Deleted, false)
		if err != nil {
			// Not the older entry: reading the user asks the engine,
			// and reports what is wrong with it.
			c.log.Error("cache: a changed user's facts cannot be read", "user", u.UserID, "err", err)
			c.forget(u)
			return nil
		}
		c.offer(x)
		return nil
	})
	if err != nil {
		c.empty()
		return changes, fmt.Errorf("core: catch up with the engine: %w", err)
	}
	return changes, nil
}

// empty forgets every cached user.
func (c *Core) empty() {
	for i := range c.shard {
		sh := &c.shard[i]
		lanes := c.lanesOf(i)
		for _, ln := range lanes { // the whole shard: no holder, a follower's changes wait
			c.lock(ln, UserRef{})
		}
		sh.mu.Lock()
		sh.users, sh.arena, sh.big = nil, arena{}, nil
		sh.mu.Unlock()
		for _, ln := range lanes {
			c.unlock(ln)
		}
	}
}

// followed is what Follow started; nil on a node alone.
type followed struct {
	mu sync.Mutex
	f  *Follower
}

func (c *Core) follower() *Follower {
	c.fol.mu.Lock()
	defer c.fol.mu.Unlock()
	return c.fol.f
}
