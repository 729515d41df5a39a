package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/store"
)

// getEachKV reads as core.ReadMany did before store.KV had GetMany: one
// Get per key, 32 at a time.
type getEachKV struct{ store.KV }

func (k getEachKV) GetMany(ctx context.Context, keys []string) ([]store.Entry, error) {
	out := make([]store.Entry, len(keys))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, 32)
	for i, key := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			e, err := k.Get(ctx, key)
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				mu.Lock()
				first = errors.Join(first, err)
				mu.Unlock()
			default:
				out[i] = e
			}
		}()
	}
	wg.Wait()
	return out, first
}

// BenchmarkReadManyCold reads 650 random users of 10,000 (two sessions
// each) into an empty cache per op, the shape of a getPresencesByUserId
// right after a restart: with one GetMany (now) and with one Get per user,
// 32 at a time (before); and with one GetMany of the same users stored as
// JSON, as versions before the binary form stored them. The engine's own
// caches are warm here, unlike right after a restart. Run with
//
//	go test -run '^$' -bench ReadManyCold -count 5 ./core/
func BenchmarkReadManyCold(b *testing.B) {
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	ctx := context.Background()
	base := bucket(b)
	us, want := fill(b, base, fake, 10000)
	asJSON := bucket(b)
	for u, snap := range want {
		v, err := json.Marshal(snap.Facts)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := asJSON.Put(ctx, u.Key(), v, 0); err != nil {
			b.Fatal(err)
		}
	}
	for _, v := range []struct {
		name string
		kv   store.KV
	}{{"GetMany", base}, {"GetMany-json", asJSON}, {"Get-32", getEachKV{base}}} {
		b.Run(v.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			ask := make([]core.UserRef, 650)
			var took []time.Duration
			cpu0 := cpuTime()
			for b.Loop() {
				for i := range ask {
					ask[i] = us[rng.IntN(len(us))]
				}
				c := core.New(core.Options{KV: v.kv, Clock: fake})
				start := time.Now()
				if _, err := c.ReadMany(ctx, ask); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			// The machine is shared: the fastest and median reads say more
			// than the mean, and the CPU time per read (process-wide:
			// engine, client and core) says what it costs.
			slices.Sort(took)
			b.ReportMetric(float64(took[0])/1e6, "min-ms")
			b.ReportMetric(float64(took[len(took)/2])/1e6, "p50-ms")
			b.ReportMetric(float64(cpuTime()-cpu0)/1e6/float64(len(took)), "cpu-ms/op")
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
