package natsstore

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// Benchmarks of one KV op at a time through the in-process connection:
// latency, not throughput under concurrency. Run with
//
//	go test -run '^$' -bench . -benchtime 2s ./natsstore/

var benchValue = []byte(`{"availability":"Available","activity":"Available","sequenceNumber":"C2B0F3A1D9E44A6F"}`)

func benchConfigs() []struct {
	name string
	o    func(b *testing.B) Options
} {
	return []struct {
		name string
		o    func(b *testing.B) Options
	}{
		{"file", func(b *testing.B) Options { return Options{Dir: b.TempDir()} }},
		{"file-SyncAlways", func(b *testing.B) Options { return Options{Dir: b.TempDir(), SyncAlways: true} }},
		{"memory", func(b *testing.B) Options { return Options{Memory: true} }},
	}
}

// BenchmarkPut creates a fresh key per op (expect 0).
func BenchmarkPut(b *testing.B) {
	for _, c := range benchConfigs() {
		b.Run(c.name, func(b *testing.B) {
			kv := bucketT(b, openT(b, c.o(b)), "bench")
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := kv.Put(ctx, fmt.Sprintf("u.%s.%d", tenantA, i), benchValue, 0); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkUpdate replaces one of 1000 keys per op at its known revision:
// the shape of a presence write.
func BenchmarkUpdate(b *testing.B) {
	for _, c := range benchConfigs() {
		b.Run(c.name, func(b *testing.B) {
			kv := bucketT(b, openT(b, c.o(b)), "bench")
			ctx := context.Background()
			const n = 1000
			keys, revs := make([]string, n), make([]uint64, n)
			for i := range n {
				keys[i] = fmt.Sprintf("u.%s.%d", tenantA, i)
				r, err := kv.Put(ctx, keys[i], benchValue, 0)
				if err != nil {
					b.Fatal(err)
				}
				revs[i] = r
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				j := i % n
				r, err := kv.Put(ctx, keys[j], benchValue, revs[j])
				if err != nil {
					b.Fatal(err)
				}
				revs[j] = r
				i++
			}
		})
	}
}

// BenchmarkGet reads one of 1000 keys per op.
func BenchmarkGet(b *testing.B) {
	for _, c := range benchConfigs() {
		if c.name == "file-SyncAlways" {
			continue // reads do not sync
		}
		b.Run(c.name, func(b *testing.B) {
			kv := bucketT(b, openT(b, c.o(b)), "bench")
			ctx := context.Background()
			const n = 1000
			keys := make([]string, n)
			for i := range n {
				keys[i] = fmt.Sprintf("u.%s.%d", tenantA, i)
				if _, err := kv.Put(ctx, keys[i], benchValue, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := kv.Get(ctx, keys[i%n]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkGetMany reads 650 random keys of 10,000 per op (the shape of a
// cold getPresencesByUserId): one Get at a time, 32 Gets at a time (what
// core.ReadMany did), and one GetMany.
func BenchmarkGetMany(b *testing.B) {
	kv := bucketT(b, openT(b, Options{Dir: b.TempDir()}), "bench")
	ctx := context.Background()
	const n, ask = 10000, 650
	value := bytes.Repeat([]byte("x"), 400) // about a user's JSON facts with two sessions
	keys := make([]string, n)
	for i := range n {
		keys[i] = fmt.Sprintf("u.%s.%08d-0000-4000-8000-000000000000", tenantA, i)
		if _, err := kv.Put(ctx, keys[i], value, 0); err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func() []string {
		ks := make([]string, ask)
		for i := range ks {
			ks[i] = keys[rng.IntN(n)]
		}
		return ks
	}
	b.Run("Get", func(b *testing.B) {
		for b.Loop() {
			for _, k := range pick() {
				if _, err := kv.Get(ctx, k); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("Get-32", func(b *testing.B) {
		for b.Loop() {
			ks := pick()
			var wg sync.WaitGroup
			sem := make(chan struct{}, 32)
			for _, k := range ks {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					if _, err := kv.Get(ctx, k); err != nil {
						b.Error(err)
					}
				}()
			}
			wg.Wait()
		}
	})
	b.Run("GetMany", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			got, err := kv.GetMany(ctx, pick())
			if err != nil {
				b.Fatal(err)
			}
			if got[0].Revision == 0 {
				b.Fatal("missing")
			}
		}
	})
}
