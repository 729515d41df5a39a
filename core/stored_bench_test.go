package core

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
)

// benchFacts is the million-user shape: two live sessions of one app.
func benchFacts() presence.Facts {
	now := time.Date(2026, 11, 25, 9, 0, 0, 123456789, time.UTC)
	const daemon = "c0ffee00-5a7f-430c-a555-551d652a37b1"
	return presence.Facts{
		Sessions: []presence.Session{
			{ID: daemon + ":a", Pair: presence.Pair{Availability: presence.Available, Activity: presence.Available}, RefreshedAt: now, ExpiresAt: now.Add(4 * time.Hour)},
			{ID: daemon + ":b", Pair: presence.Pair{Availability: presence.Busy, Activity: presence.InACall}, RefreshedAt: now.Add(time.Second), ExpiresAt: now.Add(time.Second + 4*time.Hour)},
		},
		Seq:       presence.Stamp{At: now.Add(time.Second).UnixNano()},
		LastWrite: now.Add(time.Second),
	}
}

// BenchmarkStoredDecode is a cold read's work per user once the engine
// has answered: the stored value to a cache entry (core.admit), from the
// JSON that earlier versions stored and from the binary form. Run with
//
//	go test -run '^$' -bench 'Stored(De|En)code' -count 5 ./core/
func BenchmarkStoredDecode(b *testing.B) {
	f := benchFacts()
	j, err := json.Marshal(f)
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range []struct {
		name  string
		value []byte
	}{{"json", j}, {"binary", encodeStored(f)}} {
		b.Run(v.name, func(b *testing.B) {
			var tab sessionIDTable
			b.ReportAllocs()
			for b.Loop() {
				f, err := decodeStored(v.value)
				if err != nil {
					b.Fatal(err)
				}
				_ = tab.newEntry(7, f)
			}
			b.ReportMetric(float64(len(v.value)), "value-bytes")
		})
	}
}

var sink []byte

// BenchmarkStoredEncode is what a write (core.Do) spends to turn the new
// facts into the engine's value: JSON before, the binary form now.
func BenchmarkStoredEncode(b *testing.B) {
	f := benchFacts()
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = encodeStored(f) // escapes, as into the engine's Put
		}
	})
}
