package main

import (
	"log/slog"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The server's default collector policy (--memory-limit auto, the
// default): GOGC=100 (defaultGCPercent) and a soft memory limit derived
// from the live heap, so that the headroom over what the server keeps is
// the whole live heap on a small server and a quarter of it on a large
// one.
//
// A large presenced's heap is nearly all long-lived (the directory, every
// user's cached presence, the engine's index), and what GOGC lets it grow
// to is a multiple of it: at a million users GOGC=50 alone held 715–886 B
// of RSS per user for 440–470 B live, at ten million 619–662 B for
// ~380–410 B (docs/performance.md, "A memory limit from the live heap").
// A limit of live + autoLimitShare × live has the collector run earlier on
// a large heap and the scavenger hand back what it frees: the memory a
// user costs then no longer depends on GOGC. On a small heap a headroom of
// a quarter would mean collections all the time for a few megabytes, so
// the headroom is never under autoLimitHeadroom: under ~64 MiB live the
// limit is above GOGC=100's goal (twice the live heap) and GOGC alone
// decides, as in the load tool's 10,000-user server and in BenchmarkHTTP
// (whose in-process server runs at the test's GOGC=100).
//
// It is re-derived every autoLimitEvery from the live heap the last
// collection found, so it follows a heap that grows (a limit under the
// live heap would have the collector run back to back, its share of CPU
// capped by the runtime at about half).
const (
	autoLimitShare    = 0.25
	autoLimitHeadroom = 64 << 20
	autoLimitEvery    = 2 * time.Second
)

// autoLimit is the limit for a live heap of live bytes: live plus the
// larger of autoLimitShare of it and autoLimitHeadroom.
func autoLimit(live uint64) int64 {
	l := float64(live) + max(float64(live)*autoLimitShare, autoLimitHeadroom)
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

// deriveLimit sets the limit from the live heap now and returns the limit
// in force. It is set whenever it differs (a cheap call every
// autoLimitEvery): with a quarter of the live heap as headroom, leaving it
// up to a sixteenth stale, as this did when the headroom was 0.4, would
// take a quarter of the headroom away (measured at a million users: the
// heap goal 7 % over the live heap, the collector nearly always on).
func deriveLimit() int64 {
	cur := debug.SetMemoryLimit(-1)
	live := liveHeap()
	if live == 0 {
		return cur
	}
	if want := autoLimit(live); want != cur {
		debug.SetMemoryLimit(want)
		return want
	}
	return cur
}

// followLiveHeap keeps the limit derived from the live heap until stop is
// closed, then takes it off.
func followLiveHeap(stop <-chan struct{}, log *slog.Logger) {
	first := deriveLimit()
	log.Info("memory limit", "bytes", first, "derived", "from the live heap", "headroom", autoLimitShare)
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
