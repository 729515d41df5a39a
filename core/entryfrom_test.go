package core

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
)

// TestAppendEntryFrom: the cache's entry a write makes from the engine's
// value and its layout (appendEntryFrom) is byte for byte the entry
// appendEntry encodes, for random facts of every kind (times zoned, far,
// zero, monotonic; values unknown; ids shared or not), the same in UTC,
// a table of session ids full (ids written out), and the tool's four
// sessions; and it is made from the value, not encoded anew, whenever
// every time is one of the 1900–2100 UTC ones (checked: thousands of
// cases each way).
func TestAppendEntryFrom(t *testing.T) {
	var tab, full sessionIDTable
	for i := range maxSessionIDs {
		full.number(fmt.Sprintf("filler-%d", i))
	}
	r := rand.New(rand.NewPCG(5, uint64(time.Now().UnixNano())))
	var fromValue, anew int
	check := func(tab *sessionIDTable, f presence.Facts) {
		t.Helper()
		var lay layout
		enc := stored
		enc.lay = &lay
		v := enc.appendFacts([]byte{}, f)
		if want := stored.appendFacts(nil, f); !bytes.Equal(v, want) {
			t.Fatalf("the engine's value changed with its layout noted:\n%x\n%x", v, want)
		}
		rev := r.Uint64() >> r.IntN(64)
		got := tab.appendEntryFrom([]byte("prefix"), rev, f, v, &lay)
		want := tab.appendEntry([]byte("prefix"), rev, f)
		if !bytes.Equal(got, want) {
			t.Fatalf("entry from the value:\n%x\nencoded:\n%x\nfacts %+v", got, want, f)
		}
		if lay.slow {
			anew++
		} else {
			fromValue++
		}
	}
	for range 20000 {
		f := randomFacts(r)
		check(&tab, f)
		check(&tab, inUTC(f))
		check(&full, inUTC(f))
	}
	now := time.Now()
	for _, f := range []presence.Facts{fourSessions(), goldenFacts(), goldenWorkLocation(), {},
		{Sessions: []presence.Session{{ID: "a", RefreshedAt: now, ExpiresAt: now.Add(time.Hour)}}, LastWrite: now}} {
		check(&tab, f)
		check(&full, f)
	}
	t.Logf("%d from the value, %d anew", fromValue, anew)
	if fromValue < 1000 || anew < 1000 {
		t.Errorf("%d entries made from the value, %d encoded anew: want both", fromValue, anew)
	}
}
