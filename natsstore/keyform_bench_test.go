package natsstore

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/nats-io/nats-server/v2/server/stree"
)

// BenchmarkSubjectTreeKeyForms measures what nats-server's per-subject
// trees cost per key for the presence bucket's key as it is
// ("u.<tenant>.<user>", GUIDs as 36 characters) and for shorter
// encodings of the same two GUIDs, with the values the file store keeps
// in them: the stream's index (psim: 16 bytes a subject) and each message
// block's subject state (fss: 32 bytes). Issue #16 asked whether shorter
// keys would shrink the engine's share of a user (docs/performance.md,
// "Where a user's memory is"): they do not, because the trees' inner
// nodes, not the keys' bytes, are most of it.
//
//	go test -run '^$' -bench SubjectTreeKeyForms -benchtime 1x ./natsstore/
func BenchmarkSubjectTreeKeyForms(b *testing.B) {
	const n = 1_000_000
	rng := rand.New(rand.NewPCG(16, 1))
	guidBytes := func() []byte {
		g := make([]byte, 16)
		for i := range g {
			g[i] = byte(rng.Uint32())
		}
		return g
	}
	text := func(g []byte) string {
		return fmt.Sprintf("%x-%x-%x-%x-%x", g[0:4], g[4:6], g[6:8], g[8:10], g[10:16])
	}
	b64 := base64.RawURLEncoding.EncodeToString
	tenant := guidBytes()
	users := make([][]byte, n)
	for i := range users {
		users[i] = guidBytes()
	}
	type psi struct {
		total      uint64
		fblk, lblk uint32
	}
	type fss struct {
		msgs, first, last uint64
		a, b              bool
	}
	for _, form := range []struct {
		name string
		key  func(u []byte) string
	}{
		{"text-tenant-user", func(u []byte) string { return "u." + text(tenant) + "." + text(u) }}, // 75 bytes: today's
		{"hex-user", func(u []byte) string { return "u." + fmt.Sprintf("%x", u) }},                 // 34
		{"base64-tenant-user", func(u []byte) string { return "u." + b64(tenant) + "." + b64(u) }}, // 47
		{"base64-user", func(u []byte) string { return "u." + b64(u) }},                            // 24
	} {
		b.Run(form.name, func(b *testing.B) {
			subjects := make([][]byte, n)
			for i, u := range users {
				subjects[i] = []byte("$KV.presence." + form.key(u))
			}
			for range b.N {
				h0 := liveHeap()
				index := stree.NewSubjectTree[psi]()
				for _, s := range subjects {
					index.Insert(s, psi{1, 1, 1})
				}
				h1 := liveHeap()
				state := stree.NewSubjectTree[fss]()
				for _, s := range subjects {
					state.Insert(s, fss{msgs: 1, first: 1, last: 1})
				}
				h2 := liveHeap()
				runtime.KeepAlive(index)
				runtime.KeepAlive(state)
				b.ReportMetric(float64(len(subjects[0])), "subject-bytes")
				b.ReportMetric(float64(h1-h0)/n, "index-B/key")
				b.ReportMetric(float64(h2-h1)/n, "block-state-B/key")
			}
		})
	}
}

func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
