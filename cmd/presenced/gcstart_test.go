package main

import (
	"errors"
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"testing"

	"github.com/presenced/presenced/clock"
)

// During a start the collector is off, bounded by the operator's limit or
// half the machine's memory; after it, GOGC and the limit are what they
// were. Without a bound it stays on.
func TestCollectorOffForStart(t *testing.T) {
	origGC, origLimit := debug.SetGCPercent(defaultGCPercent), debug.SetMemoryLimit(math.MaxInt64)
	defer func() { debug.SetGCPercent(origGC); debug.SetMemoryLimit(origLimit) }()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	machine := func() (int64, error) { return 8 << 30, nil }
	for _, c := range []struct {
		limit, bound int64
	}{
		{math.MaxInt64, 4 << 30}, // none set: half the machine
		{6 << 30, 6 << 30},       // the operator's
	} {
		debug.SetMemoryLimit(c.limit)
		done := collectorOffForStart(c.limit, machine, quiet, clock.Real{})
		if p := debug.SetGCPercent(-1); p != -1 {
			t.Fatalf("limit %d: GOGC %d during the start, want off", c.limit, p)
		}
		if l := debug.SetMemoryLimit(-1); l != c.bound {
			t.Fatalf("limit %d: bound %d during the start, want %d", c.limit, l, c.bound)
		}
		done()
		if p := debug.SetGCPercent(defaultGCPercent); p != defaultGCPercent {
			t.Fatalf("limit %d: GOGC %d after the start, want %d", c.limit, p, defaultGCPercent)
		}
		if l := debug.SetMemoryLimit(-1); l != c.limit {
			t.Fatalf("limit %d after the start: %d", c.limit, l)
		}
	}
	debug.SetMemoryLimit(math.MaxInt64)
	done := collectorOffForStart(math.MaxInt64, func() (int64, error) { return 0, errors.New("no meminfo") }, quiet, clock.Real{})
	if p := debug.SetGCPercent(defaultGCPercent); p != defaultGCPercent {
		t.Fatalf("no bound: GOGC %d during the start, want it left on", p)
	}
	done()
}
