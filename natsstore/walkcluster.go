package natsstore

import (
	"context"
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

// walkCluster is walk in a cluster (see above). A bucket keeps one
// revision per key, so its stream through its last sequence holds each
// key's last message: the walk reads that, then what was written while
// it read, through the last sequence as of then. A key rewritten before
// the first read reached it lost its message, and its new one is among
// the second's, as a walk's ordered consumer would deliver it
// (walk.go). Delete markers are skipped.
func (b *kv) walkCluster(ctx context.Context, prefix string, fn func(store.Entry) error) error {
	l := b.streamLog()
	subjects := []string{b.prefix + filterOf(prefix)}
	each := func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
		key, ok := strings.CutPrefix(m.Subject(), b.prefix)
		if !ok || !strings.HasPrefix(key, prefix) || deleted(m.Headers()) {
			return nil
		}
		return fn(store.Entry{Key: key, Value: m.Data(), Revision: md.Sequence.Stream})
	}
	from := uint64(1)
	for range 2 {
		to, err := l.LastSeq(ctx)
		if err != nil || to < from {
			return err
		}
		if err := l.read(ctx, subjects, from, to, true, each); err != nil {
			return err
		}
		from = to + 1
	}
	return nil
}

// replayCluster is replay in a cluster (see above): the bucket's changes
// under prefix after after, through upTo.
func (b *kv) replayCluster(ctx context.Context, prefix string, after, upTo uint64, fn func(store.Change) error) error {
	return b.streamLog().read(ctx, []string{b.prefix + filterOf(prefix)}, after+1, upTo, true, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
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
