package core_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/internal/benchenv"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// nullKV stores nothing: a write's engine round trip left out, so that a
// benchmark measures core's own work.
type nullKV struct{ store.KV }

func (nullKV) Get(context.Context, string) (store.Entry, error) {
	return store.Entry{}, store.ErrNotFound
}
func (nullKV) Put(_ context.Context, _ string, _ []byte, expect uint64) (uint64, error) {
	return expect + 1, nil
}

// BenchmarkWriteShape is core's own share of the load tool's default
// setPresence (issue #16 point 3, docs/performance.md "The load tool's
// own setPresence requests"): a write to one of N users at random, one of
// S sessions of one app at random, one of the tool's five pairs at random,
// without the engine (nullKV). Users × sessions: BenchmarkHTTP's shape
// (1,000 × 1) and the tool's default (10,000 × 4), and each alone.
// PRESENCED_SHAPE_CHANGES=0 writes one pair only (Available), so that no
// write after the first changes what a user shows: what a real change
// costs beside a write that changes nothing (the tool's writes are real
// changes, BenchmarkHTTP's are not).
//
//	go test -run '^$' -bench BenchmarkWriteShape -count 3 ./core/
func BenchmarkWriteShape(b *testing.B) {
	pairs := []presence.Pair{{Availability: "Available", Activity: "Available"}, {Availability: "Busy", Activity: "InACall"},
		{Availability: "Busy", Activity: "InAConferenceCall"}, {Availability: "Away", Activity: "Away"},
		{Availability: "DoNotDisturb", Activity: "Presenting"}}
	if benchenv.Int("PRESENCED_SHAPE_CHANGES", 1, 0) == 0 {
		pairs = pairs[:1]
	}
	for _, shape := range []struct{ users, sessions int }{{1_000, 1}, {1_000, 4}, {10_000, 1}, {10_000, 4}} {
		b.Run(fmt.Sprintf("users=%d/sessions=%d", shape.users, shape.sessions), func(b *testing.B) {
			c := core.New(core.Options{KV: nullKV{}, Clock: clock.Real{}})
			users := make([]core.UserRef, shape.users)
			for i := range users {
				users[i] = core.UserRef{TenantID: "0f8fad5b-d9cb-469f-a165-70867728950e", UserID: fmt.Sprintf("%08x-9c0b-4ef8-bb6d-6bb9bd380a11", i)}
			}
			const client = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
			cmds := make([]presence.SetPresence, shape.sessions*len(pairs))
			for s := range shape.sessions {
				for p, pair := range pairs {
					cmds[s*len(pairs)+p] = presence.SetPresence{SessionID: fmt.Sprintf("%s:s%d", client, s), Pair: pair, Expiration: time.Hour}
				}
			}
			ctx := context.Background()
			r := rand.New(rand.NewPCG(1, 2))
			write := func() {
				if _, err := c.Write(ctx, users[r.IntN(len(users))], cmds[r.IntN(len(cmds))]); err != nil {
					b.Fatal(err)
				}
			}
			for range 4 * len(users) * shape.sessions {
				write() // every user holds (nearly) all its sessions
			}
			b.ReportAllocs()
			b.ResetTimer()
			c0 := cpuTime()
			for b.Loop() {
				write()
			}
			b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
