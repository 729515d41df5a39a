package core_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/core/cachefile"
	"github.com/presenced/presenced/internal/benchenv"
	"github.com/presenced/presenced/internal/guid"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/store"
)

// BenchmarkRestore loads a saved cache of 200,000 users (entries of 70
// bytes, as two sessions take) into an empty core: what a restart pays
// before it listens, per user.
func BenchmarkRestore(b *testing.B) {
	n := 200_000
	n = benchenv.Int("PRESENCED_RESTORE_USERS", n, 1)
	e, err := natsstore.Open(context.Background(), natsstore.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	kv, err := e.Partitioned(context.Background(), "presence")
	if err != nil {
		b.Fatal(err)
	}
	pos, err := kv.(store.Resumable).Positions(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	h := cachefile.Header{Format: 1}
	for _, p := range pos {
		h.Positions = append(h.Positions, cachefile.Position(p))
	}
	var file bytes.Buffer
	w := cachefile.NewWriter(&file, h)
	entry := binary.AppendUvarint(nil, 1)
	entry = append(entry, bytes.Repeat([]byte{1}, 68)...)
	for i := range n {
		g, _ := guid.Parse(fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
		if err := w.Add(cachefile.Record{Tenant: alice.TenantID, GUID: g, IsGUID: true, Entry: entry}); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(nil); err != nil {
		b.Fatal(err)
	}
	fake := clock.NewFake(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		c := core.New(core.Options{KV: kv, Resume: kv.(store.Resumable), Clock: fake, Users: func(string, string) bool { return true }})
		snap, err := cachefile.Decode(file.Bytes())
		if err != nil {
			b.Fatal(err)
		}
		r, err := c.Restore(context.Background(), snap)
		if err != nil || r.Users != n {
			b.Fatal(r.Users, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/user")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*n), "cpu-ns/user")
}
