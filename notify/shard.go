package notify

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/notify/richdata"
	"github.com/presenced/presenced/notify/subscription"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// DefaultShards is how many leases a cluster's subscriptions are spread
// over. A lease is renewed every third of its TTL, and each renewal is an
// engine write: 16 leases cost ~16 writes a second for the whole cluster
// whatever the number of subscriptions (a lease per subscription would
// cost a write a second per subscription), and 16 shards still spread
// over three or five nodes.
const DefaultShards = 16

// shardOf is the shard a subscription belongs to: a hash of its id.
func (m *Manager) shardOf(id string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return int(h.Sum32() % uint32(m.o.Shards))
}

// leaseName is the lease of shard k.
func leaseName(k int) string { return fmt.Sprintf("%s%d", leasePrefix, k) }

// Start loads the stored subscriptions, follows the bucket (so that this
// node knows every subscription, whoever made or changed it), and starts
// delivering: on a single node every subscription at once, before it
// returns; in a cluster those of the shards whose lease this node takes.
// Work continues until ctx ends. The fanout must be started afterwards,
// from ResumeFrom.
func (m *Manager) Start(ctx context.Context) error {
	m.ctx = ctx
	// The watch first, then the walk: a subscription changed meanwhile is
	// seen by both, and the higher revision wins (apply).
	w, err := m.o.KV.Watch(ctx, subKeyPrefix)
	if err != nil {
		return err
	}
	err = m.o.KV.Walk(ctx, subKeyPrefix, func(e store.Entry) error {
		m.apply(store.Change{Key: e.Key, Value: e.Value, Revision: e.Revision})
		return nil
	})
	if err != nil {
		w.Stop()
		return err
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.follow(ctx, w)
	}()
	if m.o.Leases == nil {
		m.mu.Lock()
		for k := range m.o.Shards {
			m.held[k] = true
		}
		m.mu.Unlock()
		if err := m.reconcile(ctx); err != nil {
			return err
		}
	} else {
		m.wg.Add(2)
		go func() {
			defer m.wg.Done()
			m.followHolders(ctx)
		}()
		go func() {
			defer m.wg.Done()
			m.holdMember(ctx)
		}()
		for k := range m.o.Shards {
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				m.holdShard(ctx, k)
			}()
		}
	}
	m.wg.Add(2)
	go m.lifecycleLoop(ctx)
	go m.flushLoop(ctx)
	return nil
}

// follow applies the bucket's changes until ctx ends, starting a new
// watch (and walking the bucket again) if the engine ends one.
func (m *Manager) follow(ctx context.Context, w store.Watcher) {
	for {
		c, err := w.Next(ctx)
		if err == nil {
			m.apply(c)
			continue
		}
		w.Stop()
		if ctx.Err() != nil {
			return
		}
		m.log.Warn("following the subscriptions; starting again", "err", err)
		for {
			if !clock.Sleep(ctx, time.Second) {
				return
			}
			if w, err = m.o.KV.Watch(ctx, subKeyPrefix); err == nil {
				err = m.o.KV.Walk(ctx, subKeyPrefix, func(e store.Entry) error {
					m.apply(store.Change{Key: e.Key, Value: e.Value, Revision: e.Revision})
					return nil
				})
				if err == nil {
					break
				}
				w.Stop()
			}
		}
	}
}

// apply takes in a change of a subscription: a new one is delivered if
// its shard is held here (at the next reconcile), a renewal moves its
// expiry, a deletion stops its delivery here. Older revisions than the one
// known are ignored.
func (m *Manager) apply(c store.Change) {
	id, ok := strings.CutPrefix(c.Key, subKeyPrefix)
	if !ok {
		return
	}
	if c.Deleted {
		m.forget(id)
		return
	}
	var s subscription.Subscription
	if err := json.Unmarshal(c.Value, &s); err != nil {
		m.log.Error("undecodable subscription in the bucket; skipped", "key", c.Key, "err", err)
		return
	}
	m.mu.Lock()
	if _, gone := m.gone[id]; gone {
		m.mu.Unlock()
		return // deleted here before this copy came
	}
	rs := m.subs[id]
	if rs == nil {
		m.subs[id] = &running{sub: s, rev: c.Revision}
		m.keep(id, s)
		m.mu.Unlock()
		m.nudge()
		return
	}
	m.mu.Unlock()
	rs.mu.Lock()
	if c.Revision > rs.rev {
		if !s.ExpirationDateTime.Equal(rs.sub.ExpirationDateTime) {
			rs.reauthSent = false
		}
		rs.sub, rs.rev = s, c.Revision
	}
	rs.mu.Unlock()
	m.nudge()
}

// goneFor is how long a deleted subscription's id is remembered: longer
// than a copy of it can take to come through the bucket's watch.
const goneFor = time.Minute

// forget drops subscription id from this node, and stops delivering it;
// it reports false when the node did not know it (another caller — an
// expiry, a delete, a user leaving — forgot it first).
func (m *Manager) forget(id string) bool {
	now := clock.Real{}.Now()
	m.mu.Lock()
	rs := m.subs[id]
	delete(m.subs, id)
	if release, ok := m.kept[id]; ok {
		release()
		delete(m.kept, id)
	}
	m.gone[id] = now
	for g, at := range m.gone {
		if now.Sub(at) > goneFor {
			delete(m.gone, g)
		}
	}
	m.mu.Unlock()
	if rs != nil {
		m.deactivate(rs, false, nil)
	}
	return rs != nil
}

// keep has this node log its writes of s's users (Hub.Keep) for as long as
// it knows s, in a cluster, so that a write made while s's shard changes
// hands is logged for the next holder (m.mu held).
func (m *Manager) keep(id string, s subscription.Subscription) {
	if _, ok := m.kept[id]; ok || m.o.Leases == nil {
		return
	}
	m.kept[id] = m.o.Hub.Keep(users(s))
}

// adopt takes in a subscription created through this node: delivered here
// if its shard is held here; otherwise its users stay watched for a while
// (Create's watch, then the hub's linger), so that what they do until the
// holder takes it over is logged, and the holder reads it from the saved
// position.
func (m *Manager) adopt(ctx context.Context, rs *running) error {
	id := rs.sub.ID
	m.mu.Lock()
	cur := m.subs[id]
	if cur != nil && cur.active {
		// The watch was first and its copy is delivered already (from the
		// position saved before the subscription was stored).
		m.mu.Unlock()
		rs.feed.Close()
		return nil
	}
	if cur != nil && cur.rev >= rs.rev {
		rs.sub, rs.rev = cur.get(), cur.rev // the watch was first (a renewal even)
	}
	m.subs[id] = rs
	m.keep(id, rs.sub)
	held := m.held[m.shardOf(id)]
	m.mu.Unlock()
	if held {
		return m.activate(ctx, rs)
	}
	rs.life.Lock()
	if !rs.active && rs.feed != nil { // a shard taken meanwhile may have started it
		rs.feed.Close()
		rs.feed = nil
	}
	rs.life.Unlock()
	return nil
}

// holdShard delivers shard k's subscriptions whenever this node holds its
// lease, until ctx ends. A node first waits a part of the lease's TTL
// drawn from its name and the shard, so that nodes started together take
// different shards (rendezvous hashing), not all of them the first.
func (m *Manager) holdShard(ctx context.Context, k int) {
	h := fnv.New64a()
	_, _ = h.Write([]byte(m.o.Holder + "/" + leaseName(k)))
	wait := time.Duration(float64(m.o.Leases.TTL()) * float64(h.Sum64()>>11) / float64(1<<53))
	if !clock.Sleep(ctx, wait) {
		return
	}
	// Hold returns nil when the work returns by itself: the shard was
	// handed over because this node stands by (standby.go); it is held
	// again once the node no longer does.
	for ctx.Err() == nil {
		_ = store.Hold(ctx, standbyLeases{m.o.Leases, m}, leaseName(k), m.o.LeaseClock, func(hctx context.Context) {
			m.deliverShard(hctx, k)
		})
	}
}

// deliverShard delivers shard k's subscriptions until hctx ends (the
// lease may be lost, or the node stops) or this node stands by.
func (m *Manager) deliverShard(hctx context.Context, k int) {
	m.mu.Lock()
	m.held[k] = true
	m.mu.Unlock()
	m.log.Info("delivering a shard of the subscriptions", "shard", k)
	if err := m.reconcile(hctx); err != nil && hctx.Err() == nil {
		m.log.Warn("starting a shard's subscriptions; retrying", "shard", k, "err", err)
	}
	m.nudge()
	why := "its lease may be lost, or the node stops"
	handed := m.holdUntilStandby(hctx)
	if handed {
		why = "this node leads the leases and another node delivers: handed over"
	}
	// Stopped, with progress saved, before the lease is released: the
	// next holder starts from there.
	m.mu.Lock()
	delete(m.held, k)
	var stop []*running
	for id, rs := range m.subs {
		if rs.active && m.shardOf(id) == k {
			stop = append(stop, rs)
		}
	}
	m.mu.Unlock()
	// Handed over, each worker finishes its delivery in flight first (the
	// lease is still held: its renewals go on), so that the position saved
	// is exactly what the receiver took and the next holder repeats
	// nothing. Otherwise another node may deliver already: cut at once.
	var handing context.Context
	if handed {
		handing = hctx
		// Every worker told first, so that their deliveries in flight
		// finish together, not one after another.
		for _, rs := range stop {
			rs.life.Lock()
			if rs.active && rs.stop != nil {
				rs.stop()
			}
			rs.life.Unlock()
		}
	}
	for _, rs := range stop {
		m.deactivate(rs, true, handing)
	}
	if handed && hctx.Err() != nil {
		why = "this node leads the leases and another node delivers: handed over, but the lease may have been lost meanwhile (deliveries in flight were cut)"
	}
	m.log.Info("stopped delivering a shard of the subscriptions", "shard", k, "why", why)
}

// reconcile starts delivering every subscription of a held shard that is
// not delivered yet.
func (m *Manager) reconcile(ctx context.Context) error {
	m.mu.Lock()
	var start []*running
	for id, rs := range m.subs {
		if !rs.active && m.held[m.shardOf(id)] {
			start = append(start, rs)
		}
	}
	m.mu.Unlock()
	var first error
	for _, rs := range start {
		if err := m.activate(ctx, rs); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// activate starts delivering rs here: its feed from its saved progress on
// (read from the engine: another node may have delivered it until now),
// its users watched, its worker.
func (m *Manager) activate(ctx context.Context, rs *running) error {
	rs.life.Lock()
	defer rs.life.Unlock()
	id := rs.get().ID
	m.mu.Lock()
	if rs.active || m.subs[id] != rs || !m.held[m.shardOf(id)] {
		m.mu.Unlock()
		return nil
	}
	rs.active = true
	m.mu.Unlock()
	err := m.start(ctx, rs)
	if err != nil {
		m.mu.Lock()
		rs.active = false
		m.mu.Unlock()
		if rs.feed != nil {
			rs.feed.Close()
			rs.feed = nil
		}
	}
	return err
}

func (m *Manager) start(ctx context.Context, rs *running) error {
	s := rs.get()
	if rs.cert == nil && s.IncludeResourceData {
		// Checked at creation; a certificate that expired since still
		// encrypts (the receiver's key is what matters).
		var err error
		if rs.cert, err = richdata.ParseCertificate(s.EncryptionCertificate, s.CreatedAt); err != nil {
			m.log.Warn("subscription certificate no longer parses", "subscription", s.ID, "err", err)
		}
	}
	if rs.feed == nil {
		p, err := m.o.KV.Get(ctx, progressKeyPrefix+s.ID)
		switch {
		case err == nil && len(p.Value) == 8:
			v := binary.BigEndian.Uint64(p.Value)
			rs.mu.Lock()
			rs.progress, rs.saved, rs.progressRev = max(rs.progress, v), v, p.Revision
			rs.mu.Unlock()
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return err
		}
		rs.feed = m.o.Fanout.Open(subjects(s), rs.progress+1)
	}
	wctx, cancel := context.WithCancel(m.ctx)
	soft, stop := context.WithCancel(wctx)
	rs.release, rs.cancel, rs.stop, rs.done = m.watchUsers(wctx, s), cancel, stop, make(chan struct{})
	rs.lastByUser = map[string]presence.Stamp{}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(rs.done)
		defer stop()
		m.work(wctx, soft, rs)
	}()
	return nil
}

// watchUsers has the hub watch s's users (their changes logged, whoever
// writes them, and their time-caused changes announced) until ctx ends,
// and returns what releases the watch. The watch is made in the
// background while the worker starts delivering from the log: bringing the
// log up to date reads each user from the engine, and a user whose
// partition has no leader (its node just died, which is when shards change
// hands) waits for JetStream's election, 4–9 s; the other users' logged
// changes need not wait with it. What the watch appends (a change nobody
// logged) comes after the position the worker reads from, in the user's
// order, so it is delivered like any other.
func (m *Manager) watchUsers(ctx context.Context, s subscription.Subscription) (release func()) {
	watched := make(chan func(), 1)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			release, err := m.o.Hub.Watch(ctx, users(s))
			if err == nil {
				watched <- release
				return
			}
			if ctx.Err() == nil {
				m.log.Warn("watching a subscription's users; retrying", "subscription", s.ID, "err", err)
			}
			if !clock.Sleep(ctx, time.Second) {
				watched <- func() {}
				return
			}
		}
	}()
	return func() { (<-watched)() }
}

// deactivate stops delivering rs here, saving its progress afterwards
// when save (it is handed over, not deleted). With a handing context
// (not nil) the worker first finishes the delivery in flight — answered
// or failed, so that the saved position says exactly whether the receiver
// took it — and is cut only if handing ends first (the lease may be
// lost: another node may deliver now); with nil it is cut at once.
func (m *Manager) deactivate(rs *running, save bool, handing context.Context) {
	rs.life.Lock()
	defer rs.life.Unlock()
	m.mu.Lock()
	active := rs.active
	rs.active = false
	m.mu.Unlock()
	if !active || rs.cancel == nil {
		return
	}
	if handing != nil {
		rs.stop()
		select {
		case <-rs.done:
		case <-handing.Done():
		}
	}
	rs.cancel()
	<-rs.done // the worker closed its feed
	rs.feed = nil
	rs.release()
	if save {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(m.ctx), 5*time.Second)
		m.saveProgress(ctx, rs)
		cancel()
	}
}

// ResumeFrom is the log position the fanout must start from so that every
// subscription delivered here now gets what it has not delivered yet (0:
// none). Subscriptions taken over later read what they missed from the
// log (their feed).
func (m *Manager) ResumeFrom() uint64 {
	var from uint64
	for _, rs := range m.all() {
		rs.mu.Lock()
		p := rs.progress + 1
		rs.mu.Unlock()
		if from == 0 || p < from {
			from = p
		}
	}
	return from
}
