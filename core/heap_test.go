package core_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/presence"
)

func heapAfterGC() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// BenchmarkCacheHeap measures the Go heap the core's cache keeps per user
// with two live sessions (the million-user shape), over the real
// engine (file storage): once filled by writes (core.Do), once by reads of a cold core
// (core.ReadMany), and once by core.Warm (warm-s is how long it took).
// Each figure is the heap released by dropping the Core, so the user ids
// (the directory's in the server) and the engine are not in it. Run with
//
//	go test -run '^$' -bench CacheHeap -benchtime 1x ./core/
func BenchmarkCacheHeap(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	kv := bucket(b) // the real engine; its heap is not in the figures (see above)
	us := make([]core.UserRef, n)
	for i := range us {
		us[i] = core.UserRef{TenantID: alice.TenantID, UserID: fmt.Sprintf("%08x-5ca1-4000-8000-%012x", i, i)}
	}
	daemon := "c0ffee00-5a7f-430c-a555-551d652a37b1"
	sessA := set("a", "Available", "Available")
	sessA.SessionID = daemon + ":a"
	sessA.Expiration = 4 * time.Hour
	sessB := set("b", "Busy", "InACall")
	sessB.SessionID = daemon + ":b"
	sessB.Expiration = 4 * time.Hour

	measure := func(o core.Options, fill func(c *core.Core)) float64 {
		h0 := heapAfterGC()
		o.KV, o.Clock = kv, fake
		c := core.New(o)
		fill(c)
		h1 := heapAfterGC()
		runtime.KeepAlive(c)
		c = nil
		h2 := heapAfterGC()
		_ = h0
		return float64(h1-h2) / n
	}
	for b.Loop() {
		written := measure(core.Options{}, func(c *core.Core) {
			for i, u := range us {
				if i%100 == 0 {
					fake.Add(time.Millisecond) // writes spread over time
				}
				for _, cmd := range []presence.Command{sessA, sessB} {
					if _, _, err := c.Do(ctx, u, cmd); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		read := measure(core.Options{}, func(c *core.Core) {
			for i := 0; i < n; i += 650 {
				if _, err := c.ReadMany(ctx, us[i:min(i+650, n)]); err != nil {
					b.Fatal(err)
				}
			}
		})
		var took time.Duration
		warm := func(c *core.Core) {
			start := time.Now()
			if got, err := c.Warm(ctx); err != nil || got != n {
				b.Fatalf("Warm: %d users, %v", got, err)
			}
			took = time.Since(start)
		}
		warmed := measure(core.Options{}, warm)
		b.ReportMetric(written, "written-B/user")
		b.ReportMetric(read, "read-B/user")
		b.ReportMetric(warmed, "warmed-B/user")
		b.ReportMetric(took.Seconds(), "warm-s")
	}
}
