// Package core keeps every user's presence facts: it reads them from memory,
// writes them through the engine, and applies the domain's rules in between.
// It is the one place where a command meets storage: validate, apply the pure
// rule, persist with optimistic concurrency, and only then remember the
// result, so that nothing is visible before the engine has acknowledged it.
package core

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// UserRef names one user's presence: the tenant and the user's object id.
type UserRef struct {
	TenantID string
	UserID   string
}

// Key is the engine key of the user's facts: "u.<tenant>.<user>". The tenant
// and user lead the key so that a cluster can partition by user.
func (u UserRef) Key() string {
	b := u.appendKey(make([]byte, 0, len(userKeyPrefix)+len(u.TenantID)+1+len(u.UserID)))
	return unsafe.String(unsafe.SliceData(b), len(b)) // b is not kept: one allocation, as a concatenation
}

// appendKey appends u's key to b (Key; a write builds it in its reused
// buffer).
func (u UserRef) appendKey(b []byte) []byte {
	return append(append(append(append(b, userKeyPrefix...), u.TenantID...), '.'), u.UserID...)
}

// userKeyPrefix starts every user's key (Key; Warm walks it and parses it back).
const userKeyPrefix = "u."

// Snapshot is a user's presence as seen at one instant.
type Snapshot struct {
	User UserRef
	At   time.Time
	// Facts are the user's facts at At. In a snapshot handed to OnChange
	// or OnWrite for this node's write (Local), their sessions share
	// memory with the write's buffer, which the next write reuses: valid
	// only during the callback, like BeforeFacts (Clone what is kept).
	// Do's snapshot owns its own.
	Facts presence.Facts
	View  presence.View
	Seq   presence.Stamp

	// Before is the user's sequenceNumber immediately before the change
	// that OnChange and OnWrite report: Sequence of the facts it replaced,
	// at the write's instant. HasBefore says it is known: for a write of
	// this node's (a compare-and-set on those facts), and for another
	// node's write that the engine's Watch delivered right after the
	// revision this node held (follow.go). A change learned otherwise (a
	// Get after a revision conflict or by LockedFresh, a walk after the
	// Watch restarted) may have replaced revisions this node never held:
	// HasBefore is false. The change log chains records with it, so that
	// a gap in the log shows (notify.Hub.Resume).
	Before    presence.Stamp
	HasBefore bool
	// BeforeFacts are the facts the change replaced, as they stood at
	// BeforeAt (Before is their Sequence then), when HasBefore: the
	// change log records what they showed if the change they made was
	// never logged (its writer could not reach the log, and nobody else
	// watched). Valid only during the callback: they may share memory
	// with the buffer the write read them into.
	BeforeFacts presence.Facts
	BeforeAt    time.Time
	// Local says the change is a write of this node (Do), reported once
	// the engine acknowledged it; otherwise it was learned from the
	// engine (another node's write).
	Local bool
}

// Options configure a Core. KV and Clock are required.
type Options struct {
	KV    store.KV
	Clock clock.Clock
	// Users, if set, reports whether a stored user is still one of the
	// server's (in its directory); Warm leaves out those it is not.
	// Without it Warm caches every stored user.
	Users func(tenantID, userID string) bool
	// Logger receives what the follower (Follow) has to say (default
	// slog.Default()).
	Logger *slog.Logger
	// Resume, if set, is KV's own engine, through which the cache is
	// saved with the positions it reflects and caught up from them after
	// a restart (resume.go); usually KV itself, or what KV decorates.
	Resume store.Resumable
	// Followed, if set, is told of each change another node made as the
	// follower caches it (Follow): the time from the engine storing it
	// (store.Change.Stored, the stream leader's clock) to now, by the
	// real clock — how long the change took to become visible in this
	// node's cache. Measured across machines it includes their clocks'
	// difference. It must not block (it runs under the user's write lock).
	Followed func(lag time.Duration)
}

// Core is safe for concurrent use.
type Core struct {
	kv     store.KV
	resume store.Resumable
	fol    followed
	clock  clock.Clock
	users  func(tenantID, userID string) bool
	log    *slog.Logger
	shard  [256]shard
	lanes  [256 * lanesPerShard]lane
	ids    sessionIDTable
	// hooks are the callbacks (OnChange, OnWrite, NeedsBefore), replaced
	// whole under subMu by each registration and read with one atomic
	// load: every write reads them, and a read-write lock's shared count
	// cost each write two atomic adds on one cache line for all cores.
	subMu sync.Mutex
	hooks atomic.Pointer[hooks]
	// followed is Options.Followed; nil if none.
	followed func(time.Duration)
}

// entry is a cached user in one immutable string: the engine revision as
// a uvarint, then the facts in compact form (compact.go). "" is a user
// never written (revision 0, no facts). A user with two sessions costs one
// allocation of 68 bytes (the 80-byte size class) and a 16-byte map value;
// the struct it replaces cost 32 bytes, its facts' slice 128 (the
// encoder's buffer, grown past its 64 bytes) and an 8-byte map value.
// BenchmarkCacheHeap, 100,000 users: 216 → 150 B of heap per user.
type entry string

// newEntry builds the entry of facts f stored at revision rev.
func (t *sessionIDTable) newEntry(rev uint64, f presence.Facts) entry {
	var buf [256]byte // most users' facts fit: one allocation, below
	return entry(t.appendEntry(buf[:0], rev, f))
}

// appendEntry appends the entry of facts f stored at revision rev to b.
func (t *sessionIDTable) appendEntry(b []byte, rev uint64, f presence.Facts) []byte {
	return t.cache().appendFacts(binary.AppendUvarint(b, rev), f)
}

// appendEntryFrom is appendEntry(b, rev, f) from v, the engine's form of
// f as stored.appendFacts wrote it with its layout in lay: v's bytes, but
// for the session ids, numbered as the cache's form numbers them. If a
// time was written the long way (lay.slow) the entry is encoded anew.
// TestAppendEntryFrom compares the two.
func (t *sessionIDTable) appendEntryFrom(b []byte, rev uint64, f presence.Facts, v []byte, lay *layout) []byte {
	if lay.slow || len(lay.sess) != len(f.Sessions) {
		return t.appendEntry(b, rev, f)
	}
	b = append(binary.AppendUvarint(b, rev), v[:lay.head]...)
	for i, s := range f.Sessions {
		if n, ok := t.number(s.ID); ok {
			b = binary.AppendUvarint(b, uint64(n)+1)
		} else {
			b = appendString(append(b, 0), s.ID)
		}
		b = append(b, v[lay.sess[i][0]:lay.sess[i][1]]...)
	}
	return append(b, v[lay.tail:]...)
}

// rev is the engine revision the entry was read or written at.
func (e entry) rev() uint64 {
	r := reader{s: string(e)}
	return r.uvarint() // "" reads as 0
}

// data is the facts in compact form ("" if never written).
func (e entry) data() string {
	r := reader{s: string(e)}
	r.uvarint()
	return r.s
}

// New returns a Core over o.KV.
func New(o Options) *Core {
	c := &Core{}
	c.configure(o)
	return c
}

// configure sets what o says (New's, and Preloaded.Adopt's for a cache
// filled before the engine was open).
func (c *Core) configure(o Options) {
	c.log = o.Logger
	if c.log == nil {
		c.log = slog.Default()
	}
	c.kv, c.resume, c.clock, c.users, c.followed = o.KV, o.Resume, o.Clock, o.Users, o.Followed
}

// OnChange registers f to be called after every change of a user's stored
// facts that changed the visible presence (or its sequenceNumber) compared
// with what this node held before, with the new snapshot: a write of this
// node once the engine acknowledged it, or a change another node made,
// learned from the engine (Follow). It is called under the user's write
// lock (Locked's), in the engine's revision order per user, after the
// cache holds the new value, and once per change: the engine's copy of a
// write of this node is recognised by its revision. f must not block.
func (c *Core) OnChange(f func(Snapshot)) {
	c.setHooks(func(h *hooks) { h.subs = append(h.subs, f) })
}

// hooks are the registered callbacks; never changed once stored (Core.hooks).
type hooks struct {
	subs   []func(Snapshot) // OnChange
	writes []func(Snapshot) // OnWrite
	// needsBefore (NeedsBefore) says whether a followed change of a user
	// is reported with what it replaced; nil: every one is.
	needsBefore func(UserRef) bool
}

// noHooks are the hooks of a core before any registration.
var noHooks hooks

// callbacks are the hooks registered so far.
func (c *Core) callbacks() *hooks {
	if h := c.hooks.Load(); h != nil {
		return h
	}
	return &noHooks
}

// setHooks stores a copy of the hooks that change has changed.
func (c *Core) setHooks(change func(*hooks)) {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	h := *c.callbacks()
	h.subs, h.writes = slices.Clip(h.subs), slices.Clip(h.writes) // an append copies
	change(&h)
	c.hooks.Store(&h)
}

// OnWrite registers f to be called after every change of a user's stored
// facts, visible or not, with the new snapshot: each acknowledged write of
// this node and each change of another node learned from the engine, as
// OnChange (under the user's write lock, in revision order, once). A
// write that changes nothing visible can still bring the next time-caused
// change earlier (a calendar window that now holds a meeting, a session
// given a shorter expiry): change notifications reschedule on it. f must
// not block, and must not call Do or Locked.
func (c *Core) OnWrite(f func(Snapshot)) {
	c.setHooks(func(h *hooks) { h.writes = append(h.writes, f) })
}

// NeedsBefore registers f, which says whether a change of user u that
// another node made, learned from the engine, is to be reported to
// OnWrite with what it replaced (Snapshot.Before and BeforeFacts). A
// change reported without them has HasBefore false, as one learned
// otherwise. Working them out costs, per change followed, a copy of the
// cached entry replaced and its decoding: most followed changes are of
// users no one on the node needs them for. Without f every change is
// reported with them, and so is every change when OnChange has
// subscribers. f is called without any of the core's locks held.
func (c *Core) NeedsBefore(f func(UserRef) bool) {
	c.setHooks(func(h *hooks) { h.needsBefore = f })
}

// wantsBefore says whether a followed change of u is reported with what
// it replaced (NeedsBefore).
func (c *Core) wantsBefore(u UserRef) bool {
	h := c.callbacks()
	return len(h.subs) > 0 || h.needsBefore == nil || h.needsBefore(u)
}

func (c *Core) shardOf(u UserRef) *shard {
	return &c.shard[shardHash(u.UserID)%uint64(len(c.shard))]
}

// placeOf is u's shard and u's lane (its write lock), of one hash.
func (c *Core) placeOf(u UserRef) (*shard, *lane) {
	h := shardHash(u.UserID)
	s := h % uint64(len(c.shard))
	return &c.shard[s], &c.lanes[s+uint64(len(c.shard))*(h/uint64(len(c.shard))%lanesPerShard)]
}

// lanesOf are shard i's lanes: every user of the shard has one of them.
func (c *Core) lanesOf(i int) []*lane {
	var ls [lanesPerShard]*lane
	for j := range ls {
		ls[j] = &c.lanes[i+len(c.shard)*j]
	}
	return ls[:]
}

// Now is the instant every rule is evaluated at.
func (c *Core) Now() time.Time { return c.clock.Now() }

// Read returns the user's presence now.
func (c *Core) Read(ctx context.Context, u UserRef) (Snapshot, error) {
	var s Snapshot
	if err := c.ReadInto(ctx, u, &s); err != nil {
		return Snapshot{}, err
	}
	return s, nil
}

// ReadMany returns the presence of each user, in order, at one instant.
// Users not in memory yet are read from the engine in one batched read
// (store.KV.GetMany). BenchmarkReadManyCold, 650 of 10,000 users: one Get
// per user, 32 at a time, took 31–49 ms (p50) and GetMany 17–27 ms, of
// which about a third was decoding the engine's JSON (~10 µs a user). With
// the binary form (stored.go), in one run (users stored as JSON against
// binary, three rounds, load 2–4): p50 20–22 → 12–13 ms, fastest 12–16 →
// 9–11 ms, CPU per read (engine and client too) 27–30 → 19–21 ms.
func (c *Core) ReadMany(ctx context.Context, us []UserRef) ([]Snapshot, error) {
	out := make([]Snapshot, 0, len(us))
	err := c.ReadEach(ctx, us, func(s *Snapshot) error {
		cp := *s
		cp.Facts.Sessions = slices.Clone(s.Facts.Sessions)
		out = append(out, cp)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReadEach is ReadMany without building the slice: fn is called with each
// user's presence, in order, all at one instant. *s and the backing array
// of s.Facts.Sessions are reused from one call to the next, so fn must copy
// what it keeps. It stops at fn's first error and returns it. For 650
// users, ReadMany's slice is 180 KB and the decoded sessions 130 KB more.
func (c *Core) ReadEach(ctx context.Context, us []UserRef, fn func(s *Snapshot) error) error {
	// The cached entries are copied into one buffer under their shards'
	// locks (a slot may be reused once its lock is released), then read
	// in place.
	sc := readScratch.Get().(*scratch)
	defer sc.put()
	entries := sc.entries(len(us))
	missing := c.copyCached(us, sc) // entry i is sc.buf[sc.start[i]:sc.end[i]]
	buf := sc.buf
	for i := range us {
		if start, end := sc.start[i], sc.end[i]; end > start {
			// No copy: buf is not written again before ReadEach returns,
			// and decoding never keeps its input (reader.string copies;
			// TestDecodeKeepsNoInput).
			entries[i] = inPlace(buf[start:end])
		}
	}
	if len(missing) > 0 {
		keys := make([]string, len(missing))
		for j, i := range missing {
			keys[j] = us[i].Key()
		}
		got, err := c.kv.GetMany(ctx, keys)
		if err != nil {
			return unavailable(err)
		}
		for j, i := range missing {
			e, err := c.admit(us[i], got[j])
			if err != nil {
				return err
			}
			entries[i] = e
		}
	}
	now := c.clock.Now()
	var s Snapshot
	var sessions []presence.Session
	for i, u := range us {
		f, err := c.factsInto(entries[i], sessions)
		if err != nil {
			return err
		}
		if cap(f.Sessions) > cap(sessions) {
			sessions = f.Sessions // a bigger buffer for the next users
		}
		s = snapshot(u, f, now)
		if err := fn(&s); err != nil {
			return err
		}
	}
	return nil
}

// scratch is what ReadEach needs per call and recycles (for 650 users,
// ~45 KB of entries' bytes and ~40 KB of slices).
type scratch struct {
	buf []byte
	e   []entry
	// Per user (copyCached): where its entry is in buf, its shard, and
	// its key and slot; order is the users' indices by shard.
	start, end []int
	shard      []uint8
	order      []int32
	key        []userKey
	slot       []slot
	found      []bool
}

var readScratch = sync.Pool{New: func() any { return new(scratch) }}

func (s *scratch) entries(n int) []entry {
	if cap(s.e) < n {
		s.e = make([]entry, n)
	}
	return s.e[:n]
}

func (s *scratch) put() {
	if cap(s.buf) > 1<<20 || cap(s.e) > 1<<16 {
		return // a rare huge read: let it go
	}
	clear(s.e[:cap(s.e)]) // keep no entry (some are the cache's strings) alive
	readScratch.Put(s)
}

// inPlace is b as an entry, without a copy: b must not change while the
// entry is in use.
func inPlace(b []byte) entry { return entry(unsafe.String(unsafe.SliceData(b), len(b))) }

// facts decodes an entry (never written: no facts).
func (c *Core) facts(e entry) (presence.Facts, error) { return c.factsInto(e, nil) }

// factsInto is facts with the sessions in buf when it has room.
func (c *Core) factsInto(e entry, buf []presence.Session) (presence.Facts, error) {
	d := e.data()
	if d == "" {
		return presence.Facts{}, nil
	}
	return c.ids.cache().decodeInto(d, buf)
}

// cachedInto appends the user's cached entry to buf, if any.
func (c *Core) cachedInto(u UserRef, buf []byte) ([]byte, bool) {
	sh := c.shardOf(u)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	k, sl, ok := sh.find(u)
	if !ok {
		return buf, false
	}
	return sh.appendEntry(k, sl, buf), true
}

// isCached reports whether the user is cached.
func (c *Core) isCached(u UserRef) bool {
	sh := c.shardOf(u)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	_, _, ok := sh.find(u)
	return ok
}

func snapshot(u UserRef, f presence.Facts, now time.Time) Snapshot {
	return Snapshot{User: u, At: now, Facts: f, View: presence.Aggregate(f, now), Seq: presence.Sequence(f, now)}
}

// Locked calls fn with the user's presence now while holding the user's
// write lock, so that fn sees and acts in the same order as writes (change
// notifications use it to announce changes caused by time alone).
func (c *Core) Locked(ctx context.Context, u UserRef, fn func(Snapshot) error) error {
	_, ln := c.placeOf(u)
	c.lock(ln, u)
	defer c.unlock(ln)
	return c.lockedLoaded(ctx, u, fn)
}

// lockedLoaded is Locked's body, under the user's write lock.
func (c *Core) lockedLoaded(ctx context.Context, u UserRef, fn func(Snapshot) error) error {
	var buf [256]byte // most entries fit: no allocation
	e, err := c.load(ctx, u, buf[:])
	if err != nil {
		return err
	}
	f, err := c.facts(e)
	if err != nil {
		return err
	}
	return fn(snapshot(u, f, c.clock.Now()))
}

// load is the user's entry, from the cache, else from the engine (and
// then cached). A cached entry is read into buf and returned in place (no
// allocation on a read): it is valid while buf is unchanged.
func (c *Core) load(ctx context.Context, u UserRef, buf []byte) (entry, error) {
	if b, ok := c.cachedInto(u, buf[:0]); ok {
		return inPlace(b), nil
	}
	got, err := c.kv.Get(ctx, u.Key())
	switch {
	case errors.Is(err, store.ErrNotFound):
		got = store.Entry{}
	case err != nil:
		return "", unavailable(err)
	}
	return c.admit(u, got)
}

// admit caches what the engine holds for u (Revision 0: nothing, never
// written) unless a concurrent load or write has cached u meanwhile, and
// returns the cached entry.
func (c *Core) admit(u UserRef, got store.Entry) (entry, error) {
	var e entry // never written
	if got.Revision != 0 {
		f, err := decodeStored(got.Value)
		if err != nil {
			return "", fmt.Errorf("core: decode facts of %s: %w", u.Key(), err)
		}
		e = c.ids.newEntry(got.Revision, f)
	}
	e, _ = c.rememberFirst(u, e)
	return e, nil
}

// rememberFirst caches e for u unless u is cached already (a concurrent
// load or write got there first, and what it cached is as new or newer),
// and returns what is cached and whether it is e.
func (c *Core) rememberFirst(u UserRef, e entry) (entry, bool) {
	sh := c.shardOf(u)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if k, sl, ok := sh.find(u); ok {
		return entry(sh.appendEntry(k, sl, nil)), false
	}
	sh.set(u, e)
	return e, true
}

func (c *Core) remember(u UserRef, e entry) {
	sh := c.shardOf(u)
	sh.mu.Lock()
	sh.set(u, e)
	sh.mu.Unlock()
}

// reload brings u's cached entry past revision stale after a revision
// conflict (write lock held): the changes queued for the lane first (the
// Watch may have delivered the write that won), else the leader's entry
// (fetch).
func (c *Core) reload(ctx context.Context, u UserRef, sh *shard, ln *lane, stale uint64) error {
	c.applyQueued(ln)
	if rev, _ := c.cachedRev(u); rev > stale {
		return nil
	}
	return c.fetch(ctx, u, sh)
}

func (c *Core) forget(u UserRef) {
	sh := c.shardOf(u)
	sh.mu.Lock()
	sh.del(u)
	sh.mu.Unlock()
}

// unavailable keeps the engine's error for logs while the caller sees a
// clean 503 with a retry hint.
func unavailable(err error) error {
	if msg, ok := store.FullMessage(err); ok {
		return errors.Join(presence.Errorf(presence.Unavailable, "", "%s", msg), err)
	}
	return errors.Join(presence.Errorf(presence.Unavailable, "", "the presence engine did not answer; retry the request"), err)
}

// Remove deletes a user's facts, in the engine and in memory: the user
// left the directory, and what they had must not come back if a user
// with the same id is made again.
func (c *Core) Remove(ctx context.Context, u UserRef) error {
	_, ln := c.placeOf(u)
	ln.write.Lock()
	defer ln.write.Unlock()
	if err := c.kv.Delete(ctx, u.Key(), 0); err != nil && !errors.Is(err, store.ErrNotFound) {
		return unavailable(err)
	}
	c.forget(u)
	return nil
}
