package natsstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/store"
)

// leaseMarkerTTL is how long the marker a released or lapsed lease leaves
// is kept: watchers see it when it is written; afterwards the name holds
// nothing, so markers do not pile up as lease names come and go.
const leaseMarkerTTL = time.Minute

// LeaseOptions configure Engine.Leases.
type LeaseOptions struct {
	// Holder names this holder in the leases it takes (the node's name).
	Holder string
	// TTL is how long a lease lasts without a renewal: whole seconds, at
	// least 1 s (JetStream's message TTLs count seconds). A holder that
	// dies loses its leases a TTL after its last renewal, plus up to a
	// second.
	TTL time.Duration
	// Clock measures how long a holder may act (default the wall clock).
	// It must run at the wall clock's pace: the engine times the TTL.
	Clock clock.Clock
}

// Leases opens the lease bucket name (created with the layout's replicas
// and per-key TTLs: nats-server 2.11+ message TTLs, with a delete marker
// when one lapses) for one holder.
//
// Acquire writes the key only if it is absent, deleted or lapsed (an
// expected last subject sequence, 0 or the marker's) with the TTL; Renew
// writes it again with a fresh TTL only if its revision is still the
// holder's last write; Release deletes it on the same condition. Two
// holders that try at once: the engine takes one write, refuses the other.
func (e *Engine) Leases(ctx context.Context, name string, o LeaseOptions) (store.Leases, error) {
	if o.Holder == "" {
		return nil, errors.New("natsstore: leases: a holder name is required")
	}
	if o.TTL < time.Second || o.TTL%time.Second != 0 {
		return nil, fmt.Errorf("natsstore: leases: TTL %v: whole seconds, at least 1 s", o.TTL)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	l, err := e.Layout(ctx)
	if err != nil {
		return nil, err
	}
	b, err := e.bucket(ctx, jetstream.KeyValueConfig{Bucket: name, History: 1, Storage: e.storage, Replicas: l.Replicas, LimitMarkerTTL: leaseMarkerTTL})
	if err != nil {
		return nil, err
	}
	return &leases{b: b, o: o}, nil
}

type leases struct {
	b *kv
	o LeaseOptions
}

var _ store.Leases = (*leases)(nil)

func (ls *leases) TTL() time.Duration { return ls.o.TTL }

// write runs w under the full-disk guard of a single node (a cluster's
// bucket has none).
func (ls *leases) write(ctx context.Context, w func(context.Context) error) error {
	if ls.b.g != nil {
		return ls.b.g.write(ctx, w)
	}
	return w(ctx)
}

func (ls *leases) put(ctx context.Context, name string, expect uint64) (store.Lease, error) {
	sent := ls.o.Clock.Now()
	var rev uint64
	err := ls.write(ctx, func(ctx context.Context) (err error) {
		rev, err = ls.b.clusterPut(ctx, name, []byte(ls.o.Holder), expect, ls.o.TTL)
		return err
	})
	if err != nil {
		return store.Lease{}, err
	}
	return store.Lease{Name: name, Holder: ls.o.Holder, Revision: rev, Expires: sent.Add(ls.o.TTL)}, nil
}

func (ls *leases) Acquire(ctx context.Context, name string) (store.Lease, error) {
	l, err := ls.put(ctx, name, 0)
	if err == nil {
		return l, nil
	}
	if isConflict(err) {
		holder := "another holder"
		if cur, gone, gerr := ls.b.leaderGet(ctx, name); gerr == nil && !gone {
			holder = strconv.Quote(string(cur.Value))
		}
		return store.Lease{}, fmt.Errorf("natsstore: lease %q is held by %s: %w", name, holder, store.ErrConflict)
	}
	return store.Lease{}, fmt.Errorf("natsstore: lease %q: %w", name, unavailable(err))
}

func (ls *leases) Renew(ctx context.Context, l store.Lease) (store.Lease, error) {
	nl, err := ls.put(ctx, l.Name, l.Revision)
	if isConflict(err) {
		return store.Lease{}, fmt.Errorf("natsstore: lease %q: %w", l.Name, store.ErrLeaseLost)
	}
	if err != nil {
		return store.Lease{}, fmt.Errorf("natsstore: lease %q: %w", l.Name, unavailable(err))
	}
	return nl, nil
}

// Release leaves a delete marker that lapses after leaseMarkerTTL.
func (ls *leases) Release(ctx context.Context, l store.Lease) error {
	if !validKey(l.Name) {
		return jetstream.ErrInvalidKey
	}
	m := &nats.Msg{Subject: ls.b.prefix + l.Name, Header: nats.Header{
		hdrKVOperation:                      {"DEL"},
		jetstream.ExpectedLastSubjSeqHeader: {strconv.FormatUint(l.Revision, 10)},
		jetstream.MsgTTLHeader:              {leaseMarkerTTL.String()},
	}}
	var seq uint64
	err := ls.write(ctx, func(ctx context.Context) error {
		return ls.b.e.do(ctx, exchange{msg: m, stream: ls.b.stream, answer: pubAnswer(ls.b.stream, &seq),
			settled: func(ctx context.Context) (bool, error) {
				_, gone, err := ls.b.leaderGet(ctx, l.Name)
				return err == nil && gone, err
			}})
	})
	if err != nil && !isConflict(err) {
		return fmt.Errorf("natsstore: release lease %q: %w", l.Name, unavailable(err))
	}
	return nil
}

func (ls *leases) Holder(ctx context.Context, name string) (store.Lease, error) {
	cur, gone, err := ls.b.leaderGet(ctx, name)
	switch {
	case err != nil:
		return store.Lease{}, fmt.Errorf("natsstore: lease %q: %w", name, unavailable(err))
	case gone:
		return store.Lease{}, fmt.Errorf("natsstore: lease %q: %w", name, store.ErrNotFound)
	}
	return store.Lease{Name: name, Holder: string(cur.Value), Revision: cur.Revision}, nil
}

func (ls *leases) Watch(ctx context.Context, prefix string) (store.Watcher, error) {
	return ls.b.Watch(ctx, prefix)
}
