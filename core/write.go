package core

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// Do validates cmd, applies it to the user's facts and persists the result.
// It returns once the engine has acknowledged the write. changed reports
// whether the visible presence changed.
func (c *Core) Do(ctx context.Context, u UserRef, cmd presence.Command) (snap Snapshot, changed bool, err error) {
	changed, err = c.write(ctx, u, cmd, &snap)
	return snap, changed, err
}

// Write is Do for a caller that needs no snapshot of the result (an
// action, whose answer is empty): it keeps the ~500-byte Snapshot out of
// the caller's frame. A write's deepest call then fits, with the
// connection's, in 8 KiB of stack (TestSetPresenceStack): a stack that
// needs 16 KiB is halved by every collection and copied to grow again by
// the connection's next write.
func (c *Core) Write(ctx context.Context, u UserRef, cmd presence.Command) (changed bool, err error) {
	return c.write(ctx, u, cmd, nil)
}

// write is Do's body; the snapshot goes to out, if not nil.
func (c *Core) write(ctx context.Context, u UserRef, cmd presence.Command, out *Snapshot) (changed bool, err error) {
	var vnow time.Time // only a command whose validation reads it reads the clock
	if presence.ValidationReadsNow(cmd) {
		vnow = c.clock.Now()
	}
	if err := cmd.Validate(vnow); err != nil {
		return false, err
	}
	wb := writeBufs.Get().(*writeBuf)
	defer wb.put()
	key := wb.key(u)
	sh, ln := c.placeOf(u)
	c.lock(ln, u)
	defer c.unlock(ln)
	const attempts = 8
	var buf [256]byte // most entries fit: no allocation
	for range attempts {
		e, err := c.load(ctx, u, buf[:])
		if err != nil {
			return false, err
		}
		now := c.clock.Now()
		// The current facts' sessions in the write's buffer: cur is read
		// during the write and handed to the callbacks as BeforeFacts,
		// valid only while they run (Snapshot); Apply copies what next
		// keeps. One allocation fewer a write.
		cur, err := c.factsInto(e, wb.sess[:0])
		if err != nil {
			return false, err
		}
		// next's sessions in the write's other buffer: what the write
		// keeps of them is encoded (the engine's value, the cache's
		// entry), and a snapshot that outlives the write copies them
		// (written).
		ap := presence.Applied{Room: wb.next[:0]}
		next, err := presence.ApplyView(cur, cmd, now, &ap)
		if err != nil {
			return false, err
		}
		ch := ap.Changed
		enc := stored
		enc.lay = &wb.lay
		wb.lay.reset()
		wb.value = enc.appendFacts(wb.value[:0], next)
		rev, err := c.kv.Put(ctx, key, wb.value, e.rev())
		if errors.Is(err, store.ErrConflict) {
			// Another node wrote this user since we cached it: catch up
			// and apply the command again to what is really stored.
			if err := c.reload(ctx, u, sh, ln, e.rev()); err != nil {
				return false, err
			}
			continue
		}
		if err != nil {
			// It may have been stored all the same (store.ErrUnavailable).
			// A node alone forgets the entry: the next read asks the
			// engine rather than trust it, which a saved cache
			// (SaveSnapshot) would otherwise keep. A node that follows
			// the engine keeps it: if the write was stored the follower
			// delivers it (and a saved cache's positions come before it,
			// so a restart replays it), and without quorum the entry is
			// what reads are served from (docs/cluster.md).
			if c.follower() == nil {
				c.forget(u)
			}
			return false, unavailable(err)
		}
		// The cache copies the entry: built in the write's buffer, it is
		// not an allocation of its own.
		wb.ent = c.ids.appendEntryFrom(wb.ent[:0], rev, next, wb.value, &wb.lay)
		c.remember(u, inPlace(wb.ent))
		c.written(u, cur, next, now, &ap, out)
		if cap(cur.Sessions) > cap(wb.sess) {
			wb.sess = cur.Sessions[:0] // a user with more sessions: keep the larger buffer
		}
		if cap(next.Sessions) > cap(wb.next) {
			wb.next = next.Sessions[:0]
		}
		return ch, nil
	}
	return false, presence.Errorf(presence.Conflict, "", "the presence of user %s is being changed concurrently; retry the request", u.UserID)
}

// writeBuf holds a write's key and stored value, reused from write to
// write (writeBufs): store.KV.Put keeps neither after it returns, and
// both were allocations of every write (~280 bytes; docs/performance.md,
// writealloc); and the cache's entry of the write, which the cache copies.
type writeBuf struct {
	k     []byte
	value []byte
	ent   []byte             // the cache's entry of the write
	sess  []presence.Session // the current facts' sessions, decoded
	next  []presence.Session // the next facts' sessions (ApplyView's Room)
	lay   layout             // value's layout, for ent
}

var writeBufs = sync.Pool{New: func() any {
	return &writeBuf{k: make([]byte, 0, 96), value: make([]byte, 0, 256), ent: make([]byte, 0, 256), sess: make([]presence.Session, 0, 4),
		next: make([]presence.Session, 0, 5), lay: layout{sess: make([][2]int, 0, 4)}}
}}

// key is u.Key() in the buffer's own bytes: valid until the buffer is put
// back.
func (b *writeBuf) key(u UserRef) string {
	b.k = u.appendKey(b.k[:0])
	return unsafe.String(unsafe.SliceData(b.k), len(b.k))
}

// put gives the buffer back, unless a value made it large. The sessions'
// strings are cleared: a pooled buffer keeps no user's data alive.
func (b *writeBuf) put() {
	if cap(b.value) > 4<<10 || cap(b.ent) > 4<<10 || cap(b.k) > 1<<10 || cap(b.sess) > maxPooledSessions || cap(b.next) > maxPooledSessions || cap(b.lay.sess) > maxPooledSessions {
		return
	}
	clear(b.sess[:cap(b.sess)])
	clear(b.next[:cap(b.next)])
	writeBufs.Put(b)
}

// maxPooledSessions is the most sessions a pooled writeBuf holds room for.
const maxPooledSessions = 64

// written reports an acknowledged write of u (cur → next at now, as
// ApplyView reported it in ap), cached already, to OnChange and OnWrite,
// under the user's write lock. It is a function of its own, not inlined,
// so that its Snapshot is on the stack only while it runs — not under
// write's deeper calls (Apply, the engine's round trip, the cache's
// encoding).
//
// The view after the write and the sequenceNumber before it are ApplyView's,
// computed at ap.At: the same as Aggregate(next, now) and Sequence(cur,
// now) unless the clock stepped back behind the user's last write (ap.At
// is then that write's instant), when they are computed at now as before.
//
//go:noinline
func (c *Core) written(u UserRef, cur, next presence.Facts, now time.Time, ap *presence.Applied, out *Snapshot) {
	snap := Snapshot{User: u, At: now, Facts: next, Seq: presence.Sequence(next, now),
		HasBefore: true, BeforeFacts: cur, BeforeAt: now, Local: true}
	if ap.At.Equal(now) {
		snap.View, snap.Before = ap.View, ap.Before
	} else {
		snap.View, snap.Before = presence.Aggregate(next, now), presence.Sequence(cur, now)
	}
	h := c.callbacks()
	if ap.Changed {
		for _, f := range h.subs {
			f(snap)
		}
	}
	for _, f := range h.writes {
		f(snap)
	}
	if out != nil {
		snap.BeforeFacts = presence.Facts{}               // it may point into write's buffer
		snap.Facts.Sessions = slices.Clone(next.Sessions) // so may Facts'
		*out = snap
	}
}
