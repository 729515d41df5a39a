package presenced_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/loadgen"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/presence"
)

// BenchmarkScale measures presenced with many users in one server (issue
// "Measure it", point 3): memory per user with two live sessions each, the
// time to restart and serve again, CPU at idle, and getPresencesByUserId
// with 650 ids. It is slow (minutes at 1,000,000 users) and runs only when
// asked for by name or when PRESENCED_SCALE_USERS is set:
//
//	PRESENCED_SCALE_USERS=100000 go test -run '^$' -bench '^BenchmarkScale$' -benchtime 1x -timeout 0 .
//
// Sub-benchmarks:
//   - process: the real binary (go build ./cmd/presenced) in its own process,
//     non-dev, with a generated directory file; memory is its RSS
//     (/proc/<pid>/status) and the live heap from GODEBUG=gctrace=1, CPU is
//     /proc/<pid>/stat. The load is sent over HTTP from this process.
//   - directory: in-process Go heap of directory.Load for the same file.
//   - core: in-process Go heap of core.Core over a real natsstore engine
//     (file storage) filled through core.Do, split into the core's cache
//     and the engine's own memory.
//
// Figures are reported, never asserted; docs/performance.md has the targets
// and measured numbers.
func BenchmarkScale(b *testing.B) {
	if os.Getenv(scaleEnv) == "" {
		if f := flag.Lookup("test.bench"); f == nil || !strings.Contains(f.Value.String(), "Scale") {
			b.Skip("BenchmarkScale runs only when named in -bench or with " + scaleEnv + " set")
		}
	}
	if f := flag.Lookup("test.benchtime"); f != nil && f.Value.String() != "1x" {
		b.Fatal("BenchmarkScale measures one run: use -benchtime 1x (and -timeout 0)")
	}
	sizes := scaleSizes(b)
	if len(sizes) == 1 {
		scaleOne(b, sizes[0], os.Getenv(scaleKeepEnv))
		return
	}
	// Several sizes (issue #16 point 6): each in a sub-benchmark of its
	// own, one after the other, then the table of how each figure grows.
	var curve []scaleFigures
	for _, n := range sizes {
		keep := os.Getenv(scaleKeepEnv)
		if keep != "" {
			keep = filepath.Join(keep, fmt.Sprintf("users=%d", n))
		}
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			if f, ok := scaleOne(b, n, keep); ok {
				curve = append(curve, f)
			}
		})
	}
	scaleCurveTable(os.Stderr, curve)
}

// scaleOne is BenchmarkScale at n users, working in keep when it is set.
// ok says whether the process part ran (-bench may leave it out).
func scaleOne(b *testing.B, n int, keep string) (f scaleFigures, ok bool) {
	work := b.TempDir()
	if keep != "" {
		// Kept for profiling afterwards: directory.json, data/ and the
		// binary, ready for "presenced serve --directory … --data …".
		if ents, err := os.ReadDir(keep); err == nil && len(ents) > 0 {
			b.Fatalf("%s=%s: want a directory that is empty or does not exist yet", scaleKeepEnv, keep)
		}
		if err := os.MkdirAll(keep, 0o755); err != nil {
			b.Fatal(err)
		}
		work = keep
	}
	dirFile := filepath.Join(work, "directory.json")
	start := time.Now()
	if err := writeScaleDirectory(dirFile, n); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(dirFile)
	scaleLog("directory file: %d users, %.1f MB, written in %v", n, float64(st.Size())/1e6, time.Since(start).Round(time.Millisecond))

	b.Run("directory", func(b *testing.B) { scaleDirectoryHeap(b, dirFile, n) })
	b.Run("core", func(b *testing.B) { scaleCoreHeap(b, n) })
	b.Run("process", func(b *testing.B) { f, ok = scaleProcess(b, work, dirFile, n), true })
	return f, ok
}

const (
	scaleEnv     = "PRESENCED_SCALE_USERS"
	scaleKeepEnv = "PRESENCED_SCALE_KEEP" // a directory to work in and keep
)

// scaleUsers is the one number of users PRESENCED_SCALE_USERS names.
func scaleUsers(b *testing.B) int {
	sizes := scaleSizes(b)
	if len(sizes) != 1 {
		b.Fatalf("%s: this benchmark takes one number of users", scaleEnv)
	}
	return sizes[0]
}

// scaleSizes is PRESENCED_SCALE_USERS: a number of users (default
// 1,000,000) or several, comma-separated ("10000,100000,1000000").
func scaleSizes(b *testing.B) []int {
	s := os.Getenv(scaleEnv)
	if s == "" {
		return []int{1_000_000}
	}
	var sizes []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(f), "_", ""))
		if err != nil || n < 1000 {
			b.Fatalf("%s=%q: want a number of users ≥ 1000, or several separated by commas", scaleEnv, s)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

func scaleLog(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "scale: "+format+"\n", args...)
}

// scaleUserID is the deterministic object id of generated user i: i in
// the first 8 hex digits, a mix of i in the last 12. The last 12 were i
// again until 2026-12-02, and the directory's page of a user (FNV-1a of
// the id, modulo 4,096) then took only a quarter of the pages: the two
// copies of i cancel in the hash's low bits. A page thus held 4× the
// users real (random) object ids give, 23,000 at 10,000,000 users, over
// the engine's 1 MB message limit, and the import failed. Data kept by
// earlier runs has the old ids: fill it again.
func scaleUserID(i int) string {
	return fmt.Sprintf("%08x-5ca1-4000-8000-%012x", i, mix64(uint64(i))&(1<<48-1))
}

// scaleBatchBody is getPresencesByUserId's body for the k-th 650 of the n
// generated users, in order (the last batch may be short).
func scaleBatchBody(k, n int) []byte {
	var sb bytes.Buffer
	sb.WriteString(`{"ids":[`)
	for i := k * 650; i < min(n, (k+1)*650); i++ {
		if i > k*650 {
			sb.WriteByte(',')
		}
		sb.WriteString(`"` + scaleUserID(i) + `"`)
	}
	sb.WriteString("]}")
	return sb.Bytes()
}

// scaleBatchRequest asks base for the k-th 650 of n users with tok.
func scaleBatchRequest(base, tok string, k, n int) *http.Request {
	r, _ := http.NewRequest("POST", base+"/v1.0/communications/getPresencesByUserId", bytes.NewReader(scaleBatchBody(k, n)))
	r.Header.Set("Authorization", "Bearer "+tok)
	r.Header.Set("Content-Type", "application/json")
	return r
}

// scaleRandomBodies are batches of getPresencesByUserId bodies of 650 ids
// drawn by rng among the n generated users, with how many distinct users
// each names.
func scaleRandomBodies(rng *rand.Rand, n, batches int) ([][]byte, []int) {
	bodies, want := make([][]byte, batches), make([]int, batches)
	for k := range bodies {
		seen := map[int]bool{}
		var sb bytes.Buffer
		sb.WriteString(`{"ids":[`)
		for j := range 650 {
			i := rng.IntN(n)
			seen[i] = true
			if j > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(`"` + scaleUserID(i) + `"`)
		}
		sb.WriteString("]}")
		bodies[k], want[k] = sb.Bytes(), len(seen)
	}
	return bodies, want
}

// mix64 is splitmix64's finaliser: a bijection that spreads every bit.
// core's shard hash ends with the same steps, but this copy is the
// generated ids' own: kept fills depend on these ids, and must not change
// when the shard hash does.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

func scaleRef(i int) core.UserRef {
	return core.UserRef{TenantID: directory.DemoTenantID, UserID: scaleUserID(i)}
}

// writeScaleDirectory writes the demo tenants, apps and users plus n
// generated users of the demo tenant (userN@contoso.dev, no password).
// n == 0 is the demo directory alone.
func writeScaleDirectory(path string, n int) error {
	tenants, users, apps := directory.DemoData()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := func(v any) {
		j, _ := json.Marshal(v)
		w.Write(j)
	}
	w.WriteString(`{"tenants":`)
	enc(tenants)
	w.WriteString(",\n\"applications\":")
	enc(apps)
	w.WriteString(",\n\"users\":[\n")
	for i, u := range users {
		if i > 0 {
			w.WriteString(",\n")
		}
		enc(u)
	}
	for i := range n {
		fmt.Fprintf(w, ",\n{\"id\":%q,\"tenantId\":%q,\"userPrincipalName\":\"user%d@contoso.dev\",\"displayName\":\"User %d\"}",
			scaleUserID(i), directory.DemoTenantID, i, i)
	}
	w.WriteString("\n]}\n")
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// heapAfterGC is the live Go heap of this process.
func heapAfterGC() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func perUser(delta int64, n int) float64 { return float64(delta) / float64(n) }

// scaleDirectoryHeap: what the directory of n users keeps on the Go heap,
// and what loading it allocates on the way.
func scaleDirectoryHeap(b *testing.B, file string, n int) {
	var before runtime.MemStats
	h0 := heapAfterGC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	f, err := directory.Load(file)
	if err != nil {
		b.Fatal(err)
	}
	d, err := f.Build()
	if err != nil {
		b.Fatal(err)
	}
	f = nil // the file's entries are garbage once the directory is built
	took := time.Since(start)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	h1 := heapAfterGC()
	if _, ok := d.User(scaleUserID(n - 1)); !ok {
		b.Fatal("last generated user missing")
	}
	runtime.KeepAlive(d)
	kept := perUser(int64(h1)-int64(h0), n)
	allocated := perUser(int64(after.TotalAlloc-before.TotalAlloc), n)
	b.ReportMetric(kept, "heap-B/user")
	b.ReportMetric(allocated, "alloc-B/user")
	b.ReportMetric(took.Seconds(), "load-s")
	scaleLog("directory (in-process): %d users load in %v; live heap %.0f B/user; allocated while loading %.0f B/user",
		n, took.Round(time.Millisecond), kept, allocated)
}

// scaleCoreHeap fills a core.Core over a real engine with n users × 2
// sessions and splits the live heap into the core's cache and the engine.
func scaleCoreHeap(b *testing.B, n int) {
	ctx := context.Background()
	dir := b.TempDir()
	h0 := heapAfterGC()
	eng, err := natsstore.Open(ctx, natsstore.Options{Dir: dir, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	kv, err := eng.Bucket(ctx, "presence")
	if err != nil {
		b.Fatal(err)
	}
	hEngine := heapAfterGC()
	c := core.New(core.Options{KV: kv, Clock: clock.Real{}})
	app := directory.DemoDaemonClientID
	cmds := []presence.SetPresence{
		{SessionID: app + ":a", Pair: presence.Pair{Availability: presence.Available, Activity: presence.Available}, Expiration: 4 * time.Hour},
		{SessionID: app + ":b", Pair: presence.Pair{Availability: presence.Busy, Activity: presence.InACall}, Expiration: 4 * time.Hour},
	}
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j := int(next.Add(1)) - 1
				if j >= 2*n {
					return
				}
				// First every user's session a, then every user's session b.
				if _, _, err := c.Do(ctx, scaleRef(j%n), cmds[j/n]); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	hFull := heapAfterGC()
	runtime.KeepAlive(c)
	c = nil
	hEngineOnly := heapAfterGC()

	// A fresh core that reads everyone once (what a restart plus reads give).
	c2 := core.New(core.Options{KV: kv, Clock: clock.Real{}})
	refs := make([]core.UserRef, 0, 650)
	for i := range n {
		refs = append(refs, scaleRef(i))
		if len(refs) == cap(refs) || i == n-1 {
			snaps, err := c2.ReadMany(ctx, refs)
			if err != nil {
				b.Fatal(err)
			}
			if got := snaps[0].View.Pair; got.Availability != presence.Busy {
				b.Fatalf("read back %v", got)
			}
			refs = refs[:0]
		}
	}
	refs = nil
	hRead := heapAfterGC()
	runtime.KeepAlive(c2)
	c2 = nil

	// The engine alone after a restart with n keys.
	if err := eng.Close(); err != nil {
		b.Fatal(err)
	}
	kv, eng = nil, nil
	hClosed := heapAfterGC()
	rs := time.Now()
	eng2, err := natsstore.Open(ctx, natsstore.Options{Dir: dir, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	kv2, err := eng2.Bucket(ctx, "presence")
	if err != nil {
		b.Fatal(err)
	}
	reopen := time.Since(rs)
	hReopen := heapAfterGC()
	runtime.KeepAlive(kv2)
	_ = eng2.Close()

	cacheW := perUser(int64(hFull)-int64(hEngineOnly), n)
	engineW := perUser(int64(hEngineOnly)-int64(hEngine), n)
	cacheR := perUser(int64(hRead)-int64(hEngineOnly), n)
	engineR := perUser(int64(hReopen)-int64(hClosed), n)
	b.ReportMetric(float64(2*n)/took.Seconds(), "writes/s")
	b.ReportMetric(cacheW, "cache-B/user")
	b.ReportMetric(cacheR, "cache-after-read-B/user")
	b.ReportMetric(engineW, "engine-B/user")
	b.ReportMetric(engineR, "engine-reopened-B/user")
	b.ReportMetric(reopen.Seconds(), "engine-reopen-s")
	scaleLog("core (in-process): %d users × 2 sessions via core.Do in %v (%.0f writes/s)", n, took.Round(time.Millisecond), float64(2*n)/took.Seconds())
	scaleLog("core (in-process): empty engine %.1f MB; core cache %.0f B/user after writes, %.0f B/user after reading everyone once; engine %.0f B/user while written, %.0f B/user after reopening (reopen %v)",
		float64(int64(hEngine)-int64(h0))/1e6, cacheW, cacheR, engineW, engineR, reopen.Round(time.Millisecond))
}

// ---- the real binary in its own process ----

type scaleChild struct {
	cmd     *exec.Cmd
	url     string
	exec    time.Time
	listen  time.Duration // exec → "presenced listening on"
	exited  chan error
	mu      sync.Mutex
	gcLive  float64 // MB live after the last GC (gctrace)
	gcGoal  float64
	gcCount int
	gcAt    time.Time
	tail    []string // last non-gc stderr lines
	steps   []string // the server's timed startup steps ("… took=…" log lines)
	pprof   string   // the profiler's base URL (--debug-addr)
}

var pprofLine = regexp.MustCompile(`msg="profiler listening" url=(\S+)`)

var gcLine = regexp.MustCompile(`^gc (\d+) @.* (\d+)->(\d+)->(\d+) MB, (\d+) MB goal`)

func startScaleChild(b *testing.B, bin, dirFile, dataDir, addr string) *scaleChild {
	b.Helper()
	return startScaleChildEnv(b, bin, dirFile, dataDir, addr, nil)
}

// startScaleChildEnv is startScaleChild with env added to the server's
// environment (GOGC=…, PRESENCED_MEMORY_LIMIT=…).
func startScaleChildEnv(b *testing.B, bin, dirFile, dataDir, addr string, env []string) *scaleChild {
	b.Helper()
	return startScaleChildWith(b, bin, dirFile, dataDir, addr, childOpts{env: env})
}

// childOpts are startScaleChildWith's: the environment added, the log
// level (default info), and what to run as soon as the profiler listens
// (its URL; in a goroutine of its own: a profile of the start itself).
type childOpts struct {
	env      []string
	logLevel string
	profiler func(url string)
}

func startScaleChildWith(b *testing.B, bin, dirFile, dataDir, addr string, o childOpts) *scaleChild {
	b.Helper()
	c := &scaleChild{exited: make(chan error, 1)}
	level := o.logLevel
	if level == "" {
		level = "info"
	}
	args := []string{"serve", "--data", dataDir, "--addr", addr, "--log-level", level, "--debug-addr", "127.0.0.1:0",
		// The load measures the server, not Graph's per-application budget.
		"--throttle-requests", "0"}
	if dirFile != "" { // "": the directory is the engine's (BenchmarkScaleFill's data)
		args = append(args, "--directory", dirFile)
	}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Env = append(append(os.Environ(), o.env...), "GODEBUG=gctrace=1")
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	c.exec = time.Now()
	if err := c.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			c.mu.Lock()
			if m := gcLine.FindStringSubmatch(line); m != nil {
				c.gcCount, _ = strconv.Atoi(m[1])
				c.gcLive, _ = strconv.ParseFloat(m[4], 64)
				c.gcGoal, _ = strconv.ParseFloat(m[5], 64)
				c.gcAt = time.Now()
			} else {
				if m := pprofLine.FindStringSubmatch(line); m != nil {
					c.pprof = m[1]
					if o.profiler != nil {
						go o.profiler(m[1])
					}
				}
				if strings.Contains(line, " took=") || strings.Contains(line, "Restored ") {
					c.steps = append(c.steps, line)
				}
				c.tail = append(c.tail, line)
				if len(c.tail) > 20 {
					c.tail = c.tail[1:]
				}
			}
			c.mu.Unlock()
		}
	}()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "presenced listening on "); ok {
				u, _, _ := strings.Cut(rest, ",")
				ready <- u
			}
		}
	}()
	go func() { c.exited <- c.cmd.Wait() }()
	select {
	case c.url = <-ready:
		c.listen = time.Since(c.exec)
	case err := <-c.exited:
		b.Fatalf("presenced exited before listening: %v\n%s", err, c.stderrTail())
	case <-time.After(scaleWait()):
		_ = c.cmd.Process.Kill()
		b.Fatalf("presenced not listening after %v\n%s", scaleWait(), c.stderrTail())
	}
	b.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
	})
	return c
}

func (c *scaleChild) stderrTail() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.tail, "\n")
}

// heap is the live heap (MB) at the child's last GC and how long ago.
func (c *scaleChild) heap() (liveMB, goalMB float64, ago time.Duration, count int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gcLive, c.gcGoal, time.Since(c.gcAt), c.gcCount
}

// rss returns VmRSS and VmHWM in bytes.
func (c *scaleChild) rss(b *testing.B) (rss, hwm int64) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "VmHWM:") {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			if f[0] == "VmRSS:" {
				rss = kb << 10
			} else {
				hwm = kb << 10
			}
		}
	}
	return rss, hwm
}

// cpu returns the child's user+system CPU time.
func (c *scaleChild) cpu(b *testing.B) time.Duration {
	d, ok := loadgen.ProcCPU(c.cmd.Process.Pid)
	if !ok {
		b.Fatalf("no CPU time of process %d in /proc", c.cmd.Process.Pid)
	}
	return d
}

// idleCPU is the child's CPU use over d with no requests, as % of one core.
func (c *scaleChild) idleCPU(b *testing.B, d time.Duration) float64 {
	c0, t0 := c.cpu(b), time.Now()
	time.Sleep(d)
	c1, t1 := c.cpu(b), time.Now()
	return 100 * float64(c1-c0) / float64(t1.Sub(t0))
}

// stop sends SIGTERM and waits; it returns how long the exit took.
func (c *scaleChild) stop(b *testing.B) time.Duration {
	start := time.Now()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.exited:
		if err != nil {
			b.Logf("presenced exit: %v\n%s", err, c.stderrTail())
		}
	case <-time.After(2 * time.Minute):
		_ = c.cmd.Process.Kill()
		<-c.exited
		b.Fatalf("presenced did not stop within 2 minutes of SIGTERM")
	}
	return time.Since(start)
}

// heapProfile collects garbage in the child, logs its exact live heap and
// the allocation sites holding most of it (go tool pprof -top), keeps
// the profile in dir, and returns the live heap in bytes (0 without a
// profiler).
func (c *scaleChild) heapProfile(b *testing.B, dir, label string, n int) float64 {
	c.mu.Lock()
	base := c.pprof
	c.mu.Unlock()
	if base == "" {
		scaleLog("no profiler URL in the server's log; heap profile %s skipped", label)
		return 0
	}
	get := func(q string) []byte {
		resp, err := http.Get(base + "heap?" + q)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("heap profile: %s %v", resp.Status, err)
		}
		return body
	}
	file := filepath.Join(dir, "heap-"+label+".pb.gz")
	if err := os.WriteFile(file, get("gc=1"), 0o600); err != nil {
		b.Fatal(err)
	}
	var alloc float64
	for _, line := range strings.Split(string(get("debug=1")), "\n") {
		if v, ok := strings.CutPrefix(line, "# HeapAlloc = "); ok {
			alloc, _ = strconv.ParseFloat(v, 64)
		}
	}
	scaleLog("heap %s, right after a forced GC: %.0f MB live, %.0f B/user; largest holders:", label, alloc/1e6, alloc/float64(max(n, 1)))
	out, err := exec.Command("go", "tool", "pprof", "-top", "-inuse_space", "-nodecount=12", file).CombinedOutput()
	if err != nil {
		scaleLog("  go tool pprof: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	from := 0
	for i, l := range lines {
		if strings.Contains(l, "flat%") {
			from = i // the column header, then the table
		}
	}
	for _, l := range lines[from:] {
		scaleLog("  %s", l)
	}
	return alloc
}

func (c *scaleChild) memLine(b *testing.B, what string) (rss int64) {
	rss, hwm := c.rss(b)
	live, goal, ago, count := c.heap()
	scaleLog("%-44s RSS %7.1f MB (peak %7.1f MB); Go heap live at last GC %5.0f MB (goal %5.0f MB, gc #%d, %v ago)",
		what, float64(rss)/1e6, float64(hwm)/1e6, live, goal, count, ago.Round(100*time.Millisecond))
	return rss
}

func scaleToken(b *testing.B, hc *http.Client, base string) string { return daemonToken(b, hc, base) }

// scaleDrive runs n jobs from workers goroutines; job i sends mk(i) and
// check validates the answer. Failed requests are retried 3 times.
// Progress goes to stderr every 10 s. It returns each job's latency.
func scaleDrive(b *testing.B, hc *http.Client, what string, workers, n int, mk func(i int) *http.Request, check func(i int, body []byte) error) []time.Duration {
	lat := make([]time.Duration, n)
	var next, done atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	stopProgress := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				d := done.Load()
				el := time.Since(start)
				scaleLog("  %s: %d/%d (%.0f/s)", what, d, n, float64(d)/el.Seconds())
			}
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for failed.Load() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				var lastErr error
				for range 4 {
					t := time.Now()
					resp, err := hc.Do(mk(i))
					if err != nil {
						lastErr = err
						time.Sleep(50 * time.Millisecond)
						continue
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					lat[i] = time.Since(t)
					if resp.StatusCode != 200 {
						lastErr = fmt.Errorf("%s: %s", resp.Status, body)
						time.Sleep(50 * time.Millisecond)
						continue
					}
					if check != nil {
						lastErr = check(i, body)
					} else {
						lastErr = nil
					}
					break
				}
				if lastErr != nil {
					failed.Store(fmt.Errorf("%s, job %d: %w", what, i, lastErr))
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stopProgress)
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return lat
}

type latStats struct{ p50, p99, max time.Duration }

func percentiles(lat []time.Duration) latStats {
	s := slices.Clone(lat)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return latStats{at(0.50), at(0.99), s[len(s)-1]}
}

func (l latStats) String() string {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms", ms(l.p50), ms(l.p99), ms(l.max))
}

func scaleProcess(b *testing.B, work, dirFile string, n int) scaleFigures {
	bin := filepath.Join(work, "presenced")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/presenced").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		MaxIdleConns: 256, MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256,
		DialContext: (&net.Dialer{}).DialContext,
	}}
	settle := func() { time.Sleep(5 * time.Second) }

	// An empty directory (the demo's 7 users), for the directory's share.
	emptyFile := filepath.Join(work, "empty.json")
	if err := writeScaleDirectory(emptyFile, 0); err != nil {
		b.Fatal(err)
	}
	empty := startScaleChild(b, bin, emptyFile, filepath.Join(work, "empty-data"), "127.0.0.1:0")
	settle()
	rssEmpty := empty.memLine(b, "empty directory, just started:")
	empty.stop(b)

	// The big directory, no presence yet.
	data := filepath.Join(work, "data")
	srv := startScaleChild(b, bin, dirFile, data, "127.0.0.1:0")
	scaleLog("%d users: listening %v after exec (fresh data directory)", n, srv.listen.Round(time.Millisecond))
	base := srv.url
	addr := strings.TrimPrefix(base, "http://")
	tok := scaleToken(b, hc, base)
	settle()
	rssDir := srv.memLine(b, "directory loaded, no presence:")

	// Two sessions per user: every user's :a, then every user's :b.
	app := directory.DemoDaemonClientID
	sessions := []struct{ id, avail, act string }{{app + ":a", "Available", "Available"}, {app + ":b", "Busy", "InACall"}}
	var rssAfter [2]int64
	var writeRate, writeCPU float64
	for s, sess := range sessions {
		cpu0 := srv.cpu(b)
		bodyFmt := `{"sessionId":"` + sess.id + `","availability":"` + sess.avail + `","activity":"` + sess.act + `","expirationDuration":"PT4H"}`
		t := time.Now()
		scaleDrive(b, hc, "setPresence "+sess.id, 64, n, func(i int) *http.Request {
			r, _ := http.NewRequest("POST", base+"/v1.0/users/"+scaleUserID(i)+"/presence/setPresence", strings.NewReader(bodyFmt))
			r.Header.Set("Authorization", "Bearer "+tok)
			r.Header.Set("Content-Type", "application/json")
			return r
		}, nil)
		el := time.Since(t)
		writeRate = float64(n) / el.Seconds()
		// The server's CPU a write (the collector's share in it): the
		// figure a GC policy's cost shows in (docs/running.md#memory-and-start-up).
		writeCPU = float64((srv.cpu(b) - cpu0).Microseconds()) / float64(n)
		scaleLog("%d setPresence (session %s) in %v: %.0f writes/s, server CPU %.1f µs a write", n, sess.id, el.Round(time.Millisecond), writeRate, writeCPU)
		settle()
		rssAfter[s] = srv.memLine(b, fmt.Sprintf("after %d session(s) per user:", s+1))
	}
	liveWritten, _, _, _ := srv.heap()
	srv.heapProfile(b, work, "after-writes", n)
	ratios, bareRate := scaleWriteRatio(b, hc, bin, base, tok, n)

	// Restart on the same data and address (tokens stay valid).
	prepare(n, 20)
	stopTook := srv.stop(b)
	hc.CloseIdleConnections()
	scaleLog("SIGTERM → exit in %v", stopTook.Round(time.Millisecond))
	srv = startScaleChild(b, bin, dirFile, data, addr)
	probe := rand.IntN(n)
	var served time.Duration
	for {
		r, _ := http.NewRequest("GET", base+"/v1.0/users/"+scaleUserID(probe)+"/presence", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hc.Do(r)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var p struct{ Availability, Activity string }
			if resp.StatusCode == 200 && json.Unmarshal(body, &p) == nil && p.Availability == "Busy" && p.Activity == "InACall" {
				served = time.Since(srv.exec)
				break
			}
			if resp.StatusCode == 401 {
				tok = scaleToken(b, hc, base)
				continue
			}
			if resp.StatusCode == 200 {
				b.Fatalf("after restart user %d reads %s, want Busy/InACall", probe, body)
			}
		}
		if time.Since(srv.exec) > 5*time.Minute {
			b.Fatalf("not serving 5 minutes after restart: %v", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	scaleLog("restart: listening %v after exec, first read of the written state (Busy/InACall) %v after exec",
		srv.listen.Round(time.Millisecond), served.Round(time.Millisecond))
	fromSaved := firstSecond(b, hc, srv, tok, "restart after SIGTERM, from the saved cache", n, 20)
	srv.mu.Lock()
	for _, step := range srv.steps {
		scaleLog("  restart step: %s", step)
	}
	srv.mu.Unlock()
	srv.memLine(b, "restarted, nothing read yet (warm-up running):")

	// getPresencesByUserId with 650 random ids, 16 clients.
	const ids, clients = 650, 16
	gpbu := func(what string, seed uint64, batches, clients int) latStats {
		srv.mu.Lock()
		gc0 := srv.gcCount
		srv.mu.Unlock()
		rng := rand.New(rand.NewPCG(seed, 650))
		bodies, want := scaleRandomBodies(rng, n, batches)
		lat := scaleDrive(b, hc, what, clients, batches, func(k int) *http.Request {
			r, _ := http.NewRequest("POST", base+"/v1.0/communications/getPresencesByUserId", bytes.NewReader(bodies[k]))
			r.Header.Set("Authorization", "Bearer "+tok)
			r.Header.Set("Content-Type", "application/json")
			return r
		}, func(k int, body []byte) error {
			// Every id is a generated user with sessions a and b: Busy wins.
			if got := bytes.Count(body, []byte(`"availability":"Busy"`)); got != want[k] {
				return fmt.Errorf("%d Busy presences, want %d: %.300s", got, want[k], body)
			}
			return nil
		})
		st := percentiles(lat)
		srv.mu.Lock()
		gcs := srv.gcCount - gc0
		srv.mu.Unlock()
		scaleLog("getPresencesByUserId ×%d, %d ids, %d clients, %s: %s; %d GC cycles meanwhile", batches, ids, clients, what, st, gcs)
		return st
	}
	// Cold: right after the restart, while the cache warms in the background.
	cold1 := gpbu("cold (right after restart, warm-up running)", 1, 200, 1)
	cold := gpbu("cold (right after restart, warm-up running)", 2, 2000, clients)
	// Then wait for the warm-up to end, and measure idle CPU after it.
	warmed := ""
	for deadline := time.Now().Add(5 * time.Minute); warmed == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		srv.mu.Lock()
		for _, step := range srv.steps {
			if strings.Contains(step, "cache warm") || strings.Contains(step, "cache checked") {
				warmed = step
			}
		}
		srv.mu.Unlock()
	}
	if warmed == "" {
		b.Fatal("the cache warm-up did not end within 5 minutes of the restart")
	}
	scaleLog("warm-up: %s", warmed)
	settle()
	idleCold := srv.idleCPU(b, 30*time.Second)
	scaleLog("idle CPU after restart and warm-up (30 s, no requests): %.2f %% of one core", idleCold)
	srv.memLine(b, "after the cold getPresencesByUserId run:")

	// Read every user once (fills the cache), then idle and warm reads.
	t := time.Now()
	scaleDrive(b, hc, "read everyone", clients, (n+ids-1)/ids, func(k int) *http.Request {
		return scaleBatchRequest(base, tok, k, n)
	}, nil)
	scaleLog("read all %d users once (getPresencesByUserId, 650 per request) in %v", n, time.Since(t).Round(time.Millisecond))
	settle()
	rssRead := srv.memLine(b, "restarted, every user read once:")
	idleWarm := srv.idleCPU(b, 30*time.Second)
	scaleLog("idle CPU with every user cached (30 s, no requests): %.2f %% of one core", idleWarm)
	srv.memLine(b, "every user read once, after 30 s idle:")
	srv.heapProfile(b, work, "restarted-read-everyone", n)
	warm := gpbu("warm (every user cached)", 3, 2000, clients)
	warm1 := gpbu("warm (every user cached)", 4, 1000, 1)
	liveRead, _, _, _ := srv.heap()
	srv, crashes := scaleRestarts(b, hc, srv, bin, dirFile, data, addr, tok, n)
	srv.stop(b)

	dirShare := perUser(rssDir-rssEmpty, n)
	presence1 := perUser(rssAfter[0]-rssDir, n)
	presence2 := perUser(rssAfter[1]-rssDir, n)
	total := perUser(rssAfter[1], n)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(total, "rss-B/user")
	b.ReportMetric(presence2, "presence-rss-B/user")
	b.ReportMetric(dirShare, "dir-rss-B/user")
	b.ReportMetric(perUser(rssRead, n), "rss-restarted-read-B/user")
	b.ReportMetric(liveWritten*1e6/float64(n), "heap-live-B/user")
	b.ReportMetric(writeRate, "writes/s")
	b.ReportMetric(writeCPU, "write-cpu-us")
	b.ReportMetric(srv.listen.Seconds(), "restart-listen-s")
	b.ReportMetric(served.Seconds(), "restart-serve-s")
	b.ReportMetric(idleCold, "idle-cpu-%")
	b.ReportMetric(idleWarm, "idle-cpu-cached-%")
	b.ReportMetric(ms(cold.p99), "gpbu650-cold-p99-ms")
	b.ReportMetric(ms(warm.p99), "gpbu650-warm-p99-ms")
	b.ReportMetric(ms(cold1.p99), "gpbu650-1client-cold-p99-ms")
	b.ReportMetric(ms(warm1.p99), "gpbu650-1client-warm-p99-ms")
	for _, f := range append([]startFigures{fromSaved}, crashes...) {
		scaleLog("%s", f)
	}
	b.ReportMetric(fromSaved.listen.Seconds(), "restart-saved-listen-s")
	b.ReportMetric(fromSaved.cpuListen.Seconds(), "restart-saved-cpu-s")
	b.ReportMetric(ms(fromSaved.first.p99), "restart-saved-first-second-p99-ms")
	b.ReportMetric(crashes[0].listen.Seconds(), "restart-crash-stale-listen-s")
	b.ReportMetric(ms(crashes[0].first.p99), "restart-crash-stale-first-second-p99-ms")
	b.ReportMetric(crashes[1].listen.Seconds(), "restart-crash-warmup-listen-s")
	b.ReportMetric(ms(crashes[1].first.p99), "restart-crash-warmup-first-second-p99-ms")

	b.ReportMetric(median(ratios), "setPresence-pct-of-bare")

	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	defer scaleLog("load average: %s", loadAverage())
	fmt.Fprintf(os.Stderr, `
=== presenced at %d users (2 live sessions each), one process ===
memory per user, total (RSS / users):          %6.0f B   target ≤ 1024 B: %s
  presence state, 2 sessions (RSS delta):      %6.0f B   (1 session: %.0f B)
  directory (RSS delta over the demo directory):%6.0f B
  Go heap live at last GC (gctrace):           %6.0f B   after writes; %.0f B after restart + reading everyone
  RSS after restart + reading everyone:        %6.0f B
restart: listening %.2f s, serving the written state %.2f s   target < 10 s: %s
idle CPU: %.2f %% after restart and warm-up, %.2f %% with every user read once   target < 2 %%: %s
getPresencesByUserId, 650 ids, 16 clients: cold %s; warm %s   target p99 < 10 ms: cold %s, warm %s
getPresencesByUserId, 650 ids, 1 client:   cold %s; warm %s   target p99 < 10 ms: cold %s, warm %s
`, n, total, met(total <= 1024), presence2, presence1, dirShare,
		liveWritten*1e6/float64(n), liveRead*1e6/float64(n), perUser(rssRead, n),
		srv.listen.Seconds(), served.Seconds(), met(served < 10*time.Second),
		idleCold, idleWarm, met(max(idleCold, idleWarm) < 2),
		cold, warm, met(cold.p99 < 10*time.Millisecond), met(warm.p99 < 10*time.Millisecond),
		cold1, warm1, met(cold1.p99 < 10*time.Millisecond), met(warm1.p99 < 10*time.Millisecond))
	return scaleFigures{n: n, rss: total, rssAboveEmpty: perUser(rssAfter[1]-rssEmpty, n), liveHeap: liveWritten * 1e6 / float64(n),
		restartServe: served, savedListen: fromSaved.listen, savedCPU: fromSaved.cpuListen,
		writeRate: writeRate, bareRate: bareRate, ratios: ratios, warm1: warm1, warm16: warm, savedFirst: fromSaved.first}
}
