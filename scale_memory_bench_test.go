package presenced_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/benchenv"
)

// BenchmarkScaleMemory measures a server's memory per user on the data a
// run of BenchmarkScale kept (PRESENCED_SCALE_KEEP), under several GC
// settings side by side, so that several runs of each cost minutes rather
// than a refill (issue #16 point 1):
//
//	PRESENCED_SCALE_MEMORY=DIR PRESENCED_SCALE_USERS=1000000 \
//	PRESENCED_SCALE_SETTINGS='default;PRESENCED_MEMORY_LIMIT=600MB' \
//	go test -run '^$' -bench BenchmarkScaleMemory -benchtime 1x -timeout 0 .
//
// PRESENCED_SCALE_SETTINGS is a ';'-separated list of settings, each
// "default" or space-separated VAR=value pairs given to the server's
// environment. For each of PRESENCED_SCALE_ROUNDS rounds (default 3) and
// each setting in turn, it starts the server (from the cache the previous
// stop saved) and measures the start as BenchmarkScaleRestart does (exec →
// listening, CPU time then, 650-id requests in the first second), waits
// for the cache to be complete, reads every user once
// (getPresencesByUserId, 650 ids, 16 clients), sends PRESENCED_SCALE_WARM
// (default 1,000; 0 for none) requests of 650 random ids from one client,
// warm, and then writes a twentieth of the users' session b again
// (PRESENCED_SCALE_REWRITES to write fewer: 10 M users' twentieth is half
// an hour of this box), 64 clients, with the server's CPU a write; after each, 5 s later, it
// reads the RSS and the live heap at the last GC, and after the writes the
// exact live heap (a heap profile after a forced GC), the number of GC
// cycles the writes ran, and their rate. With PRESENCED_SCALE_IDLE set
// (a duration), it waits that long with no requests before the last RSS:
// nats-server drops a message block's per-subject state after 2 minutes
// without activity. With PRESENCED_SCALE_PROFILE=DIR it saves the server's
// allocation profile (--debug-addr's /debug/pprof/allocs, after a forced
// collection) just before and after the rewrites, as
// DIR/allocs-<round>-<setting>-{before,after}.pb.gz: `go tool pprof
// -diff_base …-before.pb.gz BINARY …-after.pb.gz` is what the writes
// allocated, the collector's work at a large live heap.
func BenchmarkScaleMemory(b *testing.B) {
	dir := os.Getenv("PRESENCED_SCALE_MEMORY")
	if dir == "" {
		b.Skip("PRESENCED_SCALE_MEMORY=DIR names the directory a BenchmarkScale run kept")
	}
	n := scaleUsers(b)
	rounds := 3
	rounds = benchenv.Int("PRESENCED_SCALE_ROUNDS", rounds, 1)
	var idle time.Duration
	if s := os.Getenv("PRESENCED_SCALE_IDLE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("PRESENCED_SCALE_IDLE=%q: %v", s, err)
		}
		idle = d
	}
	warmRequests := 1000 // PRESENCED_SCALE_WARM: 650-id requests after reading everyone, 0 for none
	warmRequests = benchenv.Int("PRESENCED_SCALE_WARM", warmRequests, 0)
	settings := []string{"default"}
	if s := os.Getenv("PRESENCED_SCALE_SETTINGS"); s != "" {
		settings = strings.Split(s, ";")
	}
	bin := filepath.Join(dir, "presenced")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/presenced").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	dirFile, data := keptDirectoryFile(dir), filepath.Join(dir, "data")
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
	type figures struct {
		setting                        string
		rssRead, rssWrite, rssIdle     float64 // B/user
		liveRead, liveWrite, heapWrite float64 // B/user
		gcWrites                       int
		writeRate, writeCPU            float64 // writes/s; the server's CPU µs a write
		load                           string
		warm                           latStats
		start                          startFigures
	}
	var all []figures
	for r := range rounds {
		for _, setting := range settings {
			var env []string
			if setting != "default" {
				env = strings.Fields(setting)
			}
			f := figures{setting: setting}
			seed := uint64(200 + r*len(settings) + slices.Index(settings, setting))
			prepare(n, seed)
			srv := startScaleChildEnv(b, bin, dirFile, data, "127.0.0.1:0", env)
			base := srv.url
			tok := scaleToken(b, hc, base)
			// The start itself: from the cache the previous stop saved.
			f.start = firstSecond(b, hc, srv, tok, fmt.Sprintf("round %d, %s: start from the saved cache", r+1, setting), n, seed)
			waitCacheComplete(b, srv)
			readEveryone(b, hc, base, tok, n)
			time.Sleep(5 * time.Second)
			f.rssRead = perUser(srv.memLine(b, fmt.Sprintf("round %d, %s: every user read:", r+1, setting)), n)
			live, _, _, gc0 := srv.heap()
			f.liveRead = live * 1e6 / float64(n)

			if warmRequests > 0 {
				f.warm = warmRead(b, hc, base, tok, n, warmRequests, uint64(100+r))
				scaleLog("round %d, %s: getPresencesByUserId, 650 ids, 1 client, warm: %s (load %s)", r+1, setting, f.warm, loadAverage())
			}
			again := max(1, n/20)
			again = benchenv.Int("PRESENCED_SCALE_REWRITES", again, 1)
			bodyB := `{"sessionId":"` + directory.DemoDaemonClientID + `:b","availability":"Busy","activity":"InACall","expirationDuration":"PT4H"}`
			profDir := os.Getenv("PRESENCED_SCALE_PROFILE")
			profName := func(when string) string {
				return filepath.Join(profDir, fmt.Sprintf("allocs-%d-%d-%s.pb.gz", r+1, slices.Index(settings, setting), when))
			}
			if profDir != "" {
				if err := fetchAllocs(srv.pprof, profName("before")); err != nil {
					b.Fatalf("allocation profile: %v", err)
				}
			}
			t, cpu0 := time.Now(), srv.cpu(b)
			scaleDrive(b, hc, "setPresence again", 64, again, func(i int) *http.Request {
				req, _ := http.NewRequest("POST", base+"/v1.0/users/"+scaleUserID(i*10%n)+"/presence/setPresence", strings.NewReader(bodyB))
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "application/json")
				return req
			}, nil)
			f.writeRate = float64(again) / time.Since(t).Seconds()
			f.writeCPU = float64((srv.cpu(b) - cpu0).Microseconds()) / float64(again)
			if profDir != "" {
				// The allocations of the writes alone: go tool pprof
				// -diff_base allocs-…-before.pb.gz allocs-…-after.pb.gz.
				if err := fetchAllocs(srv.pprof, profName("after")); err != nil {
					b.Fatalf("allocation profile: %v", err)
				}
			}
			_, _, _, gc1 := srv.heap()
			f.gcWrites = gc1 - gc0
			time.Sleep(5 * time.Second)
			f.rssWrite = perUser(srv.memLine(b, fmt.Sprintf("round %d, %s: after %d writes:", r+1, setting, again)), n)
			live, _, _, _ = srv.heap()
			f.liveWrite = live * 1e6 / float64(n)
			f.heapWrite = srv.heapProfile(b, dir, fmt.Sprintf("memory-%d-%d", r+1, slices.Index(settings, setting)), n) / float64(n)
			if idle > 0 {
				time.Sleep(idle)
				f.rssIdle = perUser(srv.memLine(b, fmt.Sprintf("round %d, %s: after %v idle:", r+1, setting, idle)), n)
			}
			f.load = loadAverage()
			srv.stopSaying(b)
			hc.CloseIdleConnections()
			scaleLog("round %d, %s: RSS %.0f B/user after reading everyone, %.0f after the writes, %.0f idle; live at last GC %.0f / %.0f; exact live after the writes %.0f B/user; %d GC cycles during %d writes at %.0f/s, %.1f µs of the server's CPU a write; load %s",
				r+1, setting, f.rssRead, f.rssWrite, f.rssIdle, f.liveRead, f.liveWrite, f.heapWrite, f.gcWrites, again, f.writeRate, f.writeCPU, f.load)
			all = append(all, f)
		}
	}
	for _, f := range all {
		scaleLog("%-40s %s", f.setting, f.start)
	}
	for _, f := range all {
		scaleLog("%-40s RSS read %4.0f, written %4.0f, idle %4.0f B/user; live %4.0f / %4.0f (exact %4.0f) B/user; %3d GCs, %5.0f writes/s, %5.1f µs CPU/write; 650 ids warm %s; load %s",
			f.setting, f.rssRead, f.rssWrite, f.rssIdle, f.liveRead, f.liveWrite, f.heapWrite, f.gcWrites, f.writeRate, f.writeCPU, f.warm, f.load)
	}
}

// waitCacheComplete waits until srv's cache holds every stored user
// (warmed, or loaded from the saved cache and checked against the
// engine, which walks every record 10 s after the start).
func waitCacheComplete(b *testing.B, srv *scaleChild) {
	for deadline := time.Now().Add(2 * scaleWait()); ; time.Sleep(100 * time.Millisecond) {
		srv.mu.Lock()
		done := slices.ContainsFunc(srv.steps, func(s string) bool {
			return strings.Contains(s, "cache warmed") || strings.Contains(s, "cache checked")
		})
		srv.mu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("the cache was not complete within %v", 2*scaleWait())
		}
	}
}

// readEveryone reads every generated user once, 650 per request.
func readEveryone(b *testing.B, hc *http.Client, base, tok string, n int) {
	const ids = 650
	t := time.Now()
	scaleDrive(b, hc, "read everyone", 16, (n+ids-1)/ids, func(k int) *http.Request {
		return scaleBatchRequest(base, tok, k, n)
	}, nil)
	scaleLog("read all %d users once in %v", n, time.Since(t).Round(time.Millisecond))
}

// warmRead sends requests getPresencesByUserId of 650 random ids from one
// client, each answer checked (every generated user is Busy), and returns
// the latencies' spread.
func warmRead(b *testing.B, hc *http.Client, base, tok string, n, requests int, seed uint64) latStats {
	bodies, want := gpbuBodies(n, requests, seed)
	lat := scaleDrive(b, hc, "getPresencesByUserId warm", 1, requests, func(k int) *http.Request {
		r, _ := http.NewRequest("POST", base+"/v1.0/communications/getPresencesByUserId", bytes.NewReader(bodies[k]))
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Content-Type", "application/json")
		return r
	}, func(k int, body []byte) error {
		if got := bytes.Count(body, []byte(`"availability":"Busy"`)); got != want[k] {
			return fmt.Errorf("%d Busy presences, want %d", got, want[k])
		}
		return nil
	})
	return percentiles(lat)
}
