package presenced_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/benchenv"
)

// The restarts of BenchmarkScale/process (issue #16 point 2): from the
// cache saved at a graceful stop, after a crash with an older saved cache
// (kill -9 after writes made since it was saved: loaded, then caught up),
// and after a crash without one (today's warm-up). For each: exec →
// listening, the process's CPU time by then, and getPresencesByUserId
// with 650 ids from one client through the first second after listening.

// startFigures are one restart's.
type startFigures struct {
	what       string
	listen     time.Duration // exec → listening
	cpuListen  time.Duration // the process's CPU time when it listened
	cpuFirst   time.Duration // … one second later
	first      latStats      // getPresencesByUserId, 650 ids, 1 client, first second after listening
	firstCount int
	load       string // /proc/loadavg when it listened
	steps      []string
}

func (f startFigures) String() string {
	return fmt.Sprintf("%s: listening %.2f s after exec (CPU %.2f s; %.2f s one second later); first second, 650 ids, 1 client: %d requests, %s; load %s; phases: %s",
		f.what, f.listen.Seconds(), f.cpuListen.Seconds(), f.cpuFirst.Seconds(), f.firstCount, f.first, f.load, phases(f.steps))
}

var stepLine = regexp.MustCompile(`msg=(?:"([^"]*)"|(\S+)) .*took=(\S+)`)

// phaseNames are the start's timed steps, as the server logs them, and
// how the figures name them.
var phaseNames = []struct{ msg, name string }{
	{"engine ready", "engine"},
	{"saved directory read", "directory file (beside the engine)"},
	{"directory: the saved directory is up to date", "directory from the file + changes since"},
	{"directory loaded", "directory open"},
	{"saved cache read", "cache file read and loaded (beside the engine)"},
	{"saved cache loaded", "cache checked against the engine"},
	{"saved cache up to date with the engine", "cache catch-up"},
}

// phases is one line of a start's phases from its log.
func phases(steps []string) string {
	took := map[string]string{}
	for _, s := range steps {
		if m := stepLine.FindStringSubmatch(s); m != nil {
			if _, seen := took[m[1]+m[2]]; !seen {
				took[m[1]+m[2]] = m[3]
			}
		}
	}
	var out []string
	for _, p := range phaseNames {
		if t, ok := took[p.msg]; ok {
			out = append(out, p.name+" "+t)
		}
	}
	return strings.Join(out, ", ")
}

// gpbuBodies are batches of 650 random ids among n, made before a restart
// so that the first second is spent on requests, with how many distinct
// users each names.
func gpbuBodies(n, batches int, seed uint64) ([][]byte, []int) {
	return scaleRandomBodies(rand.New(rand.NewPCG(seed, 16)), n, batches)
}

// preparedBodies are gpbuBodies' batches by (users, seed), made before the
// restart that uses them (prepare): made in the first second after
// listening they would take part of it from the requests, on a busy box
// all of it.
var preparedBodies = struct {
	sync.Mutex
	m map[[2]uint64]preparedBatch
}{m: map[[2]uint64]preparedBatch{}}

type preparedBatch struct {
	bodies [][]byte
	want   []int
}

// prepare makes the batches firstSecond(…, n, seed) will send.
func prepare(n int, seed uint64) preparedBatch {
	preparedBodies.Lock()
	defer preparedBodies.Unlock()
	k := [2]uint64{uint64(n), seed}
	p, ok := preparedBodies.m[k]
	if !ok {
		p.bodies, p.want = gpbuBodies(n, 400, seed)
		preparedBodies.m[k] = p
	}
	return p
}

// firstSecond sends getPresencesByUserId (650 ids) from one client from now
// until one second after c listened, each answer checked (every user
// Busy), and returns the figures.
func firstSecond(b *testing.B, hc *http.Client, c *scaleChild, tok, what string, n int, seed uint64) startFigures {
	f := startFigures{what: what, listen: c.listen, cpuListen: c.cpu(b), load: loadAverage()}
	p := prepare(n, seed) // made before the start by the callers
	bodies, want := p.bodies, p.want
	end := c.exec.Add(c.listen + time.Second)
	// Every user is Busy on data a fill made within the last four hours
	// (session b's expiry, PT4H). Kept data older than that
	// (PRESENCED_SCALE_AGED=1: a 10M refill takes half an hour) is
	// checked for an answer per user, whatever its availability.
	answered := `"availability":"Busy"`
	if os.Getenv("PRESENCED_SCALE_AGED") != "" {
		answered = `"availability":"`
	}
	var lat []time.Duration
	// At least one request: on a loaded machine the second can be over
	// before the bodies are made (BenchmarkScale's process part makes them
	// after the restart), and a figure late is better than none.
	for k := 0; (k == 0 || time.Now().Before(end)) && k < len(bodies); k++ {
		r, _ := http.NewRequest("POST", c.url+"/v1.0/communications/getPresencesByUserId", bytes.NewReader(bodies[k]))
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Content-Type", "application/json")
		t := time.Now()
		resp, err := hc.Do(r)
		if err != nil {
			b.Fatalf("%s: %v", what, err)
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(t))
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %s %.300s", what, resp.Status, body.Bytes())
		}
		if got := bytes.Count(body.Bytes(), []byte(answered)); got != want[k] {
			b.Fatalf("%s: %d presences %s, want %d", what, got, answered, want[k])
		}
	}
	if len(lat) == 0 {
		c.mu.Lock()
		steps := strings.Join(c.steps, "\n  ")
		c.mu.Unlock()
		b.Fatalf("%s: no request within the first second (listening %.2f s after exec, load %s); the start's steps:\n  %s", what, c.listen.Seconds(), f.load, steps)
	}
	if late := time.Since(end); late > 0 && len(lat) == 1 {
		scaleLog("%s: the first second was over before its first request answered (%v after it)", what, late.Round(time.Millisecond))
	}
	time.Sleep(time.Until(end))
	f.cpuFirst = c.cpu(b)
	f.first, f.firstCount = percentiles(lat), len(lat)
	c.mu.Lock()
	f.steps = append([]string(nil), c.steps...)
	c.mu.Unlock()
	scaleLog("%s", f)
	for _, s := range f.steps {
		scaleLog("  step: %s", s)
	}
	return f
}

// kill9 kills c at once: nothing is saved.
func (c *scaleChild) kill9() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

// scaleRestarts runs the two crash restarts after srv (running, every user
// written) and returns the last server, still running, with the figures.
func scaleRestarts(b *testing.B, hc *http.Client, srv *scaleChild, bin, dirFile, data, addr, tok string, n int) (*scaleChild, []startFigures) {
	var out []startFigures
	base := srv.url
	// Writes after the cache was saved (the graceful stop before srv's
	// start): a tenth of the users' session b again, a new revision each.
	again := max(1, n/10)
	bodyB := `{"sessionId":"` + directory.DemoDaemonClientID + `:b","availability":"Busy","activity":"InACall","expirationDuration":"PT4H"}`
	t := time.Now()
	scaleDrive(b, hc, "setPresence after the save", 64, again, func(i int) *http.Request {
		r, _ := http.NewRequest("POST", base+"/v1.0/users/"+scaleUserID(i*10%n)+"/presence/setPresence", strings.NewReader(bodyB))
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Content-Type", "application/json")
		return r
	}, nil)
	scaleLog("%d setPresence after the cache was saved, in %v", again, time.Since(t).Round(time.Millisecond))
	prepare(n, 21)
	srv.kill9()
	hc.CloseIdleConnections()
	srv = startScaleChild(b, bin, dirFile, data, addr)
	out = append(out, firstSecond(b, hc, srv, tok, fmt.Sprintf("restart after kill -9, saved cache %d writes old", again), n, 21))

	prepare(n, 22)
	srv.kill9()
	hc.CloseIdleConnections()
	if err := os.Remove(filepath.Join(data, presenced.CacheFile)); err != nil {
		b.Fatal(err)
	}
	srv = startScaleChild(b, bin, dirFile, data, addr)
	out = append(out, firstSecond(b, hc, srv, tok, "restart after kill -9, no saved cache (warm-up)", n, 22))
	return srv, out
}

// BenchmarkScaleRestart measures only the restarts, on the data a run of
// BenchmarkScale kept (PRESENCED_SCALE_KEEP), with the binary built now:
//
//	PRESENCED_SCALE_RESTART=DIR PRESENCED_SCALE_USERS=1000000 go test -run '^$' -bench BenchmarkScaleRestart -benchtime 1x -timeout 0 .
//
// It starts the server, waits for its cache to be complete and stops it
// (SIGTERM: the cache is saved), then restarts it from the saved cache
// PRESENCED_SCALE_ROUNDS times (default 5), then once after kill -9 with
// an older saved cache and once after kill -9 without one
// (PRESENCED_SCALE_CRASHES=0: the rounds alone).
func BenchmarkScaleRestart(b *testing.B) {
	dir := os.Getenv("PRESENCED_SCALE_RESTART")
	if dir == "" {
		b.Skip("PRESENCED_SCALE_RESTART=DIR names the directory a BenchmarkScale run kept")
	}
	n := scaleUsers(b)
	rounds := 5
	rounds = benchenv.Int("PRESENCED_SCALE_ROUNDS", rounds, 1)
	builds := scaleBuilds(b, filepath.Join(dir, "presenced"))
	bin := builds[0].bin
	profDir := os.Getenv("PRESENCED_SCALE_PROFILE")
	dirFile, data := keptDirectoryFile(dir), filepath.Join(dir, "data")
	start := func(bd scaleBuild, addr, label string) *scaleChild {
		o := childOpts{logLevel: os.Getenv("PRESENCED_SCALE_LOG_LEVEL")}
		if profDir != "" && label != "" {
			// The start's own profile: from the profiler's first instant
			// (before the engine opens) through the first second.
			path := filepath.Join(profDir, label+".cpu")
			o.profiler = func(url string) {
				if err := fetchProfile(url, path, startProfileFor); err != nil {
					scaleLog("profile %s: %v", path, err)
				}
			}
		}
		return startScaleChildWith(b, bd.bin, dirFile, data, addr, o)
	}
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
	srv := startScaleChild(b, bin, dirFile, data, "127.0.0.1:0")
	addr := strings.TrimPrefix(srv.url, "http://")
	tok := scaleToken(b, hc, srv.url)
	waitCacheComplete(b, srv)
	var figs []startFigures
	byBuild := map[string][]startFigures{}
	for r := range rounds {
		prepare(n, uint64(30+r))
		srv.stopSaying(b)
		// With one build, rounds alternate: from the saved directory, and
		// (odd rounds) without it — the directory read from the engine,
		// as before it was saved — for the difference in the same run.
		// With several (PRESENCED_SCALE_BINS), the builds alternate, each
		// from the files the other saved.
		bd := builds[r%len(builds)]
		what := "from the saved cache and directory"
		if len(builds) > 1 {
			what += ", build " + bd.name
		} else if r%2 == 1 {
			if err := os.Remove(filepath.Join(data, presenced.DirectorySnapshotFile)); err != nil {
				b.Fatal(err)
			}
			what = "from the saved cache, directory read from the engine"
		}
		srv = start(bd, addr, fmt.Sprintf("round%d-%s", r+1, bd.name))
		f := firstSecond(b, hc, srv, tok, fmt.Sprintf("round %d: restart after SIGTERM, %s", r+1, what), n, uint64(30+r))
		figs = append(figs, f)
		byBuild[bd.name] = append(byBuild[bd.name], f)
	}
	if len(builds) > 1 {
		for _, bd := range builds {
			var listen, cpu, p99 []string
			for _, f := range byBuild[bd.name] {
				listen = append(listen, fmt.Sprintf("%.2f", f.listen.Seconds()))
				cpu = append(cpu, fmt.Sprintf("%.2f", f.cpuListen.Seconds()))
				p99 = append(p99, fmt.Sprintf("%.1f (%d)", ms(f.first.p99), f.firstCount))
			}
			scaleLog("build %s: exec → listening %s s; CPU at listening %s s; first second, 650 ids: p99 (requests) %s ms",
				bd.name, strings.Join(listen, ", "), strings.Join(cpu, ", "), strings.Join(p99, ", "))
		}
	}
	if os.Getenv("PRESENCED_SCALE_CRASHES") == "0" {
		// The rounds alone (the crashes cost a refill of a tenth of the
		// users each time).
		srv.stop(b)
		scaleLog("load average: %s", loadAverage())
		for _, f := range figs {
			scaleLog("%s", f)
		}
		return
	}
	srv, crashes := scaleRestarts(b, hc, srv, bin, dirFile, data, addr, tok, n)
	// A graceful restart without the file: what one cost before it (the
	// warm-up), for the CPU time beside the rounds'.
	prepare(n, 40)
	srv.stopSaying(b)
	if err := os.Remove(filepath.Join(data, presenced.CacheFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		b.Fatal(err)
	}
	hc.CloseIdleConnections()
	srv = startScaleChild(b, bin, dirFile, data, addr)
	figs = append(figs, firstSecond(b, hc, srv, tok, "restart after SIGTERM, no saved cache (warm-up)", n, 40))
	srv.stop(b)
	scaleLog("load average: %s", loadAverage())
	for _, f := range append(figs, crashes...) {
		scaleLog("%s", f)
	}
}

// startProfileFor is how long a start's CPU profile runs
// (PRESENCED_SCALE_PROFILE): a start at a million users listens within a
// few seconds on a quiet machine, and the first second follows.
const startProfileFor = 6 * time.Second

// stopSaying stops c (SIGTERM) and logs how long that took and what the
// save of the cache took.
func (c *scaleChild) stopSaying(b *testing.B) {
	took := c.stop(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.steps {
		if strings.Contains(s, "cache saved") {
			scaleLog("SIGTERM → exit in %v (of which the drain, 5 s); %s", took.Round(time.Millisecond), s)
			return
		}
	}
	scaleLog("SIGTERM → exit in %v, the cache not saved", took.Round(time.Millisecond))
}

// loadAverage is /proc/loadavg's first three fields.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
