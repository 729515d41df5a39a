package core_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/presence"
)

// BenchmarkFollowVisibility measures how long a write acknowledged by one
// node takes to reach another node's cache, in a three-node cluster in
// this process (every replica, and both cores, on this machine's cores):
// node 0 writes users one after another, and node 1's OnWrite — called
// once its cache holds the change — notes when each arrived. A write is
// visible on node 1 once node 1 holds it or a newer write of its user (a
// watcher that lags skips a revision already replaced: a bucket keeps one
// per key). It reports the p50, p99 and max of (visible on node 1 −
// acknowledged by node 0). In busy-reader, 16 writers write other users
// through node 1 meanwhile, so that node 1's shards' write locks are
// often held across a replicated write when a change arrives. Run with
//
//	go test -run '^$' -bench FollowVisibility -benchtime 2000x -count 3 ./core/
func BenchmarkFollowVisibility(b *testing.B) {
	b.Run("idle-reader", func(b *testing.B) { benchFollowVisibility(b, 0) })
	b.Run("busy-reader", func(b *testing.B) { benchFollowVisibility(b, 16) })
}

func benchFollowVisibility(b *testing.B, readerWriters int) {
	fake := clock.NewFake(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	nodes := followingNodesB(b, fake)
	ctx := context.Background()
	type arrival struct {
		seq presence.Stamp
		at  time.Time
	}
	var (
		mu      sync.Mutex
		arrived = map[core.UserRef][]arrival{} // per user, in order
	)
	nodes[1].c.OnWrite(func(s core.Snapshot) {
		now := time.Now()
		mu.Lock()
		arrived[s.User] = append(arrived[s.User], arrival{s.Seq, now})
		mu.Unlock()
	})
	type write struct {
		u   core.UserRef
		seq presence.Stamp
		at  time.Time
	}
	users := make([]core.UserRef, 64)
	for i := range users {
		users[i] = core.UserRef{TenantID: alice.TenantID, UserID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)}
	}
	var acked []write
	pairs := []string{"Available", "Busy", "Away", "DoNotDisturb"}
	bg, stop := sync.WaitGroup{}, make(chan struct{})
	for w := range readerWriters {
		bg.Go(func() {
			u := core.UserRef{TenantID: alice.TenantID, UserID: fmt.Sprintf("00000000-0000-4000-9000-%012d", w)}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, _, err := nodes[1].c.Do(ctx, u, set("desk", []string{"Available", "Away"}[i%2], []string{"Available", "Away"}[i%2])); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.ResetTimer()
	for i := range b.N {
		u := users[i%len(users)]
		p := pairs[(i/len(users))%len(pairs)]
		act := p
		if p == "Busy" {
			act = "InACall"
		} else if p == "DoNotDisturb" {
			act = "Presenting"
		}
		s, _, err := nodes[0].c.Do(ctx, u, set("desk", p, act))
		if err != nil {
			b.Fatal(err)
		}
		acked = append(acked, write{u, s.Seq, time.Now()})
		fake.Add(time.Millisecond) // every write a visible change with its own stamp
	}
	b.StopTimer()
	close(stop)
	bg.Wait()
	deadline := time.Now().Add(followTimeout)
	var lat []time.Duration
	for {
		mu.Lock()
		lat = lat[:0]
		for _, w := range acked {
			for _, a := range arrived[w.u] {
				if !a.seq.Less(w.seq) {
					lat = append(lat, max(a.at.Sub(w.at), 0))
					break
				}
			}
		}
		mu.Unlock()
		if len(lat) == len(acked) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(lat) < len(acked) {
		b.Fatalf("%d of %d writes reached node 1", len(lat), len(acked))
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
}
