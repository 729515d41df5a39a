package main

import (
	"log/slog"
	"math"
	"runtime/debug"
	"time"

	"github.com/presenced/presenced/clock"
)

// The collector during a start. A large server's start allocates nearly
// only what it keeps (the directory, every user's cached presence, the
// engine's index): at ten million users ~4 GB live. With GOGC=50 the heap
// grows to it through a geometric series of collections, each marking all
// that was kept so far (about three times the final heap in all) and
// slowing the loading goroutines (and nats-server's recovery) with mark
// assists: ~2.7 s of a 10M start's CPU (docs/performance.md, "Restarting
// at 10 million users, round two"). So the start runs with collections
// off, bounded by a memory limit (the operator's, else half the
// machine's memory: past it the runtime collects as near any limit), and
// the one collection it needs runs before the server says it listens.

// startBound is the memory limit a start runs under with collections
// off, when the operator set none: half the machine's memory, enough for
// a start's garbage (a 10M start peaks ~2 GB above what it keeps) and far
// from the machine's end.
func startBound(limit int64, machine func() (int64, error)) (int64, bool) {
	if limit != math.MaxInt64 {
		return limit, true
	}
	t, err := machine()
	if err != nil || t <= 0 {
		return 0, false
	}
	return t / 2, true
}

// collectorOffForStart turns the collector off until the returned
// function runs (once Start has returned): that function collects once,
// hands the free memory back to the system, and puts back the GOGC and
// memory limit in force before (limit: math.MaxInt64 for none). When no
// bound can be had (no machine memory known, no limit), the collector
// stays as it is.
func collectorOffForStart(limit int64, machine func() (int64, error), log *slog.Logger, clk clock.Clock) (done func()) {
	bound, ok := startBound(limit, machine)
	if !ok {
		return func() { debug.FreeOSMemory() }
	}
	percent := debug.SetGCPercent(-1)
	debug.SetMemoryLimit(bound)
	return func() {
		start := clk.Now()
		// A full collection, with the start's garbage returned to the
		// system (also what the start did before: decoding a directory
		// file allocates about ten times what the directory keeps).
		debug.FreeOSMemory()
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
		log.Info("start's collection", "took", clock.Since(clk, start).Round(time.Millisecond))
	}
}
