package natsstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/store"
)

// How Log.Follow follows the log in a cluster, and why so.
//
// Follow used nats.go's ordered consumer, which makes its consumer again
// when its heartbeats stop (2 s with followHeartbeat), but each attempt
// to make one waits up to 10 s for an answer, and the attempts after a
// failure are 1, 2, 4, 8, 10, 10 … s apart, silently, for ever. After a
// kill -9 the meta leader goes on placing consumers on the dead peer for
// a few seconds (nats-server prefers "caught up" peers for a one-replica
// consumer, and the dead one counts as caught up for 3 heartbeats; it is
// marked offline only when no news of it has come for minutes), and such
// a consumer is never made: nats.go waited 10 s for it, then again. The
// fanout (every webhook and stream of the node) is fed by Follow, so
// delivery stopped that long, without a word in the log (one stall of
// over a minute after a kill, docs/performance.md).
//
// So in a cluster Follow reads the way Read does (logread.go), with a
// consumer of its own whose every step is bounded: the consumer is made
// within the attempt's bound (1 s, then 2 s, then 4 s), each fetch waits
// at most that long (a second more for a server that does not answer),
// a fetch answered "no responders" (the consumer's server is gone) ends
// the attempt at once, and a fetch that brings
// nothing is checked against the stream's leader: when the leader holds a
// record under the subjects at or after the next position, and the next
// fetch brings nothing either, the consumer's peer is dead or far behind
// and a new consumer, placed again, goes on from the next position. Each
// attempt given up is logged at INFO; after readWait of attempts without a
// record, Follow returns ErrUnavailable (its caller starts again).
//
// An idle follow costs one fetch a second and one leader request a second.

// followOwed is how many fetches in a row may bring nothing while the
// leader holds a record for them before the consumer is given up.
const followOwed = 2

// followCluster is Follow in a cluster (see above).
func (l *log) followCluster(ctx context.Context, subjects []string, from uint64, fn func(store.Record) error) error {
	return l.follow(ctx, subjects, from, placeAny, func(m *nats.Msg, md *jetstream.MsgMetadata) error {
		return fn(store.Record{Subject: m.Subject, Data: m.Data, Seq: md.Sequence.Stream, Time: md.Timestamp})
	})
}

// msgFunc gets each message a follow delivers, with its metadata (which
// it may not keep: the follow reuses it).
type msgFunc func(m *nats.Msg, md *jetstream.MsgMetadata) error

// follow follows the stream l names, the way followCluster describes,
// from position from (0: after the last), handing fn the messages under
// subjects. A bucket's watch follows its stream so too (watch.go), each
// consumer placed as place says (home.go).
func (l *log) follow(ctx context.Context, subjects []string, from uint64, place placement, fn msgFunc) error {
	next := from
	if next == 0 {
		last, err := l.LastSeq(ctx)
		if err != nil {
			return fmt.Errorf("natsstore: follow %s: %w", l.name, err)
		}
		next = last + 1
	}
	failing := (clock.Real{}).Now() // since the last record delivered, or the start
	for attempt := 0; ; attempt++ {
		t0 := (clock.Real{}).Now()
		delivered, err := l.followOnce(ctx, subjects, &next, min(readAttempt<<min(attempt, 4), readAttemptMax), place, attempt > 0, fn)
		var cb *callbackError
		if errors.As(err, &cb) {
			return cb.err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, errGoHome) {
			attempt, failing = -1, (clock.Real{}).Now()
			continue
		}
		if l.nc.IsClosed() || errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("natsstore: follow %s: %w", l.name, err)
		}
		if delivered {
			attempt, failing = 0, (clock.Real{}).Now()
		}
		l.e.log.Info("following a stream: its consumer stopped delivering; going on with another", "stream", l.name, "from", next,
			"attempt", attempt+1, "took", (clock.Real{}).Now().Sub(t0).Round(time.Millisecond), "err", err)
		if (clock.Real{}).Now().Sub(failing) > readWait {
			return fmt.Errorf("natsstore: follow %s from %d: %w: nothing delivered in %v of attempts, the last: %w",
				l.name, next, store.ErrUnavailable, readWait, err)
		}
		if !clock.Sleep(ctx, readPause) {
			return ctx.Err()
		}
	}
}

// errStalled is a follow's consumer that brings nothing while the leader
// holds records for it.
var errStalled = errors.New("the consumer delivered nothing while the stream's leader holds records for it")

// followOnce is one attempt of followCluster: a consumer from *next,
// placed as place says (failed: the attempt before delivered nothing),
// fetched until it stalls, fails, or fn fails (a callbackError), or, away
// from home, until it can go home (errGoHome). delivered says whether it
// brought a record.
func (l *log) followOnce(ctx context.Context, subjects []string, next *uint64, bound time.Duration, place placement, failed bool, fn msgFunc) (delivered bool, err error) {
	c, away, err := l.placedConsumer(ctx, subjects, *next, bound, place, failed)
	if err != nil {
		return false, err
	}
	defer l.dropConsumer(c.CachedInfo().Name)
	var consumed uint64 // the consumer's sequence of the last message
	made := (clock.Real{}).Now()
	looked := made // when a follow away from home last looked (goHome)
	owed := 0
	for {
		if away && l.goHome(ctx, &looked) {
			return delivered, errGoHome
		}
		n, err := l.followFetch(ctx, c, subjects, next, &consumed, bound, fn)
		if n > 0 {
			delivered, owed = true, 0
		}
		switch {
		case err != nil && errors.Is(err, nats.ErrNoResponders) && consumed == 0 && (clock.Real{}).Now().Sub(made) < bound:
			// Made, but the news of its subscription has not reached
			// this node's server yet (it is on another peer).
			if !clock.Sleep(ctx, readPause) {
				return delivered, ctx.Err()
			}
			continue
		case err != nil:
			return delivered, err
		case n > 0:
			continue
		}
		// Nothing came within the bound: is something due? (Asked
		// within the bound too: while the log elects a leader the
		// consumer may well deliver, and the follow fetches on.)
		lctx, cancel := context.WithTimeout(ctx, bound)
		due, err := l.leaderHolds(lctx, subjects, *next)
		cancel()
		if err != nil || !due {
			owed = 0 // the leader is busy electing, or nothing is due: the consumer may be fine
			continue
		}
		if owed++; owed >= followOwed {
			return delivered, errStalled
		}
	}
}

// followFetch is one fetch of a follow's consumer c, at most bound long:
// n messages came. The fetch's end is the server's (its answer to the
// expired request comes after every message of the request): a fetch
// the client ended first would lose the messages then on their way, and
// the consumer would have to be made again (a gap in its sequence).
// The client waits a second longer than the bound for that answer (a
// dead server's); the follow stops at once when ctx ends. The pull is
// read by pull (pull.go), not nats.go's Fetch: one hand-off less per
// message.
func (l *log) followFetch(ctx context.Context, c jetstream.Consumer, subjects []string, next, consumed *uint64, bound time.Duration, fn msgFunc) (n int, err error) {
	var cbErr error
	n, err = l.pull(ctx, c.CachedInfo().Name, readPage, bound, func(m *nats.Msg, md *jetstream.MsgMetadata) error {
		if md.Sequence.Consumer != *consumed+1 {
			return fmt.Errorf("message %d of the consumer after %d: one was lost", md.Sequence.Consumer, *consumed)
		}
		*consumed = md.Sequence.Consumer
		seq := md.Sequence.Stream
		if seq < *next {
			return nil
		}
		*next = seq + 1
		if matchesAny(subjects, m.Subject) {
			if err := fn(m, md); err != nil {
				cbErr = err
				return err
			}
		}
		return nil
	})
	if cbErr != nil {
		return n, &callbackError{cbErr}
	}
	return n, err
}

// leaderHolds says whether the stream's leader holds a record under one
// of subjects at or after seq.
func (l *log) leaderHolds(ctx context.Context, subjects []string, seq uint64) (bool, error) {
	for _, s := range subjects {
		_, ok, err := l.leaderNext(ctx, seq, s)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// leaderConsumer is readConsumer's consumer placed on the stream's leader
// if it can be within bound: made again (at most leaderTries times) while
// it lands elsewhere; past the bound, or when the leader cannot be named,
// the last one made is kept. A consumer on the leader delivers a write as
// soon as it is stored; one on a replica that is catching up (a node back
// without its files) delivers nothing until its catch-up reaches the
// write (follow gives it up then, after two fetches, but the wait is
// seconds). onLeader: the leader, named after the consumer was made,
// serves it.
func (l *log) leaderConsumer(ctx context.Context, filter []string, from uint64, bound time.Duration) (c jetstream.Consumer, onLeader bool, err error) {
	return l.consumerOn(ctx, filter, from, bound, func(cctx context.Context) (string, bool) {
		s, err := l.js.Stream(cctx, l.name)
		if err != nil || s.CachedInfo().Cluster == nil {
			return "", false
		}
		return s.CachedInfo().Cluster.Leader, true
	})
}

// consumerOn is readConsumer's consumer made again (at most leaderTries
// times, within bound) while it lands on another server than the one
// want names (want's false: none can be named, take the one made); past
// the bound, or at the last try, the last one made is kept. there: the
// consumer is on the server want named.
func (l *log) consumerOn(ctx context.Context, filter []string, from uint64, bound time.Duration, want func(context.Context) (string, bool)) (c jetstream.Consumer, there bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	var last jetstream.Consumer // the last one made, elsewhere
	for try := 1; ; try++ {
		c, err := l.readConsumer(cctx, filter, from, bound)
		if err != nil {
			if last != nil && ctx.Err() == nil {
				return last, false, nil
			}
			return nil, false, err
		}
		if last != nil {
			l.dropConsumer(last.CachedInfo().Name)
		}
		last = c
		info := c.CachedInfo()
		if info.Cluster == nil {
			return c, false, nil
		}
		server, ok := want(cctx)
		if there := ok && info.Cluster.Leader == server; there || !ok || try >= leaderTries {
			return c, there, nil
		}
	}
}
