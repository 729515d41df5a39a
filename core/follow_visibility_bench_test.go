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
// once its cache holds the change — notes when each arrived. It reports
// the p50, p99 and max of (arrival on node 1 − acknowledgement on node
// 0). Run with
//
//	go test -run '^$' -bench FollowVisibility -benchtime 2000x -count 3 ./core/
func BenchmarkFollowVisibility(b *testing.B) {
	fake := clock.NewFake(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	nodes := followingNodesB(b, fake)
	ctx := context.Background()
	type key struct {
		u   core.UserRef
		seq presence.Stamp
	}
	var (
		mu      sync.Mutex
		arrived = map[key]time.Time{}
	)
	nodes[1].c.OnWrite(func(s core.Snapshot) {
		now := time.Now()
		mu.Lock()
		arrived[key{s.User, s.Seq}] = now
		mu.Unlock()
	})
	users := make([]core.UserRef, 64)
	for i := range users {
		users[i] = core.UserRef{TenantID: alice.TenantID, UserID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)}
	}
	acked := map[key]time.Time{}
	pairs := []string{"Available", "Busy", "Away", "DoNotDisturb"}
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
		acked[key{u, s.Seq}] = time.Now()
		fake.Add(time.Millisecond) // every write a visible change with its own stamp
	}
	b.StopTimer()
	deadline := time.Now().Add(followTimeout)
	var lat []time.Duration
	for {
		mu.Lock()
		lat = lat[:0]
		for k, at := range acked {
			if got, ok := arrived[k]; ok {
				lat = append(lat, max(got.Sub(at), 0))
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
