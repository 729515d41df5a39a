package natsstore

import (
	"context"
	"errors"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/store"
)

// How a bucket's Walk and Replay read in a cluster, and why so.
//
// On a single node they read with nats.go's ordered consumer (walk.go,
// resume.go): its server is this process. In a cluster that consumer's
// server can die under the read, and nats.go makes it again inside
// Next, under its lock, each attempt waiting 10 s for an answer and
// retried 1, 2, 4 … 10 s apart for ever, whatever the caller's context
// (orderedConsumer.reset) — while the meta leader, for a few seconds
// after a kill -9, goes on placing it on the dead server. The consumer's
// Info and Stop wait on the same lock. TestClusterWalkOutlivesAKill saw a
// walk stand still 15 s after the kill of its consumer's server, and a
// replay give up (ErrUnavailable: the resume falls back to a whole
// warm-up).
//
// So in a cluster they read the bucket's stream as Log.Read reads the log
// (logread.go): consumers of their own, every step bounded, the end known
// from the stream's leader, a new consumer from the next record when one
// stalls or its server goes, ErrUnavailable after readWait of attempts
// without a record. Each consumer is placed on the stream's leader when
// it can be within its attempt's bound (leaderConsumer), as the ordered
// one was (orderedOnLeader): a replica still catching up (a node back
// without its files, warming its cache) would hold each attempt for its
// whole bound before the read went on elsewhere.

// walkCluster is walk in a cluster (see above), with the guarantee of
// Walk (walk.go) by the same count, in rounds: a read here ends at a
// sequence named before it starts, so it cannot read on until caught up.
//
// A round from position from (every message before it that is alive now
// has been delivered) makes a consumer on the stream's leader that reads
// nothing, then reads L, the stream's last sequence, from the leader,
// then asks that consumer its NumPending: N, the messages under the
// filter alive at that moment T from from on. (Made first and asked
// after, the count's window after L is one request, not a consumer's
// making through the meta group: a write in it leaves the round's count
// short.) It reads [from, L], counting D, the messages delivered by
// consumers that the leader serves. Each was written before T and read
// after it, on the leader, so alive at T: D <= N, and D == N means every
// message alive at T was delivered, so every key live at the start has
// been passed: the walk ends, even before L, once the leader that
// answered L still leads (a read consumer left on a former leader may
// deliver what the leader had deleted, and D would count it). A count
// from a replica is not taken, nor what a replica delivers: a replica
// behind the leader would count or deliver an old view, and its D could
// reach N with a key lost. A round that reads through L short, or
// without a count, is followed by one from L+1 (every message at or
// before L alive then was delivered: whichever peer served the read held
// the log through L). The walk also ends when the leader holds nothing
// under the filter from from on, or nothing was written since the last
// round.
//
// The walk used to read [1, L1] then [L1+1, L2] and stop: a key rewritten
// inside (L1, L2] and again after L2 before the second pass reached it
// was never passed (TestCluster's "walk passes a key rewritten twice").
//
// What bounds it: a new round follows one that lost a message (a key
// rewritten before the round reached it), that had a write under the
// filter in its count's window, or whose count or read was not the
// leader's; each reads what was written during the one before. What does
// not: writes under the filter that keep coming, often enough to fall in
// most rounds' window, keep it walking until one does not — three nodes
// in one process, 4,500 to 19,000 new keys a second under the prefix
// during the walk: 1 to 25 rounds, 0.06 to 0.75 s, where a quiet walk of
// the same 5,000 keys took 0.02 to 0.035 s (docs/performance.md, session
// 14). More than two rounds are logged (INFO).
func (b *kv) walkCluster(ctx context.Context, prefix string, fn func(store.Entry) error) error {
	l := b.streamLog()
	filter := b.prefix + filterOf(prefix)
	from := uint64(1)
	for round := 1; ; round++ {
		done, next, err := b.walkClusterRound(ctx, l, prefix, filter, from, round, fn)
		if done || err != nil {
			if round > 2 {
				b.e.log.Info("natsstore: a walk needed more than two rounds", "stream", b.stream, "prefix", prefix, "rounds", round, "err", err)
			}
			return err
		}
		from = next
	}
}

// errWalked ends a cluster walk's read once its count is complete.
var errWalked = errors.New("natsstore: the walk passed every message it counted")

// walkClusterRound is a round of walkCluster from from: done, the walk is
// complete; otherwise the next round starts at next.
func (b *kv) walkClusterRound(ctx context.Context, l *log, prefix, filter string, from uint64, round int, fn func(store.Entry) error) (done bool, next uint64, err error) {
	subjects := []string{filter}
	if round > 1 {
		// Nothing under the filter from from on: every key's message
		// alive now is before from, delivered.
		if _, ok, err := l.leaderNext(ctx, from, filter); err != nil || !ok {
			return err == nil, 0, err
		}
	}
	// The count's consumer, made first, asked after L is read.
	cc, onLeader, cerr := l.leaderConsumer(ctx, subjects, from, readAttempt)
	if cerr == nil {
		defer l.dropConsumer(cc.CachedInfo().Name)
	}
	st, err := b.e.streamInfo(ctx, l.name)
	if err != nil {
		return false, 0, unavailable(err)
	}
	end := st.state.LastSeq // L
	if end < from {
		return true, 0, nil // nothing written since the last round
	}
	var count uint64 // N
	counted := false // N is the leader's, taken after L
	if cerr == nil && onLeader {
		ictx, cancel := context.WithTimeout(ctx, readAttempt)
		ci, err := cc.Info(ictx)
		cancel()
		if err == nil && ci.Cluster != nil && ci.Cluster.Leader == st.leader {
			count, counted = ci.NumPending, true
		}
	}
	if counted && count == 0 {
		return true, 0, nil
	}
	var place readPlace
	var seen, last uint64 // D; the last sequence delivered
	err = l.read(ctx, subjects, from, end, &place, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
		last = md.Sequence.Stream
		if place.leader {
			seen++
		}
		key, ok := strings.CutPrefix(m.Subject(), b.prefix)
		if ok && strings.HasPrefix(key, prefix) && !deleted(m.Headers()) {
			if err := fn(store.Entry{Key: key, Value: m.Data(), Revision: md.Sequence.Stream}); err != nil {
				return err
			}
		}
		if counted && seen == count {
			return errWalked
		}
		return nil
	})
	if err == errWalked {
		if now, err := b.e.streamInfo(ctx, l.name); err == nil && now.leader == st.leader {
			return true, 0, nil
		}
		return false, last + 1, nil // the leader moved: count again
	}
	if err != nil {
		return false, 0, err
	}
	return false, end + 1, nil
}

// replayCluster is replay in a cluster (see above): the bucket's changes
// under prefix after after, through upTo.
func (b *kv) replayCluster(ctx context.Context, prefix string, after, upTo uint64, fn func(store.Change) error) error {
	return b.streamLog().read(ctx, []string{b.prefix + filterOf(prefix)}, after+1, upTo, &readPlace{}, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
		key, ok := strings.CutPrefix(m.Subject(), b.prefix)
		if !ok || !strings.HasPrefix(key, prefix) {
			return nil
		}
		c := store.Change{Key: key, Revision: md.Sequence.Stream}
		if deleted(m.Headers()) {
			c.Deleted = true
		} else {
			c.Value = m.Data()
		}
		return fn(c)
	})
}
