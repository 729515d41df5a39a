package loadgen

// A load generator measures wall-clock time on purpose: its latencies and
// throughputs are real elapsed time as a client sees it, not server time,
// which in presenced may be moved forward in dev mode. It still reads the
// time through package clock (the real clock, with its monotonic reading, so
// immune to clock steps); these two functions are the package's only reads.

import (
	"time"

	"github.com/presenced/presenced/clock"
)

var wall clock.Real

// now reads the wall clock.
func now() time.Time { return wall.Now() }

// since is the wall-clock time elapsed since t.
func since(t time.Time) time.Duration { return clock.Since(wall, t) }
