package natsstore_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/benchenv"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/store"
)

// BenchmarkClusterOps measures one operation at a time on a 3-node R3
// cluster in this process, through the node that leads the bucket and
// through a follower, beside the single node (R1). Run:
//
//	go test -run '^$' -bench ClusterOps -benchtime 2000x ./natsstore/
func BenchmarkClusterOps(b *testing.B) {
	ctx := context.Background()
	single, err := natsstore.Open(ctx, natsstore.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer single.Close()
	c := enginetest.StartCluster(b, 3, natsstore.Options{Partitions: 1})
	kvOf := func(e *natsstore.Engine) store.KV {
		kv, err := e.Partitioned(ctx, "presence")
		if err != nil {
			b.Fatal(err)
		}
		return kv
	}
	kv0 := kvOf(c.Node(0))
	s, err := c.Node(0).JetStream().Stream(ctx, "KV_presence")
	if err != nil {
		b.Fatal(err)
	}
	leader, follower := -1, -1
	for i := range 3 {
		if c.Options(i).ServerName == s.CachedInfo().Cluster.Leader {
			leader = i
		} else {
			follower = i
		}
	}
	_ = kv0
	for _, tc := range []struct {
		name string
		kv   store.KV
	}{
		{"R1-single", kvOf(single)},
		{"R3-via-leader", kvOf(c.Node(leader))},
		{"R3-via-follower", kvOf(c.Node(follower))},
	} {
		key := "u.t." + tc.name
		rev, err := tc.kv.Put(ctx, key, make([]byte, 150), 0)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("Update/"+tc.name, func(b *testing.B) {
			for b.Loop() {
				if rev, err = tc.kv.Put(ctx, key, make([]byte, 150), rev); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("Get/"+tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := tc.kv.Get(ctx, key); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("GetMany1/"+tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := tc.kv.GetMany(ctx, []string{key}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestMeasurePartitions prints, for several partition counts, how the
// partitions' leaders spread over three nodes (over several cluster
// starts) and the write throughput of 64 concurrent writers spread over
// the three nodes, with the process's CPU time per write; and the CPU an
// idle cluster spends. It is a measurement, not a check: run it with
// PRESENCED_MEASURE=1 (docs/cluster.md#partitions).
func TestMeasurePartitions(t *testing.T) {
	if os.Getenv("PRESENCED_MEASURE") == "" {
		t.Skip("a measurement: PRESENCED_MEASURE=1")
	}
	starts := 3
	if n, err := strconv.Atoi(os.Getenv("PRESENCED_MEASURE_STARTS")); err == nil {
		starts = n
	}
	for _, p := range []int{1, 3, 6, 9, 12} {
		var spread []string
		var rates, cpus []float64
		var idle time.Duration
		for range starts {
			c := enginetest.StartCluster(t, 3, natsstore.Options{Partitions: p})
			ctx := context.Background()
			kvs := make([]store.KV, 3)
			for i := range kvs {
				kv, err := c.Node(i).Partitioned(ctx, "presence")
				if err != nil {
					t.Fatal(err)
				}
				kvs[i] = kv
			}
			per := map[string]int{}
			for i := range p {
				name := "KV_presence"
				if p > 1 {
					name = fmt.Sprintf("KV_presence-%d", i)
				}
				s, err := c.Node(0).JetStream().Stream(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				per[s.CachedInfo().Cluster.Leader]++
			}
			spread = append(spread, fmt.Sprintf("%d/%d/%d", per["n0"], per["n1"], per["n2"]))

			cpu0 := natsstore.ProcessCPUTime()
			time.Sleep(3 * time.Second)
			idle += (natsstore.ProcessCPUTime() - cpu0) / 3

			var writes atomic.Int64
			stop := make(chan struct{})
			done := make(chan struct{})
			for w := range 64 {
				go func() {
					defer func() { done <- struct{}{} }()
					kv := kvs[w%3]
					k := userKey(7, w)
					var rev uint64
					for {
						select {
						case <-stop:
							return
						default:
						}
						r, err := kv.Put(ctx, k, make([]byte, 150), rev)
						if err != nil {
							if cur, gerr := kv.Get(ctx, k); gerr == nil {
								rev = cur.Revision
							}
							continue
						}
						rev = r
						writes.Add(1)
					}
				}()
			}
			time.Sleep(time.Second) // warm up
			n0, cpu0, t0 := writes.Load(), natsstore.ProcessCPUTime(), time.Now()
			time.Sleep(5 * time.Second)
			n, cpu, el := writes.Load()-n0, natsstore.ProcessCPUTime()-cpu0, time.Since(t0)
			close(stop)
			for range 64 {
				<-done
			}
			rates = append(rates, float64(n)/el.Seconds())
			cpus = append(cpus, float64(cpu.Microseconds())/float64(n))
			for i := range 3 {
				c.Stop(i)
			}
		}
		t.Logf("P=%2d leaders per node %v; writes/s %v; CPU µs/write %v; idle CPU %.1f%% of a core",
			p, spread, fmtFloats(rates, "%.0f"), fmtFloats(cpus, "%.0f"), 100*float64(idle/time.Duration(starts))/float64(time.Second))
	}
}

func fmtFloats(fs []float64, f string) []string {
	var out []string
	for _, x := range fs {
		out = append(out, fmt.Sprintf(f, x))
	}
	return out
}

// BenchmarkClusterWalk walks 20,000 keys of 130 bytes
// (PRESENCED_WALK_BENCH_KEYS: another number) through a follower of a
// 3-node R3 cluster in this process (a node's warm-up in a cluster):
// "ns/key" its time, "cpu-ns/key" the process's CPU time (the three
// servers and the client) per key. Run:
//
//	go test -run '^$' -bench ClusterWalk -benchtime 3x ./natsstore/
func BenchmarkClusterWalk(b *testing.B) {
	n := 20_000
	n = benchenv.Int("PRESENCED_WALK_BENCH_KEYS", n, 1)
	ctx := context.Background()
	c := enginetest.StartCluster(b, 3, natsstore.Options{Partitions: 1})
	kv, err := c.Node(1).Bucket(ctx, "walkbench")
	if err != nil {
		b.Fatal(err)
	}
	val := make([]byte, 130)
	var failed atomic.Bool
	done := make(chan struct{})
	for w := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := w; i < n && !failed.Load(); i += 8 {
				if _, err := kv.Put(ctx, fmt.Sprintf("u.t.%08x", i), val, 0); err != nil {
					failed.Store(true)
					b.Error(err)
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
	if failed.Load() {
		b.FailNow()
	}
	for b.Loop() {
		start, cpu := time.Now(), natsstore.ProcessCPUTime()
		seen := 0
		if err := kv.Walk(ctx, "u.", func(store.Entry) error { seen++; return nil }); err != nil {
			b.Fatal(err)
		}
		if seen != n {
			b.Fatalf("walked %d keys of %d", seen, n)
		}
		b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(n), "ns/key")
		b.ReportMetric(float64((natsstore.ProcessCPUTime()-cpu).Nanoseconds())/float64(n), "cpu-ns/key")
	}
}
