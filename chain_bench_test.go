package presenced_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/presenced/presenced/directory"
)

// BenchmarkChain is presenced's own work per request, the figure issue
// #16's cuts are measured by: BenchmarkHTTPOne's GET and setPresence (the
// same server, users and token) served through the server's whole handler
// (observe middleware, token check, throttling, routing, directory, cache,
// encoding; a write's engine request too) without a connection, on one
// locked OS thread. cpu-ns/req is that thread's CPU time — what other
// threads do (the engine's side of a write, the collector's workers) is
// not in it — and B/req the bytes it allocated. End to end the rest of a
// request (net/http on both ends, the scheduler) is ~50–60 µs, and too
// noisy on a shared machine to show a microsecond.
//
//	go test -run '^$' -bench BenchmarkChain -benchtime 20000x -count 6 .
func BenchmarkChain(b *testing.B) {
	d := directory.DemoFile(1000)
	users := make([]string, 1000)
	for i := range users {
		users[i] = directory.DemoUserID(i + 1)
	}
	e := startWith(b, d)
	get, set := httpOps(e.appToken(), users)
	h := e.srv.Handler()
	for _, op := range []struct {
		name string
		mk   func(string) func(int) *http.Request
	}{{"get", get}, {"set", set}} {
		b.Run(op.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			mk := op.mk(e.srv.URL())
			chainServe(b, h, mk, 2000) // every user cached, every path warm
			n := max(b.N, 1000)
			b.ResetTimer()
			cpu, alloc, allocs := chainServe(b, h, mk, n)
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/req")
			b.ReportMetric(float64(alloc)/float64(n), "B/req")
			b.ReportMetric(float64(allocs)/float64(n), "allocs/req")
		})
	}
}

var chainMetrics = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/allocs:objects"}}

// chainServe serves n requests made by mk through h on the calling
// (locked) thread, the requests, their bodies and the writers made before
// the clock starts, and returns the thread's CPU time and the process's
// allocations (bytes, objects) meanwhile.
func chainServe(b *testing.B, h http.Handler, mk func(int) *http.Request, n int) (cpu time.Duration, alloc, allocs uint64) {
	reqs, ws := make([]*http.Request, n), make([]discard, n)
	for i := range reqs {
		c := mk(i)
		var body []byte
		if c.Body != nil {
			body, _ = io.ReadAll(c.Body)
		}
		r := httptest.NewRequest(c.Method, c.URL.String(), bytes.NewReader(body))
		r.Header, r.RemoteAddr = c.Header, "127.0.0.1:40000"
		reqs[i], ws[i].h = r, http.Header{}
	}
	metrics.Read(chainMetrics)
	a0, o0 := chainMetrics[0].Value.Uint64(), chainMetrics[1].Value.Uint64()
	c0 := threadCPU()
	for i, r := range reqs {
		h.ServeHTTP(&ws[i], r)
	}
	cpu = threadCPU() - c0
	metrics.Read(chainMetrics)
	for i := range ws {
		if ws[i].status != http.StatusOK {
			b.Fatalf("in the chain: status %d", ws[i].status)
		}
	}
	return cpu, chainMetrics[0].Value.Uint64() - a0, chainMetrics[1].Value.Uint64() - o0
}
