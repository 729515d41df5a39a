package natsstore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkFollowDelivery is the follow's delivery path alone (pull
// requests on a consumer of the stream, each message parsed and handed to
// the follow's callback), the path by which every cluster node receives
// every write (watch.go's followCluster, logfollow.go): a bucket of
// 20,000 writes on a single node's engine followed from its start, per
// message: wall time (ns/msg) and the process's CPU (cpu-ns/msg, engine
// included: the consumer's side of a delivery). Run with
//
//	go test -run '^$' -bench FollowDelivery -benchtime 20x -count 6 ./natsstore/
func BenchmarkFollowDelivery(b *testing.B) {
	const n = 20000
	kv := bucketT(b, openT(b, Options{Memory: true}), "bench").(*kv)
	ctx := context.Background()
	for i := range n {
		if _, err := kv.Put(ctx, fmt.Sprintf("u.%s.%d", tenantA, i), benchValue, 0); err != nil {
			b.Fatal(err)
		}
	}
	errDone := errors.New("done")
	b.ReportAllocs()
	cpu0 := processCPUTime()
	for b.Loop() {
		got := 0
		err := kv.streamLog().follow(ctx, []string{kv.prefix + "u.>"}, 1, placeAny, func(m *nats.Msg, md *jetstream.MsgMetadata) error {
			if got++; got == n {
				return errDone
			}
			return nil
		})
		if !errors.Is(err, errDone) {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/msg")
	b.ReportMetric(float64((processCPUTime()-cpu0).Nanoseconds())/float64(b.N*n), "cpu-ns/msg")
}
