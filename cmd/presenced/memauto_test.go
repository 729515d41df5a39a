package main

import (
	"io"
	"log/slog"
	"math"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The default limit follows the live heap the runtime measures: 1.25 × a
// large one, re-derived when it grows (never left under it) and when it
// shrinks; none on a small heap (GOGC decides there); off when the server
// stops.
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
	if small == 0 || small >= autoLimitFrom || lim != math.MaxInt64 {
		t.Fatalf("live %d: limit %d, want none", small, lim)
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
	if after > live/2 || lim2 != math.MaxInt64 {
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
		{20 * mb, math.MaxInt64}, // a small heap: no limit
	} {
		w.add(c.live)
		if got := windowLimit(&w, c.live); got != c.want {
			t.Fatalf("reading %d (%d): limit %d, want %d", w.n, c.live, got, c.want)
		}
	}
}

// The policy a live heap gets: no limit under 128 MiB live, where GOGC's
// goal (twice the live heap at the default GOGC=100) decides; a flat
// 64 MiB of headroom from there to 256 MiB; a quarter of the live heap
// above (1M users: ~450 MB live, ~560 MB; 10M: ~4 GB, 5 GB).
func TestAutoLimit(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live     uint64
		want     int64
		gogcGoal bool // the limit is at or above GOGC=100's goal
	}{
		{0, math.MaxInt64, true},
		{10 * mib, math.MaxInt64, true},  // the load tool's 10,000-user server
		{80e6, math.MaxInt64, true},      // a cluster node with 1,000 users under writes
		{127 * mib, math.MaxInt64, true}, // GOGC alone up to here
		{128 * mib, 192 * mib, false},    // the turn: 1.5 × the live heap
		{200 * mib, 264 * mib, false},
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
// megabytes, so it derives none: GOGC decides there.
func TestServeDerivesTheLimitByDefault(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "off") // the runtime's "none", whatever the caller's environment says
	// The demo's heap is under autoLimitFrom: the line says there is none,
	// in words (it said bytes=9223372036854775807, the runtime's none).
	limitRE := regexp.MustCompile(`msg="memory limit" limit=none derived="from the live heap" why="the live heap \([0-9]+ MiB\) is under 128 MiB: GOGC alone paces the collector until it grows past that"`)
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
		if out := srv.stderr.String(); strings.Contains(out, strconv.FormatInt(math.MaxInt64, 10)) {
			t.Errorf("%v: the log names the runtime's none as a number of bytes:\n%s", c.flags, out)
		}
	}
}

// On a heap under autoLimitFrom the derived policy leaves the collector's
// goal where GOGC alone puts it. Before, the derived limit was live +
// 64 MiB of all the memory the runtime holds (stacks, the collector's
// metadata, spans not yet handed back beside the heap): under GOGC=100's
// goal plus that from ~40 MiB live, so a cluster node at 40–80 MB live
// collected 1.5–2 × as often as GOGC has it, and back to back while its
// heap grew (docs/performance.md, "The collector's limit and a cluster
// node's heap"). Here 90 MiB live: the old policy's goal was 144 MiB
// against GOGC's 180 (the runtime's own goal, /gc/heap/goal:bytes, which
// counts the limit).
func TestSmallHeapCollectsAsGOGCAlone(t *testing.T) {
	orig := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(orig)
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	kept := make([][]byte, 90)
	for i := range kept {
		kept[i] = make([]byte, 1<<20)
	}
	runtime.GC()
	alone := heapGoal()
	var w liveWindow
	lim := deriveLimit(&w)
	derived := heapGoal()
	live := liveHeap()
	runtime.KeepAlive(kept)
	if live >= autoLimitFrom || live < 90<<20 {
		t.Fatalf("live heap %d: the test wants one of ~90 MiB", live)
	}
	if derived < alone {
		t.Fatalf("live heap %d MiB: the collector's goal %d MiB with the derived limit (%d), %d MiB with none", live>>20, derived>>20, lim, alone>>20)
	}
}

// heapGoal is the heap size at which the runtime starts its next
// collection, the memory limit counted.
func heapGoal() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
