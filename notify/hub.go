// Package notify tells watchers about presence changes: Graph webhook
// subscriptions and live streams. Every visible change of a watched user —
// caused by a write or by time alone (fade, expiry) — is appended to a
// durable change log at the instant it happens; webhook deliveries and
// streams read that log, so a slow receiver never slows a write or another
// receiver, and nothing queued is lost on restart.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/internal/due"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// Change is one visible change of a user's presence, as kept in the log.
type Change struct {
	TenantID string         `json:"tenantId"`
	UserID   string         `json:"userId"`
	Seq      presence.Stamp `json:"seq"`
	// Prev is the user's sequenceNumber immediately before this change;
	// nil when the node that logged it did not know it (a catch-up of a
	// write it did not see, a record from before records had it). The
	// log's records of a user are complete exactly where each one's Prev
	// is the Seq of the one before (Hub.Resume).
	Prev *presence.Stamp `json:"prev,omitempty"`
	At   time.Time       `json:"at"`
	View presence.View   `json:"view"`
}

// Snapshot is the change as core's snapshot (for rendering).
func (c Change) Snapshot() core.Snapshot {
	return core.Snapshot{User: core.UserRef{TenantID: c.TenantID, UserID: c.UserID}, At: c.At, View: c.View, Seq: c.Seq}
}

// Subject is the log subject of a user's changes.
func Subject(u core.UserRef) string { return "chg." + u.TenantID + "." + u.UserID }

// HubOptions configure a Hub.
type HubOptions struct {
	Core   *core.Core
	Log    store.Log
	Fanout *Fanout
	Clock  clock.Clock
	Logger *slog.Logger
	// Linger is how long a user stays watched after the last watcher left,
	// so that a stream that reconnects with Last-Event-ID misses nothing:
	// set it to the log's retention, as long as a resume is promised
	// (default 5 hours).
	Linger time.Duration
	// Fresh announces changes caused by time from the user's record as
	// the engine holds it (core.LockedFresh) rather than this node's
	// cache: in a cluster, where another node may have written the user a
	// moment ago.
	Fresh bool
}

// Hub decides which users are watched, appends their changes to the log,
// and wakes at the instants their presence changes by time alone. One
// goroutine and one heap serve every watched user: no timer per user or
// session.
type Hub struct {
	core   *core.Core
	log    store.Log
	fan    *Fanout
	clock  clock.Clock
	logger *slog.Logger
	linger time.Duration
	lock   func(context.Context, core.UserRef, func(core.Snapshot) error) error

	mu      sync.Mutex
	watched map[core.UserRef]*watch
	// kept: users whose changes written through this node are logged even
	// while nobody watches them here (Keep).
	kept  map[core.UserRef]int
	due   due.Heap
	retry map[core.UserRef]struct{} // appends that failed: tried again at the next wake
	// remote: changes learned without what they replaced, checked once
	// a node that knows has had remoteDelay to log them
	// (by the wall clock: the server's may be a dev clock that stands still).
	remote map[core.UserRef]time.Time
	wake   chan struct{}
	// tracked is len(watched) + len(kept), stored under mu whenever
	// either changes: while it is 0 — nobody watches or keeps anyone, as
	// on most servers most of the time — a write's onWrite (and the
	// follower's NeedsBefore) answers without a clock read, mu or a map
	// lookup (two each before). A write that reads 0 is ordered before the
	// Watch or Keep whose store it did not see, as one that found the
	// maps empty under mu was: Watch brings the log up to date after.
	tracked atomic.Int64
}

// count stores tracked (mu held, after watched or kept changed).
func (h *Hub) count() { h.tracked.Store(int64(len(h.watched) + len(h.kept))) }

type watch struct {
	count   int
	until   time.Time // with count 0: watched until then
	last    presence.Stamp
	lastPos uint64    // the log position of last (0: the user has no record)
	known   bool      // last is known (read from the log or appended)
	dueAt   time.Time // the instant queued in the heap, zero if none
}

// over reports whether w is a watch whose linger ended at or before now.
func (w *watch) over(now time.Time) bool { return w.count == 0 && !now.Before(w.until) }

// NewHub builds a hub; Run starts its clock loop.
func NewHub(o HubOptions) *Hub {
	h := &Hub{core: o.Core, log: o.Log, fan: o.Fanout, clock: o.Clock, logger: o.Logger, linger: o.Linger,
		watched: make(map[core.UserRef]*watch), kept: make(map[core.UserRef]int), retry: make(map[core.UserRef]struct{}),
		remote: make(map[core.UserRef]time.Time), wake: make(chan struct{}, 1)}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	if h.linger <= 0 {
		h.linger = 5 * time.Hour
	}
	h.lock = o.Core.Locked
	if o.Fresh {
		h.lock = o.Core.LockedFresh
	}
	o.Core.OnWrite(h.onWrite)
	// Another node's change is logged from here only for a watched user
	// (onWrite), and only then with what it replaced.
	o.Core.NeedsBefore(func(u core.UserRef) bool { return h.current(u) != nil })
	if j, ok := o.Clock.(clock.Jumper); ok {
		j.OnJump(h.nudge)
	}
	return h
}

func (h *Hub) nudge() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Watch marks users as watched until release is called (and for the
// linger time after). It brings the log up to date for each user first, so
// that a watcher reading the log from now on misses nothing.
func (h *Hub) Watch(ctx context.Context, users []core.UserRef) (release func(), err error) {
	now := h.clock.Now()
	h.mu.Lock()
	for _, u := range users {
		w := h.watched[u]
		if w == nil || w.over(now) {
			// Not watched, or no longer: logging starts over (stale heap
			// entries of an old watch are skipped by Run).
			w = &watch{}
			h.watched[u] = w
		}
		w.count++
	}
	h.count()
	h.mu.Unlock()
	released := false
	release = func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if released {
			return
		}
		released = true
		until := h.clock.Now().Add(h.linger)
		for _, u := range users {
			if w := h.watched[u]; w != nil {
				w.count--
				if w.count <= 0 {
					w.count, w.until = 0, until
					h.queue(u, w, until)
				}
			}
		}
	}
	for _, u := range users {
		if err := h.announce(ctx, u); err != nil {
			release()
			return nil, err
		}
	}
	return release, nil
}

// Keep marks users whose changes written through this node are logged
// even while nobody watches them here, until release is called. In a
// cluster every node keeps the users of every subscription: the node that
// delivers a subscription watches its users (and logs every change,
// whoever wrote it, and what time does), but while a shard changes hands
// nobody does, and a write made meanwhile must still be in the log that
// the next holder reads from the saved position. The writer knows exactly
// what the write replaced, so its record chains; time-caused changes are
// left to the watching nodes.
func (h *Hub) Keep(users []core.UserRef) (release func()) {
	h.mu.Lock()
	for _, u := range users {
		h.kept[u]++
	}
	h.count()
	h.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			for _, u := range users {
				if h.kept[u]--; h.kept[u] <= 0 {
					delete(h.kept, u)
				}
			}
			h.count()
		})
	}
}

// onWrite runs under the user's write lock for every change core reports:
// a write of this node once the engine acknowledged it, or another node's
// learned from the engine — one that changed the visible presence, or one
// that did not but may bring the next time-caused change earlier (a
// calendar window holding a new meeting).
//
// Nearly every write is of a user nobody watches, and that case returns
// here without taking s's address: the paths that do (appendIfNew) are in
// logWrite, so s stays on the stack where before every write moved the
// ~500-byte Snapshot to the heap (BenchmarkHTTPOne's allocation profile).
func (h *Hub) onWrite(s core.Snapshot) {
	w := h.current(s.User)
	if w == nil && (!s.Local || !s.HasBefore || !h.isKept(s.User)) {
		return
	}
	h.logWrite(s, w != nil)
}

// logWrite is onWrite's work for a user that is watched, or kept (a
// subscription being set up) and written by this node.
func (h *Hub) logWrite(s core.Snapshot, watched bool) {
	if !watched {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.appendIfNew(ctx, s, &s.Before, true); err != nil {
			// A watching node, or the next holder's announce, logs it.
			h.logger.Warn("a change of a subscribed user not logged by its writer", "user", s.User.UserID, "err", err)
		}
		return
	}
	if !s.HasBefore {
		// Learned from the engine without what it replaced (core may not
		// have held the revision before it): a node that knows — its
		// writer, or one whose Watch delivered it in order — logs it with
		// its prev within milliseconds if it watches the user; this node
		// checks a little later and catches up what is still missing.
		h.mu.Lock()
		if _, ok := h.remote[s.User]; !ok {
			h.remote[s.User] = clock.Real{}.Now().Add(remoteDelay)
		}
		h.mu.Unlock()
		h.schedule(s)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.appendIfNew(ctx, s, &s.Before, false); err != nil {
		h.logger.Warn("change not yet in the log; will retry", "user", s.User.UserID, "err", err)
		h.mu.Lock()
		h.retry[s.User] = struct{}{}
		h.mu.Unlock()
		h.nudge()
		return
	}
	h.schedule(s)
}

// announce brings the log up to date with the user's presence now, under
// the user's write lock, and queues the next time-caused change.
func (h *Hub) announce(ctx context.Context, u core.UserRef) error {
	return h.lock(ctx, u, func(s core.Snapshot) error {
		if err := h.appendIfNew(ctx, s, prevOf(s), false); err != nil {
			return err
		}
		h.schedule(s)
		return nil
	})
}

// prevOf is the sequenceNumber just before s's presence began, where s
// alone says it: a change caused by time at instant t followed what the
// same facts showed just before t. A presence set by the last write
// followed whatever that write replaced, which the facts no longer hold:
// unknown (nil).
func prevOf(s core.Snapshot) *presence.Stamp {
	if s.Seq == s.Facts.Seq {
		if s.Seq == (presence.Stamp{}) {
			return &presence.Stamp{} // never changed
		}
		return nil
	}
	p := presence.Sequence(s.Facts, time.Unix(0, s.Seq.At-1).UTC())
	return &p
}

// remoteDelay is how long a node waits before it logs a change it learned
// without knowing what the change replaced: a node that knows logs it
// within milliseconds, if one watches the user and is alive.
const remoteDelay = time.Second

// appendAttempts bounds how often appendIfNew tries again after another
// node appended to the user's subject first.
const appendAttempts = 8

// appendIfNew appends s (whose presence followed prev) unless the log
// already has a change as new. It appends only right after the user's
// last record (Log.AppendAfter): when several nodes log the same change,
// one appends it and the others find it logged. When s followed a change
// (s.Before) newer than the user's last record, that change is appended
// first (appendMissed). The user must be watched here, or kept (then the
// user's last record is read first). Must run under the user's write lock
// (core.Do or core.Locked).
func (h *Hub) appendIfNew(ctx context.Context, s core.Snapshot, prev *presence.Stamp, kept bool) error {
	var (
		known   bool
		last    presence.Stamp
		lastPos uint64
	)
	if w := h.current(s.User); w != nil {
		h.mu.Lock()
		known, last, lastPos = w.known, w.last, w.lastPos
		h.mu.Unlock()
	} else if !kept {
		return nil
	}
	subject := Subject(s.User)
	var data []byte
	for attempt := 1; ; attempt++ {
		if !known {
			var err error
			if last, lastPos, err = h.lastOf(ctx, subject); err != nil {
				return err
			}
			known = true
		}
		if lastPos != 0 && !last.Less(s.Seq) || lastPos == 0 && s.Seq == (presence.Stamp{}) {
			// Logged already (a sequenceNumber changes with every visible
			// change), or never written and never logged.
			h.setLast(s.User, last, lastPos)
			return nil
		}
		if lastPos != 0 && prev != nil && last.Less(*prev) && s.HasBefore && *prev == s.Before {
			// The change this one followed is not in the log: its writer
			// could not log it (the log had no leader) while nobody
			// watched the user — a subscription changing hands. Logged
			// first, from the facts it made, so that no subscriber skips
			// it; without a prev, since what it followed is unknown here.
			pos, err := h.appendMissed(ctx, s, subject, lastPos)
			if errors.Is(err, store.ErrConflict) && attempt < appendAttempts {
				known = false
				continue
			}
			if err != nil {
				return err
			}
			last, lastPos = s.Before, pos
		}
		if data == nil {
			var err error
			c := Change{TenantID: s.User.TenantID, UserID: s.User.UserID, Seq: s.Seq, Prev: prev, At: s.At, View: s.View}
			if data, err = json.Marshal(c); err != nil {
				return err
			}
		}
		pos, err := h.log.AppendAfter(ctx, subject, lastPos, data)
		if errors.Is(err, store.ErrConflict) && attempt < appendAttempts {
			known = false // another node appended first: see what
			continue
		}
		if err != nil {
			return err
		}
		h.setLast(s.User, s.Seq, pos)
		return nil
	}
}

// appendMissed appends, right after the user's record at lastPos, the
// change that s followed (s.Before, what s.BeforeFacts showed at
// s.BeforeAt), and returns its position.
func (h *Hub) appendMissed(ctx context.Context, s core.Snapshot, subject string, lastPos uint64) (uint64, error) {
	c := Change{TenantID: s.User.TenantID, UserID: s.User.UserID, Seq: s.Before, At: s.BeforeAt,
		View: presence.Aggregate(s.BeforeFacts, s.BeforeAt)}
	data, err := json.Marshal(c)
	if err != nil {
		return 0, err
	}
	return h.log.AppendAfter(ctx, subject, lastPos, data)
}

// lastOf reads the user's newest record: its sequenceNumber and position
// (0 if the user has none).
func (h *Hub) lastOf(ctx context.Context, subject string) (presence.Stamp, uint64, error) {
	r, err := h.log.Last(ctx, subject)
	if errors.Is(err, store.ErrNotFound) {
		return presence.Stamp{}, 0, nil
	}
	if err != nil {
		return presence.Stamp{}, 0, err
	}
	var c Change
	if err := json.Unmarshal(r.Data, &c); err != nil {
		return presence.Stamp{}, 0, fmt.Errorf("notify: decode change %d: %w", r.Seq, err)
	}
	return c.Seq, r.Seq, nil
}

// setLast records that the log's newest change of u is s, at position pos.
func (h *Hub) setLast(u core.UserRef, s presence.Stamp, pos uint64) {
	h.mu.Lock()
	if w := h.watched[u]; w != nil {
		w.last, w.lastPos, w.known = s, pos, true
	}
	delete(h.retry, u)
	h.mu.Unlock()
}

// isKept reports whether u's changes written here are logged (Keep).
func (h *Hub) isKept(u core.UserRef) bool {
	if h.tracked.Load() == 0 {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.kept[u] > 0
}

// current returns u's watch if u is watched now (a linger that ended
// counts as unwatched even before Run removes it, so that what is logged
// does not depend on when Run wakes).
func (h *Hub) current(u core.UserRef) *watch {
	if h.tracked.Load() == 0 {
		return nil
	}
	now := h.clock.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if w := h.watched[u]; w != nil && !w.over(now) {
		return w
	}
	return nil
}

// schedule queues the next instant at which time alone changes what s's
// user shows.
func (h *Hub) schedule(s core.Snapshot) {
	next, ok := presence.NextChange(s.Facts, s.At)
	if !ok {
		return
	}
	h.mu.Lock()
	if w := h.watched[s.User]; w != nil {
		h.queue(s.User, w, next)
	}
	h.mu.Unlock()
	h.nudge()
}

// queue puts (u, at) on the heap unless an earlier instant is queued.
// Callers hold h.mu.
func (h *Hub) queue(u core.UserRef, w *watch, at time.Time) {
	if !w.dueAt.IsZero() && !at.Before(w.dueAt) && h.clock.Now().Before(w.dueAt) {
		return
	}
	w.dueAt = at
	h.due.Push(at, u)
}

// Run wakes at every queued instant until ctx ends.
func (h *Hub) Run(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		now := h.clock.Now()
		var ready []core.UserRef
		h.mu.Lock()
		for h.due.Len() > 0 && !h.due.Next().At.After(now) {
			it := h.due.Pop()
			w := h.watched[it.User]
			if w == nil || !w.dueAt.Equal(it.At) {
				continue // stale entry
			}
			w.dueAt = time.Time{}
			if w.over(now) {
				delete(h.watched, it.User) // nobody watches any more
				h.count()
				continue
			}
			ready = append(ready, it.User)
		}
		due := len(ready)
		for u := range h.retry {
			if h.watched[u] != nil {
				ready = append(ready, u)
			}
		}
		clear(h.retry)
		wall := clock.Real{}.Now()
		for u, at := range h.remote {
			if !wall.Before(at) {
				delete(h.remote, u)
				if h.watched[u] != nil {
					ready = append(ready, u)
				}
			}
		}
		wait := time.Second
		if h.due.Len() > 0 {
			wait = min(wait, h.due.Next().At.Sub(now))
		}
		h.mu.Unlock()
		for _, u := range ready {
			if err := h.announce(ctx, u); err != nil && ctx.Err() == nil {
				h.logger.Warn("announcing a change", "user", u.UserID, "err", err)
				h.mu.Lock()
				h.retry[u] = struct{}{}
				h.mu.Unlock()
			}
		}
		if due > 0 {
			continue // more instants may have come due meanwhile; retries wait for the next wake
		}
		// The wait is capped at a second: the server clock and the wall
		// clock agree between jumps, and a jump nudges us anyway.
		t.Reset(max(wait, time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.wake:
		}
	}
}

// Logged is the newest log position among the users' last records as
// this node knows them (0: none). Right after Watch, and until it is
// released, each user's presence then is logged at or before it.
func (h *Hub) Logged(users []core.UserRef) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var pos uint64
	for _, u := range users {
		if w := h.watched[u]; w != nil {
			pos = max(pos, w.lastPos)
		}
	}
	return pos
}

// LastSeq is the position of the newest change in the log.
func (h *Hub) LastSeq(ctx context.Context) (uint64, error) { return h.log.LastSeq(ctx) }

// Open returns a feed of the changes of users logged at or after position
// from (0: from now on): what is already logged is read from the log, what
// comes after from the fanout. Close it when done.
func (h *Hub) Open(users []core.UserRef, from uint64) *Feed {
	return h.fan.Open(userSubjects(users), from)
}

func userSubjects(users []core.UserRef) []string {
	subs := make([]string, len(users))
	for i, u := range users {
		subs[i] = Subject(u)
	}
	return subs
}
