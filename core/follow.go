package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// In a cluster several nodes write the same users, so a node's cache is
// kept in step with the engine rather than trusted: a Follower applies
// every change the engine's Watch delivers, and every entry, wherever it
// comes from (the Watch, the warm-up's Walk, a Get after a revision
// conflict), is applied by one rule: only if its revision is newer than
// the one cached. A Walk may pass a key at an older revision than the
// Watch already delivered; the rule keeps the newer one. Revisions are per
// partition, but a key's only grow, and only a key's own are compared.
//
// Each applied change is reported to the subscribers (OnChange, OnWrite)
// under the user's write lock, in revision order, once: the lock is the
// user's lane's (one of lanesPerShard in the user's cache shard) that Do
// and Locked hold, so that a subscriber sees a user's changes, local and
// remote, in the order the engine stored them. The follower never waits
// for that lock (a write may hold it for the engine's whole 15 s bound):
// it queues the change on the lane and applies the queue if it can take
// the lock at once; otherwise the holder applies the queue before it lets
// the lock go (unlock). A change of another user than the holder's is
// cached at once all the same, and only reported later: a lane's lock is
// held across a replicated write (a millisecond alone, tens under load),
// and when there was one lock a shard, 256 of them under a few dozen
// writers were often held, so waiting for the holder to cache a change
// made it visible a whole write late (BenchmarkFollowVisibility's
// busy-reader). The holder's own user is left to wait: its write read
// that user's entry and reports its own change in order.

// change is an entry to apply to the cache, decoded once.
type change struct {
	u     UserRef
	rev   uint64
	e     entry          // the cache's form of facts at rev
	facts presence.Facts // for the subscribers
	// news: report it even if the user was not cached (a change the Watch
	// delivered). An entry of a user never cached that the warm-up reads
	// is not news: nothing on this node held the user before.
	news bool
	// next: the Watch delivered it and skipped nothing before it
	// (store.Change.Skipped), so it follows the revision cached for its
	// user (a key's revisions come in order), and what that one showed
	// is the change's Snapshot.Before. A change the Watch delivered after
	// a skip is next all the same if the revision cached for its user is
	// at or above skippedUpTo (cacheChange): the skipped revision was one
	// this node holds, typically its own write, acknowledged and cached
	// before the Watch could deliver it and replaced by another node's.
	next        bool
	skippedUpTo uint64 // store.Change.SkippedUpTo, when not next
	// before: report it with what it replaced when next (Core.NeedsBefore).
	before bool
	// early: already cached while another user's write held the lock
	// (offer); applying it is reporting it, with cached and prev as they
	// were when it was cached.
	early  bool
	cached bool  // the user was cached before it
	prev   entry // what it replaced, when a report needs it
	// stored is when the engine stored it (store.Change.Stored), for
	// Options.Followed; zero if not from the Watch or not known.
	stored time.Time
}

// lanesPerShard is how many write locks a cache shard's users are spread
// over. A write holds its user's lock across the engine's round trip, so
// two writers of different users on one lock wait for each other: with a
// lock a shard, 64 writers over 256 met in ~10 % of writes
// (BenchmarkHTTPOne's -mutexprofile, docs/performance.md "setPresence at
// 64 writers"); over 4,096 locks in ~1 %. A lane is ~100 bytes.
const lanesPerShard = 16

// lane is the write lock of the users that hash to it (Do, Locked and
// LockedFresh hold it; a shard's users are spread over lanesPerShard of
// them), and the changes from the engine waiting for it.
type lane struct {
	write sync.Mutex
	q     queue
}

// queue holds a lane's changes waiting for its write lock.
type queue struct {
	mu     sync.Mutex
	items  []change
	spare  []change // the drained slice, reused (write lock held)
	holder UserRef  // whose write holds the write lock; zero if none or unknown
}

// offer queues ch on its user's lane, and applies the lane's queue now
// if the write lock is free. If another user's write holds the lock, ch is
// cached now and reported when the queue is applied.
func (c *Core) offer(ch change) {
	sh, ln := c.placeOf(ch.u)
	ln.q.mu.Lock()
	if h := ln.q.holder; h != (UserRef{}) && h != ch.u {
		sh.mu.Lock()
		ch.early = c.cacheChange(sh, &ch)
		sh.mu.Unlock()
	}
	ln.q.items = append(ln.q.items, ch)
	ln.q.mu.Unlock()
	if ln.write.TryLock() {
		c.unlock(ln)
	}
}

// lock takes the lane's write lock for a write or read of u and applies
// the changes queued for it, so that a write starts from the newest the
// node has heard of rather than meet a conflict with a change already
// delivered.
func (c *Core) lock(ln *lane, u UserRef) {
	ln.write.Lock()
	ln.q.mu.Lock()
	ln.q.holder = u
	ln.q.mu.Unlock()
	c.applyQueued(ln)
}

// unlock applies the lane's queued changes and lets its write lock go.
// A change queued after the queue was read and before the lock was let go
// found the lock taken: unlock looks again once it is free, and applies it
// unless another holder has the lock (who then will).
func (c *Core) unlock(ln *lane) {
	for {
		c.applyQueued(ln)
		ln.q.mu.Lock()
		ln.q.holder = UserRef{}
		ln.q.mu.Unlock()
		ln.write.Unlock()
		ln.q.mu.Lock()
		more := len(ln.q.items) > 0
		ln.q.mu.Unlock()
		if !more || !ln.write.TryLock() {
			return
		}
	}
}

// applyQueued applies the lane's queued changes in order (write lock held).
func (c *Core) applyQueued(ln *lane) {
	ln.q.mu.Lock()
	items := ln.q.items
	ln.q.items, ln.q.spare = ln.q.spare[:0], nil
	ln.q.mu.Unlock()
	for i := range items {
		c.applyLocked(c.shardOf(items[i].u), &items[i])
	}
	clear(items) // keep no facts alive
	ln.q.spare = items[:0]
}

// applyLocked caches ch if it is newer than what is cached (unless offer
// did already), and reports it when it is news or replaced a cached entry
// (write lock held).
func (c *Core) applyLocked(sh *shard, ch *change) {
	if !ch.early {
		sh.mu.Lock()
		newer := c.cacheChange(sh, ch)
		sh.mu.Unlock()
		if !newer {
			return // this node's own write, or older than what it holds
		}
	}
	if !ch.cached && !ch.news {
		return
	}
	c.report(ch.u, ch.prev, ch.cached && ch.next && ch.before, ch.facts)
}

// cacheChange caches ch if it is newer than what is cached, noting in ch
// whether the user was cached and, when a report will need it, the entry
// it replaced (sh.mu held for writing).
func (c *Core) cacheChange(sh *shard, ch *change) bool {
	k, sl, cached := sh.find(ch.u)
	if cached && sh.rev(k, sl) >= ch.rev {
		return false
	}
	if cached && !ch.next && ch.skippedUpTo != 0 && sh.rev(k, sl) >= ch.skippedUpTo {
		ch.next = true // what the Watch skipped, this node has
	}
	if cached && (ch.next && ch.before || c.hasChangeSubs()) {
		ch.prev = entry(sh.appendEntry(k, sl, nil))
	}
	ch.cached = cached
	sh.set(ch.u, ch.e)
	if c.followed != nil && !ch.stored.IsZero() {
		c.followed(clock.Since(clock.Real{}, ch.stored))
	}
	return true
}

// hasChangeSubs reports whether anything subscribed with OnChange.
func (c *Core) hasChangeSubs() bool { return len(c.callbacks().subs) > 0 }

// report tells the subscribers of a change learned from the engine: facts
// replaced prev (the cached entry, "" if none or not needed), directly
// when next (the Watch delivered it after prev, and it is reported with
// what it replaced). OnChange hears of it only if the visible presence
// differs from prev's now.
func (c *Core) report(u UserRef, prev entry, next bool, facts presence.Facts) {
	snap := snapshot(u, facts, c.clock.Now())
	var (
		before presence.Facts
		err    error
	)
	if next || c.hasChangeSubs() {
		before, err = c.facts(prev)
	}
	if next && err == nil && snap.Seq == facts.Seq {
		// What the write showed is what it shows now (time has not
		// changed it since): the change is the write, which followed
		// what prev showed at its instant, as Do reports it.
		snap.Before, snap.HasBefore = presence.Sequence(before, facts.LastWrite), true
		snap.BeforeFacts, snap.BeforeAt = before, facts.LastWrite
	}
	h := c.callbacks()
	if len(h.subs) > 0 {
		if err != nil || visibleChange(before, snap) {
			for _, f := range h.subs {
				f(snap)
			}
		}
	}
	for _, f := range h.writes {
		f(snap)
	}
}

// visibleChange reports whether snap shows another presence, or another
// sequenceNumber, than before shows at snap's instant.
func visibleChange(before presence.Facts, snap Snapshot) bool {
	return presence.Sequence(before, snap.At) != snap.Seq || !presence.Aggregate(before, snap.At).Equal(snap.View)
}

// decodeChange is the change of u to value at rev. A deleted key is
// cached as never written, at the delete's revision, so that an older
// entry cannot bring it back.
func (c *Core) decodeChange(u UserRef, rev uint64, value []byte, deleted, news bool) (change, error) {
	var f presence.Facts
	if !deleted {
		var err error
		if f, err = decodeStored(value); err != nil {
			return change{}, fmt.Errorf("decode facts of %s at revision %d: %w", u.Key(), rev, err)
		}
	}
	return change{u: u, rev: rev, e: c.ids.newEntry(rev, f), facts: f, news: news}, nil
}

// cachedRev is the revision cached for u, and whether u is cached.
func (c *Core) cachedRev(u UserRef) (uint64, bool) {
	sh := c.shardOf(u)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	k, sl, ok := sh.find(u)
	if !ok {
		return 0, false
	}
	return sh.rev(k, sl), true
}

// Follower keeps a Core's cache in step with the engine (Core.Follow).
type Follower struct {
	c      *Core
	w      store.Watcher
	mu     sync.Mutex
	start  []store.Position // where the Watch started (nil without Options.Resume)
	broken error            // why the Watch is being restarted; nil while it runs
	pos    []store.Position // the last change delivered, per partition (from start)
}

// Follow starts following the engine's changes to users' facts and
// returns once the Watch is in place: every change acknowledged from then
// on, by any node, reaches the cache once Run runs. Start it before Warm
// and before anything reads a user, so that nothing falls between the
// two. A node alone need not follow: nothing else writes its engine.
func (c *Core) Follow(ctx context.Context) (*Follower, error) {
	f := &Follower{c: c}
	if err := f.watch(ctx); err != nil {
		return nil, fmt.Errorf("core: follow the engine: %w", err)
	}
	c.fol.mu.Lock()
	c.fol.f = f
	c.fol.mu.Unlock()
	return f, nil
}

// watch starts the Watch: with Options.Resume, from the positions now,
// which the follower then keeps (positions).
func (f *Follower) watch(ctx context.Context) error {
	if f.c.resume == nil {
		w, err := f.c.kv.Watch(ctx, userKeyPrefix)
		if err != nil {
			return err
		}
		f.w = w
		return nil
	}
	start, err := f.c.resume.Positions(ctx)
	if err != nil {
		return err
	}
	w, err := f.c.resume.WatchFrom(ctx, userKeyPrefix, start)
	if err != nil {
		return err
	}
	f.w = w
	f.mu.Lock()
	f.start, f.pos = start, append([]store.Position(nil), start...)
	f.mu.Unlock()
	return nil
}

// positions is, per partition, the last change the Watch delivered (or
// where it started): every change at or before them was applied to the
// cache or queued on its shard.
func (f *Follower) positions() ([]store.Position, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.broken != nil {
		return nil, fmt.Errorf("the engine's watch failed and is being restarted: %w", f.broken)
	}
	if f.pos == nil {
		return nil, ErrNoResume
	}
	return append([]store.Position(nil), f.pos...), nil
}

// started is where the Watch started.
func (f *Follower) started() []store.Position {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.start
}

// delivered notes that the Watch delivered ch.
func (f *Follower) delivered(ch store.Change) {
	f.mu.Lock()
	if ch.Partition < len(f.pos) && ch.Revision > f.pos[ch.Partition].Seq {
		f.pos[ch.Partition].Seq = ch.Revision
	}
	f.mu.Unlock()
}

// Run applies the engine's changes until ctx ends. If the Watch fails (the
// engine refused to go on), it starts a new one, walks every stored user
// again under the newer-revision rule (reporting what changed), and goes
// on; Err reports the break meanwhile. A key deleted while the Watch was
// broken stays cached (users' keys are never deleted).
func (f *Follower) Run(ctx context.Context) {
	defer func() {
		if f.w != nil {
			f.w.Stop()
		}
	}()
	for {
		ch, err := f.w.Next(ctx)
		if err == nil {
			f.c.follow(ch)
			f.delivered(ch)
			continue
		}
		if ctx.Err() != nil {
			return
		}
		f.setBroken(err)
		f.c.log.Warn("cache: the engine's watch failed; following it again", "err", err)
		f.w.Stop()
		f.w = nil // Run's deferred Stop is for a Watch restart made
		if !f.restart(ctx) {
			return
		}
		f.setBroken(nil)
		f.c.log.Info("cache: following the engine again")
	}
}

// restart starts a new Watch and walks every user, retrying every few
// seconds until it succeeds or ctx ends.
func (f *Follower) restart(ctx context.Context) bool {
	t := time.NewTimer(0)
	defer t.Stop()
	for wait := time.Second; ; wait = min(2*wait, 10*time.Second) {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		err := f.watch(ctx)
		if err == nil {
			if _, err = f.c.walk(ctx); err == nil || errors.Is(err, errUndecodable) {
				return true
			}
			f.w.Stop()
			f.w = nil
		}
		if ctx.Err() != nil {
			return false
		}
		f.setBroken(err)
		t.Reset(wait)
	}
}

func (f *Follower) setBroken(err error) {
	f.mu.Lock()
	f.broken = err
	f.mu.Unlock()
}

// Err is nil while the follower follows the engine, and says why not
// while it starts following it again.
func (f *Follower) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.broken != nil {
		return fmt.Errorf("the engine's watch failed and is being restarted: %w", f.broken)
	}
	return nil
}

// follow applies one change the Watch delivered.
func (c *Core) follow(ch store.Change) {
	u, ok := c.userOfKey(ch.Key)
	if !ok {
		return
	}
	if rev, ok := c.cachedRev(u); ok && rev >= ch.Revision {
		return // this node's own write, already cached: not decoded again
	}
	x, err := c.decodeChange(u, ch.Revision, ch.Value, ch.Deleted, true)
	x.next, x.stored, x.before = !ch.Skipped, ch.Stored, c.wantsBefore(u)
	if ch.Skipped {
		x.skippedUpTo = ch.SkippedUpTo
	}
	if err != nil {
		c.log.Error("cache: a changed user's facts cannot be read; reads of the user answer what was cached before", "user", u.UserID, "err", err)
		return
	}
	c.offer(x)
}
