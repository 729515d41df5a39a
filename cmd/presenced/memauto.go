package main

import (
	"fmt"
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
// the headroom is never under autoLimitHeadroom, and under autoLimitFrom
// of live heap there is no limit at all: GOGC alone decides, as in the
// load tool's 10,000-user server, a cluster node of a few thousand users
// and BenchmarkHTTP (whose in-process server runs at the test's GOGC=100).
//
// Why no limit there rather than the floor alone: the limit bounds all the
// memory the runtime holds, not the heap — stacks, the collector's own
// metadata, spans not yet handed back: 20–40 MB in a cluster node — so a
// limit of live + 64 MiB is under GOGC=100's goal plus that from ~40 MiB
// live, and the collector ran 1.5–2 × as often as GOGC has it; and while
// the heap grows (a node's first minute of writes) the limit, derived from
// the last readings, trails it and the collector ran back to back, 10–17
// collections a second. A cluster node's live heap is 40–80 MB with 1,000
// users (its replicas' stores and Raft logs beside the cache): there the
// derived limit cost 5–10 µs of a node's CPU per write, and 50 µs while
// the heap grew (docs/performance.md, "The collector's limit and a
// cluster node's heap").
//
// It is re-derived every autoLimitEvery from the live heap the recent
// collections found (liveWindow), so it follows a heap that grows (a limit under the
// live heap would have the collector run back to back, its share of CPU
// capped by the runtime at about half).
const (
	autoLimitShare    = 0.25
	autoLimitHeadroom = 64 << 20
	autoLimitFrom     = 128 << 20
	autoLimitEvery    = 2 * time.Second
)

// autoLimit is the limit for a live heap of live bytes: none
// (math.MaxInt64) under autoLimitFrom, else live plus the larger of
// autoLimitShare of it and autoLimitHeadroom.
func autoLimit(live uint64) int64 {
	if live < autoLimitFrom {
		return math.MaxInt64
	}
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

// liveWindow is the live heap of the last few readings. Under writes on a
// large heap the collector runs nearly all the time, and what it marks
// live includes what was allocated while it marked (at a million users
// while filling: 542 MB "live" where a forced collection found 443 MB), so
// the limit follows the least of the recent readings: the truest.
type liveWindow struct {
	r [autoLimitWindow]uint64
	n int // readings so far
}

// autoLimitWindow readings, autoLimitEvery apart: ~8 s.
const autoLimitWindow = 4

func (w *liveWindow) add(v uint64) {
	w.r[w.n%autoLimitWindow] = v
	w.n++
}

func (w *liveWindow) min() uint64 {
	m := uint64(math.MaxUint64)
	for i := range min(w.n, autoLimitWindow) {
		m = min(m, w.r[i])
	}
	return m
}

// windowLimit is the limit for the readings in w, the latest being live:
// autoLimit of the least, never under a thirty-second over the latest (a
// heap that grew past the window's least — a start's check walk loading
// the engine's per-block state — is not to be held under what it keeps
// until the window forgets; a larger floor would undo the window, the
// busy collector's readings being ~20 % over the truth).
func windowLimit(w *liveWindow, live uint64) int64 {
	floor := float64(live) * (1 + 1.0/32)
	if floor >= math.MaxInt64 {
		return math.MaxInt64
	}
	return max(autoLimit(w.min()), int64(floor))
}

// deriveLimit adds the live heap now to w, sets the limit from it and
// returns the limit in force. It is set whenever it differs (a cheap call
// every autoLimitEvery): with a quarter of the live heap as headroom,
// leaving it up to a sixteenth stale, as this did when the headroom was
// 0.4, would take a quarter of the headroom away.
func deriveLimit(w *liveWindow) int64 {
	cur := debug.SetMemoryLimit(-1)
	live := liveHeap()
	if live == 0 {
		return cur
	}
	w.add(live)
	if want := windowLimit(w, live); want != cur {
		debug.SetMemoryLimit(want)
		return want
	}
	return cur
}

// followLiveHeap keeps the limit derived from the live heap until stop is
// closed, then takes it off.
func followLiveHeap(stop <-chan struct{}, log *slog.Logger) {
	var w liveWindow
	first := deriveLimit(&w)
	if first == math.MaxInt64 {
		// Said in words: bytes=9223372036854775807 (the runtime's "none")
		// read as a limit of 9 EB.
		log.Info("memory limit", "limit", "none", "derived", "from the live heap",
			"why", fmt.Sprintf("the live heap (%d MiB) is under %d MiB: GOGC alone paces the collector until it grows past that", liveHeap()>>20, autoLimitFrom>>20))
	} else {
		log.Info("memory limit", "bytes", first, "derived", "from the live heap", "headroom", autoLimitShare)
	}
	t := time.NewTicker(autoLimitEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			debug.SetMemoryLimit(math.MaxInt64)
			return
		case <-t.C:
			deriveLimit(&w)
		}
	}
}
