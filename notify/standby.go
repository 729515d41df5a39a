package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/store"
)

// The node that leads the leases stands by. Every holder's renewals go
// through the engine server that leads the lease bucket; when the node
// that delivers a shard also leads the leases (which was the usual case:
// its own Acquire is the fastest) and dies, the shard is taken over only
// after JetStream has elected a new leader of the leases (4–9 s in
// nats-server 2.15, not configurable) and the lease has lapsed. So the
// node whose server leads the leases delivers nothing while another node
// holds a shard: it hands its shards over (saved, released: the others
// take them at once) and leaves free ones to the others. A deliverer's
// death then costs the lease's TTL (plus up to a second) and no election.
// The node that leads JetStream's meta group draws the leadership of the
// leases and of the streams the deliverers use to itself
// (natsstore.LeaseOptions.Beside): a deliverer that takes a shard over
// makes consumers (through the meta leader) and reads the change log and
// the saved positions, and none of that then waits for an election when
// a deliverer dies. The coordinator's own death still stops every
// deliverer until the engine has elected new leaders (4–9 s): as before,
// but only when that one node dies.

// followHolders keeps m.holders, the holder of each shard's lease, from a
// watch of the leases, until ctx ends; it starts the watch again when the
// engine ends it.
func (m *Manager) followHolders(ctx context.Context) {
	for {
		w, err := m.o.Leases.Watch(ctx, leasePrefix)
		if err == nil {
			for {
				c, err := w.Next(ctx)
				if err != nil {
					break
				}
				m.mu.Lock()
				if c.Deleted {
					delete(m.holders, c.Key)
				} else {
					m.holders[c.Key] = string(c.Value)
				}
				m.mu.Unlock()
			}
			w.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		// A lapse missed meanwhile is a holder that still seems to hold:
		// this node stands by until the watch is back (bounded: a second).
		m.mu.Lock()
		clear(m.holders)
		m.mu.Unlock()
		if !clock.Sleep(ctx, time.Second) {
			return
		}
	}
}

// memberLease is the lease each node holds for as long as its manager
// runs: it tells the node that leads the leases that another node can take
// shards, even one that holds none yet (one engine write a second per
// node). Its name starts like the shards' leases, so one watch sees both.
func memberLease(holder string) string { return leasePrefix + "node-" + holder }

// holdMember holds this node's member lease until ctx ends.
func (m *Manager) holdMember(ctx context.Context) {
	for ctx.Err() == nil {
		_ = store.Hold(ctx, m.o.Leases, memberLease(m.o.Holder), m.o.LeaseClock, func(hctx context.Context) { <-hctx.Done() })
	}
}

// standingBy reports whether this node should deliver nothing now: it
// leads the leases and another node holds a lease — a shard's or its
// member lease (it is alive: it renews every third of the TTL).
func (m *Manager) standingBy(ctx context.Context) bool {
	m.mu.Lock()
	others := false
	for _, h := range m.holders {
		if h != m.o.Holder {
			others = true
			break
		}
	}
	m.mu.Unlock()
	return others && m.o.Leases.Leads(ctx)
}

// errStandingBy is what a standing-by node's Acquire answers: as if
// another holder had the lease, so that store.Hold tries again when one is
// freed, and at least every TTL.
var errStandingBy = fmt.Errorf("notify: this node leads the leases and stands by: %w", store.ErrConflict)

// standbyLeases are the leases as a shard's Hold sees them: refused while
// the node stands by.
type standbyLeases struct {
	store.Leases
	m *Manager
}

func (s standbyLeases) Acquire(ctx context.Context, name string) (store.Lease, error) {
	if s.m.standingBy(ctx) {
		return store.Lease{}, errStandingBy
	}
	return s.Leases.Acquire(ctx, name)
}

// holdUntilStandby waits until ctx ends (the lease may be lost), or until
// this node stands by (checked every second): then it returns true and
// the shard is handed over.
func (m *Manager) holdUntilStandby(ctx context.Context) bool {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			if m.standingBy(ctx) {
				return true
			}
		}
	}
}

// leasePrefix starts every shard's lease name (leaseName).
const leasePrefix = "notify-"
