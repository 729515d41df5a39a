package main

import (
	"io"
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"testing"
)

// The default limit follows the live heap the runtime measures: 1.4 × a
// large one, re-derived when it grows (never left under it) and when it
// shrinks; on a small heap never under 64 MiB over it (GOGC decides
// there); off when the server stops.
func TestLimitFollowsTheLiveHeap(t *testing.T) {
	orig := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(orig)

	derive := func() (live uint64, limit int64) {
		runtime.GC()
		return liveHeap(), deriveLimit()
	}
	small, lim := derive()
	if small == 0 || lim < int64(small)+autoLimitHeadroom || lim > int64(small)+autoLimitHeadroom+int64(small)/8 {
		t.Fatalf("live %d: limit %d, want %d + 64 MiB", small, lim, small)
	}
	if got := debug.SetMemoryLimit(-1); got != lim {
		t.Fatalf("the runtime's limit %d, derived %d", got, lim)
	}
	kept := make([]byte, 400<<20) // the heap grows past the limit
	live, lim := derive()
	if live < 400<<20 || lim < int64(float64(live)*autoLimitFactor)-int64(live)/16 || lim > int64(float64(live)*autoLimitFactor)+1 {
		t.Fatalf("live %d: limit %d, want %.1f ×", live, lim, autoLimitFactor)
	}
	runtime.KeepAlive(kept)
	kept = nil
	after, lim2 := derive()
	if after > live/2 || lim2 >= lim || lim2 < int64(after)+autoLimitHeadroom {
		t.Fatalf("live %d → %d: limit %d → %d", live, after, lim, lim2)
	}

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { followLiveHeap(stop, slog.New(slog.NewTextHandler(io.Discard, nil))); close(done) }()
	close(stop)
	<-done
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("limit %d after the server stopped", got)
	}
}

func TestAutoLimit(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int64
	}{
		{0, autoLimitHeadroom},
		{100 << 20, 164 << 20},
		{1 << 30, 1503238553},
		{4e9, 5.6e9},
		{math.MaxUint64, math.MaxInt64},
	} {
		if got := autoLimit(c.live); got != c.want {
			t.Errorf("live %d: %d, want %d", c.live, got, c.want)
		}
	}
}
