package observe_test

import (
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/guid"
	"github.com/presenced/presenced/observe"
)

// threadCPU is the calling thread's CPU time, in nanoseconds.
func threadCPU() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// nopWriter is a ResponseWriter that keeps nothing.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

// benchMux routes a presence GET, as the Graph API's mux does, to a
// handler that stamps a request-id unless the middleware did (as the Graph
// API does: that work moves into the middleware, it is not added) and
// writes a small body.
func benchMux() *http.ServeMux {
	mux := http.NewServeMux()
	body := []byte(`{"availability":"Available"}`)
	mux.HandleFunc("/v1.0/users/{id}/presence", func(w http.ResponseWriter, r *http.Request) {
		if h := w.Header(); len(h["Request-Id"]) == 0 {
			h["Request-Id"] = []string{guid.New()}
		}
		_, _ = w.Write(body)
	})
	return mux
}

// benchRequest is the presence GET benchMux routes, with a client's
// request id and address.
func benchRequest() *http.Request {
	r, _ := http.NewRequest("GET", "http://x/v1.0/users/b0000000-0000-4000-8000-000000000001/presence", nil)
	r.Header.Set("client-request-id", "c1")
	r.RemoteAddr = "127.0.0.1:4711"
	return r
}

// serveOnOneThread serves benchRequest with h b.N times on one locked
// thread and reports the thread's CPU time a request (cpu-ns/op): the
// machine is shared, and the thread's CPU time says what a request costs
// whatever else runs, where wall time does not.
func serveOnOneThread(b *testing.B, h http.Handler) {
	r, w := benchRequest(), &nopWriter{h: http.Header{}}
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
	b.ReportMetric(float64(threadCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkWrap is the middleware's own cost per request around a handler
// that only routes (a ServeMux pattern, so the route label is real) and
// stamps a request-id. Read cpu-ns/op: each variant's minus bare's is what
// the middleware adds (docs/performance.md).
func BenchmarkWrap(b *testing.B) {
	mux := benchMux()
	sink := observe.NewLogSink(io.Discard, 100*time.Millisecond)
	defer sink.Close()
	log, _ := observe.NewLogger("json", slog.LevelInfo, sink)
	for _, c := range []struct {
		name string
		h    http.Handler
	}{
		{"bare", mux},
		{"nothing", observe.Wrap(mux, observe.HTTPOptions{})},
		{"metrics", observe.Wrap(mux, observe.HTTPOptions{Metrics: observe.NewMetrics()})},
		{"accesslog", observe.Wrap(mux, observe.HTTPOptions{AccessLog: log})},
		{"both", observe.Wrap(mux, observe.HTTPOptions{Metrics: observe.NewMetrics(), AccessLog: log})},
	} {
		b.Run(c.name, func(b *testing.B) { serveOnOneThread(b, c.h) })
	}
}
