package presenced_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/benchenv"
	"github.com/presenced/presenced/loadgen"
)

// The HTTP benchmarks measure presenced beside a bare net/http handler in the
// same run, with the same client, request shapes and concurrency, and report
// presenced's throughput as a percentage of that ceiling ("pct-of-bare").
// The bare handler reads the body and answers a fixed presence document: no
// auth, no decoding, no engine. See docs/performance.md for measured figures.
//
// Client, presenced and the bare handler all run in this process. The
// user-facing tool measures the same from three processes — `presenced
// serve --dev`, `presenced bench --mix get=1` (or set=1) and the bare
// handler bench starts — over the same generated users
// (directory.DemoWithUsers) and with the same handler (loadgen.Bare).

// benchClients is how many clients send at once: 64, or
// PRESENCED_BENCH_CLIENTS (a profile at 1 beside one at 64 is what the
// concurrency costs: docs/performance.md, "setPresence at 64 writers").
// The targets are at 64.
var benchClients = benchenv.Int("PRESENCED_BENCH_CLIENTS", 64, 1)

// benchRounds is how many alternating rounds of bare and presenced make one
// measurement.
const benchRounds = 5

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns: benchClients * 2, MaxIdleConnsPerHost: benchClients * 2, MaxConnsPerHost: benchClients * 2,
		DialContext: (&net.Dialer{}).DialContext,
	}}
}

// bareServer serves the same shapes with no work: the load tool's own
// baseline handler.
func bareServer(b *testing.B, getBody []byte) string {
	bare, err := loadgen.StartBare(getBody)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bare.Close() })
	return bare.URL()
}

// drive sends n requests from benchClients goroutines and returns the
// elapsed time. mk builds request i.
func drive(b *testing.B, c *http.Client, n int, mk func(i int) *http.Request) time.Duration {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				resp, err := c.Do(mk(i))
				if err != nil {
					failed.Store(err.Error())
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Store(resp.Status)
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f != nil {
		b.Fatalf("request failed: %v", f)
	}
	return time.Since(start)
}

// httpOps makes BenchmarkHTTP's requests to a server at base: GET presence
// and setPresence, request i to user i (in turn), session i mod 8 and one
// of two pairs by i's parity. Over 1,000 users (a multiple of 8 and of 2)
// user u always gets session u mod 8 and the same pair: every user holds
// one session, and each write after its first rewrites the same presence.
// The load tool's default writes cost presenced ~4-6 µs more (10,000
// users, 4 sessions each, real changes: docs/performance.md, "The load
// tool's gap on setPresence" and "The quiet windows of 2026-12-04").
func httpOps(tok string, users []string) (get, set func(base string) func(i int) *http.Request) {
	get = func(base string) func(i int) *http.Request {
		return func(i int) *http.Request {
			r, _ := http.NewRequest("GET", base+"/v1.0/users/"+users[i%len(users)]+"/presence", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			return r
		}
	}
	set = func(base string) func(i int) *http.Request {
		return func(i int) *http.Request {
			avail, act := "Available", "Available"
			if i%2 == 1 {
				avail, act = "Busy", "InACall"
			}
			body := fmt.Sprintf(`{"sessionId":"%s:s%d","availability":%q,"activity":%q,"expirationDuration":"PT1H"}`,
				directory.DemoDaemonClientID, i%8, avail, act)
			r, _ := http.NewRequest("POST", base+"/v1.0/users/"+users[i%len(users)]+"/presence/setPresence", strings.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+tok)
			r.Header.Set("Content-Type", "application/json")
			return r
		}
	}
	return get, set
}

// BenchmarkHTTPOne is BenchmarkHTTP/users=1000 with one server at a time,
// for profiles: a CPU profile of BenchmarkHTTP mixes the bare handler's
// requests with presenced's, and the two servers' net/http frames cannot be
// told apart. Run each sub-benchmark in a process of its own with
// -cpuprofile and compare the profiles (docs/performance.md); its figures
// are not a ratio measured in one run, and are no target's.
//
//	go test -run '^$' -bench 'BenchmarkHTTPOne/presenced-set$' -benchtime 60000x -cpuprofile ours.prof .
func BenchmarkHTTPOne(b *testing.B) {
	d := directory.DemoFile(1000)
	users := make([]string, 1000)
	for i := range users {
		users[i] = directory.DemoUserID(i + 1)
	}
	e := startWith(b, d)
	tok := e.appToken()
	c := benchClient()
	bare := bareServer(b, e.get(tok, users[0]).raw)
	get, set := httpOps(tok, users)
	for _, srv := range []struct{ name, url string }{{"bare", bare}, {"presenced", e.srv.URL()}} {
		for _, op := range []struct {
			name string
			mk   func(string) func(int) *http.Request
		}{{"get", get}, {"set", set}} {
			b.Run(srv.name+"-"+op.name, func(b *testing.B) {
				drive(b, c, benchClients, op.mk(srv.url)) // warm connections
				n := max(b.N, benchClients)
				b.ResetTimer()
				c0 := processCPU()
				t := drive(b, c, n, op.mk(srv.url))
				b.ReportMetric(float64((processCPU()-c0).Nanoseconds())/float64(n), "cpu-ns/req")
				b.ReportMetric(float64(t.Nanoseconds())/float64(n), "ns/req")
			})
		}
	}
}

// BenchmarkHTTP measures GET and setPresence over 1,000 users (and over the
// 5 demo users, where every write to a user waits for the previous one to
// that user: the engine round trip under the user's lock).
func BenchmarkHTTP(b *testing.B) {
	d := directory.DemoFile(1000)
	many := make([]string, 1000)
	for i := range many {
		many[i] = directory.DemoUserID(i + 1)
	}
	for _, users := range []int{5, 1000} {
		b.Run(fmt.Sprintf("users=%d", users), func(b *testing.B) { benchHTTP(b, d, many[:users]) })
	}
}

func benchHTTP(b *testing.B, d *directory.File, users []string) {
	e := startWith(b, d)
	tok := e.appToken()
	c := benchClient()
	getBody := e.get(tok, users[0]).raw
	bare := bareServer(b, getBody)
	get, set := httpOps(tok, users)
	for _, op := range []struct {
		name string
		mk   func(base string) func(int) *http.Request
	}{{"get", get}, {"setPresence", set}} {
		b.Run(op.name, func(b *testing.B) {
			n := max(b.N, benchClients)
			drive(b, c, benchClients, op.mk(bare)) // warm connections
			drive(b, c, benchClients, op.mk(e.srv.URL()))
			b.ResetTimer()
			// Alternate the two in rounds, so that a change in the shared
			// machine's load during the run weighs on both alike.
			// The CPU time of each phase (client and server together)
			// moves less with the shared machine's load than its wall
			// time: cpu-pct-of-bare is the ratio of the two.
			var tBare, tOurs, cBare, cOurs time.Duration
			part := max(n/benchRounds, benchClients)
			for range benchRounds {
				c0 := processCPU()
				tBare += drive(b, c, part, op.mk(bare))
				c1 := processCPU()
				tOurs += drive(b, c, part, op.mk(e.srv.URL()))
				cBare, cOurs = cBare+c1-c0, cOurs+processCPU()-c1
			}
			n = part * benchRounds
			b.StopTimer()
			b.ReportMetric(float64(tOurs.Nanoseconds())/float64(n), "ns/req")
			b.ReportMetric(float64(tBare.Nanoseconds())/float64(n), "bare-ns/req")
			b.ReportMetric(100*float64(tBare)/float64(tOurs), "pct-of-bare")
			b.ReportMetric(float64(cOurs.Nanoseconds())/float64(n), "cpu-ns/req")
			b.ReportMetric(float64(cBare.Nanoseconds())/float64(n), "bare-cpu-ns/req")
			b.ReportMetric(100*float64(cBare)/float64(cOurs), "cpu-pct-of-bare")
		})
	}
}

// BenchmarkThrottleHTTP is what throttling costs BenchmarkHTTP's GET: two
// servers over the same users, one with throttling on (the budget per
// application, so large that it never refuses, and the in-flight guard)
// and one with both off, compared in alternating rounds (pairedCost);
// off-vs-off compares two servers with both off, the noise floor.
//
//	go test -run '^$' -bench ThrottleHTTP -benchtime 400000x -count 3 .
func BenchmarkThrottleHTTP(b *testing.B) {
	d := directory.DemoFile(1000)
	boot := func(on bool) *env {
		if on {
			return startWith(b, d) // the harness's budget: on, never refusing
		}
		e := &env{t: b, fake: clock.NewFake(t0), dir: b.TempDir(), addr: "127.0.0.1:0", d: d,
			cfg: func(c *presenced.Config) { c.ThrottleRequests, c.MaxInFlight = -1, -1 }}
		e.boot()
		return e
	}
	get := func(base, tok string) func(i int) *http.Request {
		return func(i int) *http.Request {
			r, _ := http.NewRequest("GET", base+"/v1.0/users/"+directory.DemoUserID(i%1000+1)+"/presence", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			return r
		}
	}
	for _, on := range []bool{true, false} {
		b.Run(costName(on), func(b *testing.B) {
			off, other := boot(false), boot(on)
			tokOff, tokOther := off.appToken(), other.appToken() // each server signs its own
			pairedCost(b, costSides{bare: get(bareServer(b, off.get(tokOff, directory.DemoUserID(1)).raw), tokOff),
				off: get(off.srv.URL(), tokOff), on: get(other.srv.URL(), tokOther), offH: off.srv.Handler(), onH: other.srv.Handler()})
		})
	}
}

// costName names a cost benchmark's two cases.
func costName(on bool) string {
	if on {
		return "on-vs-off"
	}
	return "off-vs-off"
}
