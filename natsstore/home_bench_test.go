package natsstore_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/store"
)

// BenchmarkClusterWatchedWrites is a cluster write as the cluster bench
// makes it, without HTTP: a three-node R3 cluster in this process, three
// partitions, every node watching "u." (as each node's cache does) and
// draining its watch, 64 writers spread over the nodes. cpu-ns/write is
// the process's CPU time per write (the three servers, the watches and
// the writers; divide by three for a node's share), with the watches'
// consumers on each node's own replica (home.go) and, to compare, on the
// streams' leaders (as before). A cluster is started per run, its
// writers warmed up with 5,000 writes first. Run:
//
//	go test -run '^$' -bench ClusterWatchedWrites -benchtime 30000x -count 3 ./natsstore/
func BenchmarkClusterWatchedWrites(b *testing.B) {
	for _, place := range []string{"home", "leader"} {
		b.Run("watch="+place, func(b *testing.B) {
			natsstore.WatchOnLeader(place == "leader")
			defer natsstore.WatchOnLeader(false)
			watchedWrites(b)
		})
	}
}

// watchedWrites is BenchmarkClusterWatchedWrites' body: a cluster started
// as the package's settings say, its watches drained, b.N writes by 64
// writers after 5,000 to warm up, and the process's CPU a write.
func watchedWrites(b *testing.B) {
	ctx := context.Background()
	c := enginetest.StartCluster(b, 3, natsstore.Options{Partitions: 3})
	kvs := make([]store.KV, 3)
	for i := range kvs {
		kv, err := c.Node(i).Partitioned(ctx, "presence")
		if err != nil {
			b.Fatal(err)
		}
		kvs[i] = kv
		w, err := kv.Watch(ctx, "u.")
		if err != nil {
			b.Fatal(err)
		}
		wctx, cancel := context.WithCancel(ctx)
		defer w.Stop()
		defer cancel()
		go func() {
			for {
				if _, err := w.Next(wctx); err != nil {
					return
				}
			}
		}()
	}
	const writers = 64
	revs := make([]uint64, writers)
	run := func(n int64) {
		var left atomic.Int64
		left.Store(n)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				kv, k := kvs[w%3], userKey(7, w)
				for left.Add(-1) >= 0 {
					r, err := kv.Put(ctx, k, make([]byte, 150), revs[w])
					if err != nil {
						b.Error(err)
						return
					}
					revs[w] = r
				}
			})
		}
		wg.Wait()
	}
	run(5000)
	peers, modes := natsstore.Routes(c.Node(0))
	b.Logf("node 0: routes to each peer %v, compression %v", peers, modes)
	cpu0 := natsstore.ProcessCPUTime()
	b.ResetTimer()
	run(int64(b.N))
	b.StopTimer()
	b.ReportMetric(float64((natsstore.ProcessCPUTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/write")
}
