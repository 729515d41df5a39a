package presenced_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/benchenv"
	"github.com/presenced/presenced/presence"
)

// BenchmarkScaleFill writes the data of BenchmarkScale's process part —
// the generated directory and two live sessions for each of n users —
// without HTTP, so that 10,000,000 users can be filled on the 2-core box
// (over HTTP, 2 × 10 M setPresence at ~1–2 k/s would take hours; issue
// #16 points 1, 2 and 6):
//
//	PRESENCED_SCALE_FILL=DIR PRESENCED_SCALE_USERS=10000000 go test -run '^$' -bench BenchmarkScaleFill -benchtime 1x -timeout 0 .
//
// It leaves DIR as PRESENCED_SCALE_KEEP would (data/ and the binary, but
// no directory.json: the directory is the engine's, as after `presenced
// directory import`), ready for BenchmarkScaleMemory, BenchmarkScaleRestart
// and BenchmarkScaleRead, which then start the server without
// --directory.
//
// Nothing is written by hand: the data is the server's own. An in-process
// presenced.Server on DIR/data (non-dev, as `presenced serve` runs)
// imports the directory (Config.Directory: the same dirstore import
// `--directory FILE` and `presenced directory import` run) and is stopped,
// which saves the directory snapshot; a second one on the same data then
// applies the writes through its core.Do — what the setPresence handler
// calls once the request is authorised and decoded — with the same
// command the HTTP fill sends (session <daemon>:a Available/Available for
// every user, then <daemon>:b Busy/InACall, PT4H), and is stopped
// gracefully (its cache and directory saved). BenchmarkScaleFillEquivalence
// checks that a server on such data answers as on an HTTP fill's.
func BenchmarkScaleFill(b *testing.B) {
	dir := os.Getenv("PRESENCED_SCALE_FILL")
	if dir == "" {
		b.Skip("PRESENCED_SCALE_FILL=DIR names an empty or new directory to fill")
	}
	n := scaleUsers(b)
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		b.Fatalf("PRESENCED_SCALE_FILL=%s: want a directory that is empty or does not exist yet", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(dir, "presenced")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/presenced").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	scaleDirectFill(b, filepath.Join(dir, "data"), n)
	scaleLog("load average: %s", loadAverage())
}

// scaleDirectoryFile is writeScaleDirectory's directory as a File: the
// demo tenants, apps and users plus n generated users of the demo tenant.
func scaleDirectoryFile(n int) *directory.File {
	tenants, users, apps := directory.DemoData()
	f := &directory.File{Tenants: tenants, Applications: apps, Users: make([]directory.UserEntry, 0, len(users)+n)}
	f.Users = append(f.Users, users...)
	for i := range n {
		f.Users = append(f.Users, directory.UserEntry{ID: scaleUserID(i), TenantID: directory.DemoTenantID,
			UserPrincipalName: "user" + strconv.Itoa(i) + "@contoso.dev", DisplayName: "User " + strconv.Itoa(i)})
	}
	return f
}

// scaleDirectFill fills data (a new data directory) as described at
// BenchmarkScaleFill and returns the writes' rate.
func scaleDirectFill(b *testing.B, data string, n int) float64 {
	// The fill holds the directory file's entries, the server's directory,
	// its cache and the engine: bounded so that the box does not swap.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(fillMemoryLimit()))
	ctx := context.Background()
	start := time.Now()
	f := scaleDirectoryFile(n)
	// PRESENCED_SCALE_PARTITIONS=P makes the engine with P presence
	// buckets (stored at creation; the second server below reads it back).
	parts, _ := strconv.Atoi(os.Getenv("PRESENCED_SCALE_PARTITIONS"))
	srv, err := presenced.New(presenced.Config{Addr: "127.0.0.1:0", DataDir: data, Directory: f, Logger: quiet, Partitions: parts})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		b.Fatal(err)
	}
	if got := srv.Directory().UserCount(); got < n {
		b.Fatalf("directory: %d users after the import, want ≥ %d", got, n)
	}
	if err := srv.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
	f, srv = nil, nil
	runtime.GC()
	scaleLog("direct fill: directory of %d users imported in %v (peak RSS of this process so far %s)", n, time.Since(start).Round(time.Millisecond), peakRSS())

	srv, err = presenced.New(presenced.Config{Addr: "127.0.0.1:0", DataDir: data, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		b.Fatal(err)
	}
	c := srv.Core()
	app := directory.DemoDaemonClientID
	cmds := []presence.SetPresence{
		{SessionID: app + ":a", Pair: presence.Pair{Availability: presence.Available, Activity: presence.Available}, Expiration: 4 * time.Hour},
		{SessionID: app + ":b", Pair: presence.Pair{Availability: presence.Busy, Activity: presence.InACall}, Expiration: 4 * time.Hour},
	}
	workers := 256
	workers = benchenv.Int("PRESENCED_SCALE_FILL_WORKERS", workers, 1)
	t, cpu0 := time.Now(), processCPU()
	var next, done atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(30 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				d := done.Load()
				scaleLog("  direct fill: %d/%d writes (%.0f/s), peak RSS %s, load %s", d, 2*n, float64(d)/time.Since(t).Seconds(), peakRSS(), loadAverage())
			}
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for failed.Load() == nil {
				j := int(next.Add(1)) - 1
				if j >= 2*n {
					return
				}
				// First every user's session a, then every user's session
				// b, as the HTTP fill sends them.
				if _, _, err := c.Do(ctx, scaleRef(j%n), cmds[j/n]); err != nil {
					failed.Store(fmt.Errorf("write %d: %w", j, err))
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	took, cpu := time.Since(t), processCPU()-cpu0
	rate := float64(2*n) / took.Seconds()
	scaleLog("direct fill: the writes' CPU (this process, the engine in it) %v: %.1f µs a write", cpu.Round(time.Millisecond), float64(cpu.Microseconds())/float64(2*n))
	ss := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
	scaleLog("direct fill: %d users × 2 sessions through core.Do (%d workers) in %v: %.0f writes/s; stopped (cache and directory saved) in %v; peak RSS of this process %s",
		n, workers, took.Round(time.Millisecond), rate, time.Since(ss).Round(time.Millisecond), peakRSS())
	b.ReportMetric(rate, "writes/s")
	return rate
}

// fillMemoryLimit is the fill's soft memory limit: PRESENCED_SCALE_FILL_LIMIT
// (bytes, or with a GiB suffix), by default 12 GiB.
func fillMemoryLimit() int64 {
	s := os.Getenv("PRESENCED_SCALE_FILL_LIMIT")
	if g, ok := strings.CutSuffix(s, "GiB"); ok {
		if v, err := strconv.ParseFloat(g, 64); err == nil {
			return int64(v * (1 << 30))
		}
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil && v > 0 {
		return v
	}
	return 12 << 30
}

// peakRSS is this process's VmHWM.
func peakRSS() string {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	var kb int64
	for _, line := range strings.Split(string(raw), "\n") {
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
			return fmt.Sprintf("%.1f GB", float64(kb)*1024/1e9)
		}
	}
	return "?"
}

// keptDirectoryFile is the directory file of the data a benchmark kept in
// dir, or "" when there is none (BenchmarkScaleFill's: the directory is
// the engine's, and the server starts without --directory).
func keptDirectoryFile(dir string) string {
	file := filepath.Join(dir, "directory.json")
	if _, err := os.Stat(file); err != nil {
		return ""
	}
	return file
}

// scaleWait bounds how long the scale benchmarks wait for a start or the
// cache's walk: 5 minutes a million users, at least 5 minutes.
func scaleWait() time.Duration {
	n := 0
	if s, err := strconv.Atoi(strings.ReplaceAll(os.Getenv(scaleEnv), "_", "")); err == nil {
		n = s
	}
	return max(5*time.Minute, time.Duration(n/1_000_000)*5*time.Minute)
}
