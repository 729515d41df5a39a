package natsstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/nats-io/nats-server/v2/server"
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
	// Beside are streams whose leadership Leads draws, with the lease
	// bucket's, to the node that leads JetStream's meta group (the streams
	// the holders' work reads and writes: "KV_subscriptions", "CHANGES"),
	// so that the node that coordinates the leases, and holds none
	// (notify's Manager), leads them too, and a holder's death needs no
	// election of theirs.
	Beside []string
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
	return &leases{b: b, o: o, asked: map[string]time.Time{}}, nil
}

type leases struct {
	b *kv
	o LeaseOptions

	mu    sync.Mutex
	asked map[string]time.Time // a stream of Beside → when it was last asked to move here
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
		return ls.b.e.do(ctx, m, ls.b.stream, exchange{answer: pubAnswer(ls.b.stream, &seq),
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

// askAgain is how long Leads waits before it asks a stream of
// LeaseOptions.Beside to move here again (an election takes seconds; a
// refusal — the replica here not caught up yet — is asked again later).
const askAgain = 5 * time.Second

// Leads reports whether this node's embedded server leads the lease
// bucket: every holder's renewals go through it, so its death stops every
// holder's work until JetStream elects another leader, whatever it held.
// An external NATS (no server in this process) leads nothing here.
//
// The node whose server leads JetStream's meta group (every consumer is
// made through it: a holder that takes a lease over makes consumers, and
// would wait for the meta group's election if its leader had died) draws
// the leadership of the lease bucket and of the streams of
// LeaseOptions.Beside to itself (JetStream's leader step-down with a
// preferred server, asked at most every askAgain per stream), so that one
// node leads everything the holders' work needs and holds nothing.
func (ls *leases) Leads(ctx context.Context) bool {
	e := ls.b.e
	if e.srv == nil || e.opts.Cluster == nil {
		return false
	}
	if e.srv.JetStreamIsLeader() {
		now := ls.o.Clock.Now()
		for _, s := range append([]string{ls.b.stream}, ls.o.Beside...) {
			if e.srv.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, s) {
				continue
			}
			ls.mu.Lock()
			last, ok := ls.asked[s]
			due := !ok || now.Sub(last) >= askAgain
			if due {
				ls.asked[s] = now
			}
			ls.mu.Unlock()
			if due {
				ls.moveHere(ctx, s)
			}
		}
	}
	return e.srv.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, ls.b.stream)
}

// moveHere asks stream's leader to step down in favour of this server.
// Refusals are expected (this replica is behind, an election is under
// way) and tried again later; they are logged at DEBUG.
func (ls *leases) moveHere(ctx context.Context, stream string) {
	e := ls.b.e
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req := `{"placement":{"preferred":` + strconv.Quote(e.srv.Name()) + `}}`
	resp, err := e.nc.RequestWithContext(ctx, "$JS.API.STREAM.LEADER.STEPDOWN."+stream, []byte(req))
	if err == nil {
		var a struct {
			Error   *jetstream.APIError `json:"error"`
			Success bool                `json:"success"`
		}
		if err = jsonv2.Unmarshal(resp.Data, &a); err == nil && a.Error != nil {
			err = a.Error
		}
	}
	if err != nil {
		e.log.Debug("leases: asking a stream's leader to move to the leases' leader", "stream", stream, "err", err)
		return
	}
	e.log.Info("leases: this node leads the engine's meta group; the leadership of a stream the lease holders use moves here", "stream", stream)
}
