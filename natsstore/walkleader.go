package natsstore

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
)

// leaderTries bounds how many times a walk creates its consumer again to
// have it served by the stream's leader (orderedOnLeader). JetStream
// places it on one of the stream's replicas at random (nats-server's
// createGroupForConsumer shuffles the active peers): with three, each try
// misses the leader two times in three. Twelve tries all missing it was
// one walk in ~130, which a test making thirty walks saw in CI; forty is
// one in ~11 million, and costs about three tries on average (each a
// consumer made and deleted, a few milliseconds).
const leaderTries = 40

// orderedOnLeader creates a walk's or a watch's ordered consumer and
// starts its messages. In a cluster JetStream places that consumer (one
// replica) on any server of the stream, preferring those current with its
// meta group, not with the stream: on a node
// still catching up (one back without its files) the walk would read an
// old view of the keys, missing the newest, and the watch that follows
// starts after them; a watch's consumer there is not woken by what the
// catch-up stores. So the consumer is made again until the stream's
// leader serves it, which holds every acknowledged write; past
// leaderTries the last one is kept (a leader that moves meanwhile).
func (b *kv) orderedOnLeader(ctx context.Context, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, jetstream.MessagesContext, error) {
	for try := 1; ; try++ {
		cons, err := b.js.OrderedConsumer(ctx, b.stream, cfg)
		if err != nil {
			return nil, nil, err
		}
		it, err := cons.Messages() // creates the consumer on the server
		if err != nil {
			return nil, nil, err
		}
		info := cons.CachedInfo()
		if !b.e.opts.clustered() || try >= leaderTries || info == nil || info.Cluster == nil {
			return cons, it, nil
		}
		if s, err := b.js.Stream(ctx, b.stream); err == nil {
			if sc := s.CachedInfo().Cluster; sc != nil && sc.Leader == info.Cluster.Leader {
				return cons, it, nil
			}
		}
		it.Stop()
		_ = b.js.DeleteConsumer(context.WithoutCancel(ctx), b.stream, info.Name)
	}
}
