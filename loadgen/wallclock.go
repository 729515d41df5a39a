package loadgen

// A load generator measures wall-clock time on purpose: its latencies and
// throughputs are real elapsed time as a client sees it, not server time,
// which in presenced is read through package clock and may be moved forward
// in dev mode. These two functions are the package's only reads of the wall
// clock (monotonic readings, so immune to clock steps); everything else in
// loadgen calls them.

import "time"

// now reads the wall clock (with its monotonic reading).
func now() time.Time { return time.Now() }

// since is the wall-clock time elapsed since t.
func since(t time.Time) time.Duration { return time.Since(t) }
