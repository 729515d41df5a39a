package main

import (
	"io"
	"log/slog"
	"math"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The default limit follows the live heap the runtime measures: 1.25 × a
// large one, re-derived when it grows (never left under it) and when it
// shrinks; on a small heap never under 64 MiB over it (GOGC decides
// there); off when the server stops.
func TestLimitFollowsTheLiveHeap(t *testing.T) {
	orig := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(orig)

	// A window of one reading: each derivation sees only the heap now
	// (TestWindowLimit has the window's own rules).
	derive := func() (live uint64, limit int64) {
		runtime.GC()
		var w liveWindow
		return liveHeap(), deriveLimit(&w)
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
	want := int64(float64(live) * (1 + autoLimitShare))
	if live < 400<<20 || lim < want-int64(live)/16 || lim > want+1 {
		t.Fatalf("live %d: limit %d, want %d (%.2f ×)", live, lim, want, 1+autoLimitShare)
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

// The limit follows the least live heap of the last autoLimitWindow
// readings (what the collector marks under writes includes what was
// allocated meanwhile), never under a 32nd over the latest.
func TestWindowLimit(t *testing.T) {
	const mb = 1e6
	var w liveWindow
	for _, c := range []struct {
		live uint64
		want int64
	}{
		{443 * mb, autoLimit(443 * mb)},
		{542 * mb, 542 * mb * 33 / 32}, // a busy collector's reading: the least, but not under a 32nd over it
		{450 * mb, autoLimit(443 * mb)},
		{700 * mb, 700 * mb * 33 / 32},  // grown past the window's least: never under a 32nd over it
		{460 * mb, autoLimit(450 * mb)}, // four readings on, 443 is forgotten
		{470 * mb, autoLimit(450 * mb)},
		{480 * mb, autoLimit(460 * mb)},
		{20 * mb, autoLimit(20 * mb)}, // a small heap: the 64 MiB floor of autoLimit
	} {
		w.add(c.live)
		if got := windowLimit(&w, c.live); got != c.want {
			t.Fatalf("reading %d (%d): limit %d, want %d", w.n, c.live, got, c.want)
		}
	}
}

// The policy a live heap gets: GOGC's goal (twice the live heap at the
// default GOGC=100) decides below 64 MiB live, where the limit is above
// it; a flat 64 MiB of headroom from there to 256 MiB; a quarter of the
// live heap above (1M users: ~450 MB live, ~560 MB; 10M: ~4 GB, 5 GB).
func TestAutoLimit(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live     uint64
		want     int64
		gogcGoal bool // the limit is at or above GOGC=100's goal
	}{
		{0, autoLimitHeadroom, true},
		{10 * mib, 74 * mib, true},  // the load tool's 10,000-user server
		{64 * mib, 128 * mib, true}, // the turn: GOGC's goal is the limit
		{100 * mib, 164 * mib, false},
		{256 * mib, 320 * mib, false}, // a quarter is the 64 MiB floor
		{450e6, 562.5e6, false},       // ~1M users
		{1 << 30, 1342177280, false},
		{4e9, 5e9, false}, // ~10M users
		{math.MaxUint64, math.MaxInt64, false},
	} {
		got := autoLimit(c.live)
		if got != c.want {
			t.Errorf("live %d: %d, want %d", c.live, got, c.want)
		}
		if goal := 2 * float64(c.live); (float64(got) >= goal) != c.gogcGoal {
			t.Errorf("live %d: limit %d against GOGC=100's goal %.0f: GOGC decides %v, want %v", c.live, got, goal, float64(got) >= goal, c.gogcGoal)
		}
	}
}

// A served process derives its limit from the live heap with no flag (the
// default), and not with --memory-limit 0. The demo server's heap is a few
// megabytes, so its limit is the 64 MiB floor over it: GOGC decides there.
func TestServeDerivesTheLimitByDefault(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "off") // the runtime's "none", whatever the caller's environment says
	limitRE := regexp.MustCompile(`msg="memory limit" bytes=([0-9]+) derived="from the live heap"`)
	for _, c := range []struct {
		flags   []string
		derived bool
	}{{nil, true}, {[]string{"--memory-limit", "0"}, false}} {
		args := append([]string{"serve", "--dev", "--demo-users", "0", "--addr", "127.0.0.1:0", "--data", t.TempDir()}, c.flags...)
		srv, _ := startChild(t, args...)
		// The line is written right after the welcome; a stop waits for
		// the process to exit, so everything it logged is there after.
		// Without the default, give it as long as the default takes
		// (2 s, where it takes milliseconds) to show it logs nothing.
		wait := 30 * time.Second
		if !c.derived {
			wait = 2 * time.Second
		}
		var m []string
		for deadline := time.Now().Add(wait); m == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			m = limitRE.FindStringSubmatch(srv.stderr.String())
		}
		srv.stop(t, syscall.SIGTERM)
		if m == nil {
			m = limitRE.FindStringSubmatch(srv.stderr.String())
		}
		if (m != nil) != c.derived {
			t.Fatalf("%v: derived limit logged %v, want %v:\n%s", c.flags, m != nil, c.derived, srv.stderr.String())
		}
		if m == nil {
			continue
		}
		if b, _ := strconv.ParseInt(m[1], 10, 64); b < autoLimitHeadroom || b > autoLimitHeadroom+64<<20 {
			t.Errorf("the demo server's derived limit %d, want the 64 MiB floor over a heap of a few MB", b)
		}
	}
}
