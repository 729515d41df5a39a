package presenced_test

import (
	"bytes"
	"fmt"
	"github.com/presenced/presenced/internal/benchenv"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkScaleRead measures getPresencesByUserId with 650 random ids
// (issue #16 point 4: p99 < 5 ms at 1M users, warm) on the data a
// BenchmarkScale run kept (PRESENCED_SCALE_KEEP), without refilling it:
//
//	PRESENCED_SCALE_READ=DIR PRESENCED_SCALE_USERS=1000000 go test -run '^$' -bench BenchmarkScaleRead -benchtime 1x -timeout 0 .
//
// Each round starts the server on DIR's data, waits until every user is
// cached (the saved cache, or the warm-up), reads everyone once, then sends
// 1 client × PRESENCED_SCALE_REQUESTS (default 1,000) requests of 650
// random ids, every answer checked, and stops it. It reports p50, p99 and
// max, the collections that ran during the requests and the server's CPU
// time per request (/proc/<pid>/stat).
//
// PRESENCED_SCALE_BINS=name=path,name=path compares builds on the same
// data, alternating them in each round (the order swapped every round), so
// that whatever else the machine runs weighs on all alike; without it the
// binary is built from this tree. PRESENCED_SCALE_ROUNDS rounds (default
// 3). With PRESENCED_SCALE_PROFILE=DIR each run also writes a CPU profile
// of its requests there (through the server's --debug-addr).
func BenchmarkScaleRead(b *testing.B) {
	dir := os.Getenv("PRESENCED_SCALE_READ")
	if dir == "" {
		b.Skip("PRESENCED_SCALE_READ=DIR names the directory a BenchmarkScale run kept")
	}
	n := scaleUsers(b)
	rounds, requests := 3, 1000
	rounds = benchenv.Int("PRESENCED_SCALE_ROUNDS", rounds, 1)
	requests = benchenv.Int("PRESENCED_SCALE_REQUESTS", requests, 1)
	builds := scaleBuilds(b, filepath.Join(dir, "presenced-read"))
	profDir := os.Getenv("PRESENCED_SCALE_PROFILE")
	dirFile, data := keptDirectoryFile(dir), filepath.Join(dir, "data")
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
	results := map[string][]readFigures{}
	for r := range rounds {
		order := slices.Clone(builds)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, bd := range order {
			prof := ""
			if profDir != "" {
				prof = filepath.Join(profDir, fmt.Sprintf("%s-round%d.cpu", bd.name, r+1))
			}
			f := scaleReadOnce(b, hc, bd.bin, dirFile, data, n, requests, uint64(100+r), prof)
			scaleLog("round %d, %s: %s (load %s)", r+1, bd.name, f, loadAverage())
			results[bd.name] = append(results[bd.name], f)
		}
	}
	for _, bd := range builds {
		var p50, p99, cpu []string
		for _, f := range results[bd.name] {
			p50 = append(p50, fmt.Sprintf("%.1f", ms(f.lat.p50)))
			p99 = append(p99, fmt.Sprintf("%.1f", ms(f.lat.p99)))
			cpu = append(cpu, fmt.Sprintf("%.2f", ms(f.cpuPerReq)))
		}
		scaleLog("%s: p50 %s ms; p99 %s ms; server CPU per request %s ms", bd.name,
			strings.Join(p50, ", "), strings.Join(p99, ", "), strings.Join(cpu, ", "))
	}
	if len(builds) == 1 {
		fs := results[builds[0].name]
		slices.SortFunc(fs, func(a, b readFigures) int { return int(a.lat.p99 - b.lat.p99) })
		b.ReportMetric(ms(fs[len(fs)/2].lat.p99), "gpbu650-warm-p99-ms(median-run)")
		b.ReportMetric(ms(fs[len(fs)/2].lat.p50), "gpbu650-warm-p50-ms(median-run)")
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// readFigures is one BenchmarkScaleRead run.
type readFigures struct {
	lat       latStats
	gcs       int
	cpuPerReq time.Duration
	heapMB    float64 // live after the last collection before the requests
}

func (f readFigures) String() string {
	return fmt.Sprintf("650 ids, 1 client, warm: %s; %d GC cycles meanwhile (live heap %.0f MB); server CPU %.2f ms a request",
		f.lat, f.gcs, f.heapMB, ms(f.cpuPerReq))
}

// scaleReadOnce starts bin on the kept data, makes every user cached, and
// measures the 650-id requests (see BenchmarkScaleRead).
func scaleReadOnce(b *testing.B, hc *http.Client, bin, dirFile, data string, n, requests int, seed uint64, prof string) readFigures {
	srv := startScaleChild(b, bin, dirFile, data, "127.0.0.1:0")
	defer srv.stop(b)
	defer hc.CloseIdleConnections()
	tok := scaleToken(b, hc, srv.url)
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		srv.mu.Lock()
		done := slices.ContainsFunc(srv.steps, func(s string) bool {
			return strings.Contains(s, "cache warmed") || strings.Contains(s, "cache checked")
		})
		srv.mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the cache was not complete within 5 minutes")
		}
	}
	post := func(body []byte) *http.Request {
		r, _ := http.NewRequest("POST", srv.url+"/v1.0/communications/getPresencesByUserId", bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	// Everyone once: whatever the saved cache or the warm-up left out is
	// read now, so that the requests below find every user cached.
	const ids = 650
	scaleDrive(b, hc, "read everyone", 2, (n+ids-1)/ids, func(k int) *http.Request {
		return post(scaleBatchBody(k, n))
	}, nil)
	time.Sleep(2 * time.Second)
	rng := rand.New(rand.NewPCG(seed, 650))
	bodies, want := scaleRandomBodies(rng, n, requests)
	profDone := make(chan error, 1)
	if prof != "" && srv.pprof != "" {
		go func() { profDone <- fetchProfile(srv.pprof, prof, 20*time.Second) }()
		time.Sleep(200 * time.Millisecond) // the profile starts first
	} else {
		profDone <- nil
	}
	live, _, _, gc0 := srv.heap()
	cpu0 := srv.cpu(b)
	lat := scaleDrive(b, hc, "650 ids, warm", 1, requests, func(k int) *http.Request { return post(bodies[k]) },
		func(k int, body []byte) error {
			// Every id is a generated user with sessions a and b: Busy wins.
			if got := bytes.Count(body, []byte(`"availability":"Busy"`)); got != want[k] {
				return fmt.Errorf("%d Busy presences, want %d: %.300s", got, want[k], body)
			}
			return nil
		})
	cpu := srv.cpu(b) - cpu0
	_, _, _, gc1 := srv.heap()
	if err := <-profDone; err != nil {
		b.Logf("profile: %v", err)
	}
	return readFigures{lat: percentiles(lat), gcs: gc1 - gc0, cpuPerReq: cpu / time.Duration(requests), heapMB: live}
}

// fetchProfile writes the CPU profile of the next d from a --debug-addr
// profiler (its /debug/pprof/ URL) to path.
func fetchProfile(base, path string, d time.Duration) error {
	return fetchTo(strings.TrimSuffix(base, "/")+"/profile?seconds="+strconv.Itoa(int(d.Seconds())), path)
}

// fetchAllocs writes the allocation profile so far (cumulative, sampled
// at the runtime's default rate) of a --debug-addr profiler (its
// /debug/pprof/ URL) to path: two of them, before and after some work,
// give that work's allocations (go tool pprof -diff_base).
func fetchAllocs(base, path string) error {
	// gc=1: a collection first, which publishes the allocations up to
	// it (the profile otherwise lags by up to two cycles).
	return fetchTo(strings.TrimSuffix(base, "/")+"/allocs?gc=1", path)
}

// fetchTo writes what url answers with 200 to the file path.
func fetchTo(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s", resp.Status)
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// scaleBuild is a binary a benchmark runs, by name.
type scaleBuild struct{ name, bin string }

// scaleBuilds are the builds PRESENCED_SCALE_BINS=name=path,name=path
// names, or without it this tree built into bin as "this".
func scaleBuilds(b *testing.B, bin string) []scaleBuild {
	var builds []scaleBuild
	if s := os.Getenv("PRESENCED_SCALE_BINS"); s != "" {
		for _, nb := range strings.Split(s, ",") {
			name, path, ok := strings.Cut(nb, "=")
			if !ok {
				b.Fatalf("PRESENCED_SCALE_BINS=%q: want name=path,name=path", s)
			}
			builds = append(builds, scaleBuild{name, path})
		}
		return builds
	}
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/presenced").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return []scaleBuild{{"this", bin}}
}
