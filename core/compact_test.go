package core

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
)

func TestCompactRoundTrip(t *testing.T) {
	var tab sessionIDTable
	now := time.Date(2026, 11, 25, 9, 0, 0, 123456789, time.UTC)
	msg := "hello"
	cases := map[string]presence.Facts{
		"never written": {},
		"two sessions": {Sessions: []presence.Session{
			{ID: "6dcddc99-5a7f-430c-a555-551d652a37b1", Pair: presence.Pair{Availability: presence.Available, Activity: presence.Available}, RefreshedAt: now, ExpiresAt: now.Add(time.Hour)},
			{ID: "6dcddc99-5a7f-430c-a555-551d652a37b1:phone", Pair: presence.Pair{Availability: presence.Busy, Activity: presence.InACall}, RefreshedAt: now.Add(-time.Minute), ExpiresAt: now.Add(4 * time.Hour)},
		}, Seq: presence.Stamp{At: now.UnixNano(), N: 3}, LastWrite: now},
		"unknown value written out": {Sessions: []presence.Session{
			{ID: "x", Pair: presence.Pair{Availability: "Sleepy", Activity: strings.Repeat("z", 300)}, RefreshedAt: now, ExpiresAt: now.Add(time.Minute)},
		}},
		"everything": {
			Sessions:    []presence.Session{{ID: "a", Pair: presence.Pair{Availability: presence.Away, Activity: presence.Away}, RefreshedAt: now, ExpiresAt: now.Add(time.Hour)}},
			Preferred:   &presence.Preferred{Pair: presence.Pair{Availability: presence.Offline, Activity: presence.OffWork}, SetAt: now, ExpiresAt: now.Add(24 * time.Hour)},
			Status:      &presence.StatusMessage{Content: "on leave", ContentType: "text", Expiry: &presence.DateTimeTimeZone{DateTime: "2026-12-01T10:00:00", TimeZone: "UTC"}, ExpiresAt: now.Add(48 * time.Hour), PublishedAt: now},
			Events:      []presence.Event{{Start: now, End: now.Add(time.Hour), ShowAs: "busy", IsMeeting: true}},
			AutoReplies: &presence.AutoReplies{Status: presence.RepliesScheduled, ScheduledStart: now, ScheduledEnd: now.Add(time.Hour), InternalReplyMessage: msg},
			Seq:         presence.Stamp{At: now.UnixNano()},
			LastWrite:   now,
		},
		// UnixNano covers only the years 1678–2262; a status message may
		// expire in 9999.
		"beyond UnixNano": {
			Preferred: &presence.Preferred{Pair: presence.Pair{Availability: presence.Busy, Activity: presence.Busy}, SetAt: time.Date(1600, 1, 1, 0, 0, 0, 1, time.UTC), ExpiresAt: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)},
			Status:    &presence.StatusMessage{Content: "away for a while", ContentType: "text", Expiry: &presence.DateTimeTimeZone{DateTime: "9999-12-31T23:59:59.9999999", TimeZone: "UTC"}, ExpiresAt: time.Date(9999, 12, 31, 23, 59, 59, 999999900, time.UTC), PublishedAt: now},
			Events:    []presence.Event{{Start: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), End: now, ShowAs: "oof", IsAllDay: true}, {Start: now, End: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), ShowAs: "somethingNew"}},
		},
	}
	for name, f := range cases {
		b := tab.cache().appendFacts(nil, f)
		got, err := tab.cache().decode(string(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, f) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", name, got, f)
		}
		if name == "two sessions" && len(b) > 72 {
			t.Errorf("two sessions take %d bytes", len(b))
		}
		// As a cache entry, with its revision in front.
		for _, rev := range []uint64{1, 127, 128, 1 << 40, math.MaxUint64} {
			if e := tab.newEntry(rev, f); e.rev() != rev || e.data() != string(b) {
				t.Errorf("%s: entry at %d reads as revision %d, %d bytes of facts", name, rev, e.rev(), len(e.data()))
			}
		}
	}
	var never entry
	if never.rev() != 0 || never.data() != "" {
		t.Errorf("never written: revision %d, facts %q", never.rev(), never.data())
	}
}

// The reader's varints are encoding/binary's.
func FuzzCompactVarint(f *testing.F) {
	for _, v := range []uint64{0, 1, 127, 128, 1<<63 - 1, math.MaxUint64} {
		f.Add(binary.AppendUvarint(nil, v))
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02})
	f.Add([]byte{0x80, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := reader{s: string(b)}
		got := r.uvarint()
		want, n := binary.Uvarint(b)
		if (n <= 0) != (r.err != nil) || n > 0 && (got != want || len(r.s) != len(b)-n) {
			t.Fatalf("% x: reader %d (err %v, %d left), binary %d (n %d)", b, got, r.err, len(r.s), want, n)
		}
		r = reader{s: string(b)}
		gotS := r.varint()
		wantS, n := binary.Varint(b)
		if (n <= 0) != (r.err != nil) || n > 0 && gotS != wantS {
			t.Fatalf("% x: reader %d (err %v), binary %d (n %d)", b, gotS, r.err, wantS, n)
		}
	})
}

// FuzzCompactDecode: corrupt bytes give an error, never a panic.
func FuzzCompactDecode(f *testing.F) {
	var tab sessionIDTable
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	b := tab.cache().appendFacts(nil, presence.Facts{Sessions: []presence.Session{{ID: "a", Pair: presence.Pair{Availability: "Busy", Activity: "InACall"}, RefreshedAt: now, ExpiresAt: now}}})
	f.Add(b)
	f.Add([]byte{1, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = tab.cache().decode(string(b))
	})
}

// TestCodeOf checks codeOf (a switch) against values, the frozen table the
// engine's records index: every value at its index, and nothing else,
// including the values in another case, with a byte changed, cut short or
// lengthened.
func TestCodeOf(t *testing.T) {
	for i, v := range values {
		if c, ok := codeOf(v); !ok || int(c) != i {
			t.Errorf("codeOf(%q) = %d, %v; values has it at %d", v, c, ok, i)
		}
		var others []string
		if v != "" {
			others = append(others, strings.ToLower(v), strings.ToUpper(v), v[:len(v)-1], v+" ", "x"+v[1:])
		}
		for _, o := range others {
			if slicesIndex(values, o) >= 0 {
				continue
			}
			if c, ok := codeOf(o); ok {
				t.Errorf("codeOf(%q) = %d, true; not a value", o, c)
			}
		}
	}
	if len(values) != 30 {
		t.Errorf("values has %d entries: codeOf knows 30", len(values))
	}
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// TestSessionIDTableConcurrent numbers ids from four goroutines at once,
// past the frozen index's copy at each id (maxFrozenEachID) and past
// maxSessionIDs, while they read them back: each id one number for good,
// each number its id, found with or without the lock (run with -race).
func TestSessionIDTableConcurrent(t *testing.T) {
	var tab sessionIDTable
	const ids = maxSessionIDs + 100
	name := func(i int) string { return fmt.Sprintf("7c9e6679-7425-40de-944b-e07fc1f90ae7:%d", i) }
	got := make([][]uint32, 4)
	var wg sync.WaitGroup
	for g := range got {
		got[g] = make([]uint32, ids)
		wg.Go(func() {
			for i := range ids {
				j := i
				if g%2 == 1 {
					j = ids - 1 - i // from the other end
				}
				n, ok := tab.number(name(j))
				if !ok {
					n = math.MaxUint32
				} else if s, ok := tab.id(uint64(n)); !ok || s != name(j) {
					t.Errorf("id(%d) = %q, %v; numbered %q", n, s, ok, name(j))
					return
				}
				got[g][j] = n
				if i%7 == 0 { // and one numbered before, again
					k := j / 2
					if m, ok := tab.number(name(k)); ok && got[g][k] != math.MaxUint32 && got[g][k] != 0 && m != got[g][k] {
						t.Errorf("%q numbered %d, then %d", name(k), got[g][k], m)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	numbered := 0
	for j := range ids {
		for g := range got {
			if got[g][j] != got[0][j] {
				t.Fatalf("%q numbered %d and %d", name(j), got[0][j], got[g][j])
			}
		}
		if got[0][j] != math.MaxUint32 {
			numbered++
		}
	}
	if numbered != maxSessionIDs {
		t.Errorf("%d ids numbered, want %d", numbered, maxSessionIDs)
	}
	if v := tab.pub.Load(); v == nil || len(v.ids) != maxSessionIDs || len(v.idx) < maxSessionIDs/2 {
		t.Errorf("published view: %d ids, %d indexed; want %d, at least %d", len(v.ids), len(v.idx), maxSessionIDs, maxSessionIDs/2)
	}
}
