package natsstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/presenced/presenced/internal/benchenv"
	"github.com/presenced/presenced/store"
)

// BenchmarkWriteShape is the engine's share of the load tool's default
// setPresence (issue #16 point 3, docs/performance.md "The load tool's
// own setPresence requests"): 64 writers at once, as on a single node
// (SoleWriter), each replacing one of its own keys chosen at random, with
// a value the size of a four-session user's (153 bytes). With History 1
// every write removes the key's previous value; with many keys that value
// is in an older block of the file store, which may no longer be cached.
// cpu-ns/op is the process's CPU per write (the engine runs in this
// process). Sub-benchmarks: how many keys (1,000 as BenchmarkHTTP's,
// 10,000 as bench's default, 100,000); PRESENCED_SHAPE_MAXBYTES sets the
// bucket's MaxBytes (nats-server sizes the stream's blocks by it:
// dynBlkSize); PRESENCED_SHAPE_VALUE the value's bytes (one session's
// value is 84); PRESENCED_SHAPE_PARTS writes to that many partitions
// (buckets, each a stream of its own, a key's by PartitionOf) instead of
// one bucket (engine10k's measurement: not cheaper, docs/performance.md).
// The raw connections by the key's hash that engine10k measured with
// this benchmark (PRESENCED_RAWCONNS) are in commit ccbe8f1, reverted.
//
//	go test -run '^$' -bench BenchmarkWriteShape -benchtime 200000x -count 3 ./natsstore/
func BenchmarkWriteShape(b *testing.B) {
	const writers = 64
	size := 153
	size = benchenv.Int("PRESENCED_SHAPE_VALUE", size, 1)
	value := make([]byte, size)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	maxBytes, _ := strconv.ParseInt(os.Getenv("PRESENCED_SHAPE_MAXBYTES"), 10, 64)
	parts := benchenv.Int("PRESENCED_SHAPE_PARTS", 1, 1)
	for _, keys := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			e := openT(b, Options{Dir: b.TempDir()})
			ctx := context.Background()
			cfg := jetstream.KeyValueConfig{Bucket: "presence", History: 1, Storage: e.storage, Replicas: 1}
			if maxBytes > 0 {
				cfg.MaxBytes = maxBytes
			}
			var s store.KV
			var err error
			if parts > 1 {
				s, err = e.openPartitioned(ctx, cfg, parts)
			} else {
				s, err = e.bucket(ctx, cfg)
			}
			if err != nil {
				b.Fatal(err)
			}
			if !SoleWriter(s) {
				b.Fatal("SoleWriter refused the bucket")
			}
			names, revs := make([]string, keys), make([]uint64, keys)
			for i := range keys {
				names[i] = fmt.Sprintf("%s.%08x-9c0b-4ef8-bb6d-6bb9bd380a11", tenantA, i)
			}
			run := func(n int) {
				var wg sync.WaitGroup
				for w := range writers {
					wg.Go(func() {
						own := (keys - w + writers - 1) / writers // keys w, w+64, …: this writer's alone
						r := rand.New(rand.NewPCG(uint64(w), 1))
						for i := w; i < n; i += writers {
							j := w + r.IntN(own)*writers
							var err error
							if revs[j], err = s.Put(ctx, names[j], value, revs[j]); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
			}
			// Every key written, then as many writes again as there are
			// keys: the blocks hold the steady state's mixture.
			for i := range keys {
				if revs[i], err = s.Put(ctx, names[i], value, 0); err != nil {
					b.Fatal(err)
				}
			}
			run(max(keys, 50_000))
			b.ResetTimer()
			c0 := processCPUTime()
			run(b.N)
			// Messages of one connection reach the stream in order: this
			// one's acknowledgement says every message before it is stored
			// (in its partition's stream, with partitions).
			fence, _ := s.(*kv)
			if p, ok := s.(*partitioned); ok {
				fence = p.of(names[0])
			}
			if _, err := fence.nc.RequestMsg(&nats.Msg{Subject: fence.prefix + names[0], Data: value}, 30*time.Second); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64((processCPUTime()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
