package main

import (
	"log/slog"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// A memory limit derived from the live heap (--memory-limit auto), so
// that a large server's RSS stays near what it keeps without the operator
// choosing a number. Not the default: at a million users it had the
// collector run 2–3 × as often under writes (docs/performance.md, "A
// memory limit from the live heap"). With GOGC=50 alone the
// heap may grow to 1.5 × the live heap, and the pages it frees linger
// before the scavenger returns them: at ten million users 640–662 B of
// RSS per user while the engine is busy, for ~410 B live. A soft limit of
// autoLimitFactor × the live heap has the collector run earlier on a
// large heap and the scavenger hand back what it frees.
//
// It is re-derived every autoLimitEvery from the live heap the last
// collection found, so it follows a heap that grows (a limit under the
// live heap would have the collector run back to back, its share of CPU
// capped by the runtime at about half); and it never takes the collector
// below GOGC's pace by more than the factor says: never less than
// autoLimitHeadroom over the live heap, so on a small heap (under ~160 MB)
// GOGC alone decides, as before.
const (
	autoLimitFactor   = 1.4
	autoLimitHeadroom = 64 << 20
	autoLimitEvery    = 2 * time.Second
)

// autoLimit is the limit for a live heap of live bytes.
func autoLimit(live uint64) int64 {
	l := max(float64(live)*autoLimitFactor, float64(live)+autoLimitHeadroom)
	if l >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(l)
}

// liveHeap is the heap the last collection marked live.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// deriveLimit sets the limit from the live heap now, unless it moved by
// less than a sixteenth, and returns the limit in force.
func deriveLimit() int64 {
	cur := debug.SetMemoryLimit(-1)
	live := liveHeap()
	if live == 0 {
		return cur
	}
	want := autoLimit(live)
	if d := want - cur; cur != math.MaxInt64 && d < cur/16 && -d < cur/16 {
		return cur
	}
	debug.SetMemoryLimit(want)
	return want
}

// followLiveHeap keeps the limit derived from the live heap until stop is
// closed, then takes it off.
func followLiveHeap(stop <-chan struct{}, log *slog.Logger) {
	first := deriveLimit()
	log.Info("memory limit", "bytes", first, "derived", "from the live heap", "factor", autoLimitFactor)
	t := time.NewTicker(autoLimitEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			debug.SetMemoryLimit(math.MaxInt64)
			return
		case <-t.C:
			deriveLimit()
		}
	}
}
