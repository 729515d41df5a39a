package core

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
)

// TestAppendTimeNear: appendTime's shortcut for times of 1900–2100 with no
// UTC offset writes the very bytes of the general encoding
// (appendAnyTime), in both forms, for times near and far, with and without
// a base, in and out of UTC, with and without monotonic readings — the
// bounds included, where a difference of two times would saturate.
func TestAppendTimeNear(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 3))
	zones := []*time.Location{time.UTC, time.FixedZone("", 0), time.FixedZone("", 3600), time.FixedZone("", -5*3600-1800), time.Local}
	bound := func() time.Time {
		s := []int64{-2208988800, 4102444800}[r.IntN(2)] + r.Int64N(3) - 1
		return time.Unix(s, r.Int64N(2)*999_999_999)
	}
	anyTime := func() time.Time {
		var t time.Time
		switch r.IntN(5) {
		case 0: // anywhere from year 1000 to 3000
			t = time.Unix(r.Int64N(63_000_000_000)-31_000_000_000, r.Int64N(1e9))
		case 1: // at a bound of the shortcut or of UnixNano's range
			t = bound()
			if r.IntN(2) == 0 {
				t = time.Unix(0, []int64{-1 << 63, 1<<63 - 1}[r.IntN(2)]).Add(time.Duration(r.Int64N(3) - 1))
			}
		case 2: // a reading of the clock, with its monotonic part
			return clock.Real{}.Now().Add(time.Duration(r.Int64N(1e15) - 5e14))
		default: // this decade
			t = time.Unix(1_700_000_000+r.Int64N(500_000_000), r.Int64N(1e9))
		}
		return t.In(zones[r.IntN(len(zones))])
	}
	for _, c := range []codec{stored, {}} {
		for range 200_000 {
			tm, base := anyTime(), time.Time{}
			switch r.IntN(4) {
			case 0:
			case 1:
				base = anyTime()
			default: // an expiry after its refresh
				base = tm
				tm = tm.Add(time.Duration(r.Int64N(int64(48 * time.Hour))))
			}
			got, want := c.appendTime(nil, tm, base), c.appendAnyTime(nil, tm, base)
			if !bytes.Equal(got, want) {
				t.Fatalf("zones %v: appendTime(%v, %v) = %x, the general encoding %x", c.zones, tm, base, got, want)
			}
		}
	}
}
