package observe_test

import (
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/observe"
)

// BenchmarkAccessLine is the middleware as `presenced serve` runs it by
// default: metrics and the access line, in text, into a sink over a file
// (serve's stderr redirected), written every 100 ms as serve does. "one":
// a single thread, its CPU time (cpu-ns/op); "64": 64 goroutines at once,
// as the load tool's clients (BenchmarkWrapParallel's shape), with the
// process's CPU time a request (cpu-ns/op, every thread's: the sink's
// writes included) — what waiting on the sink's lock costs shows there.
//
//	go test -run '^$' -bench 'BenchmarkAccessLine' -benchmem -count 6 ./observe/
func BenchmarkAccessLine(b *testing.B) {
	mux := benchMux()
	f, err := os.Create(filepath.Join(b.TempDir(), "serve.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sink := observe.NewLogSink(f, 100*time.Millisecond)
	defer sink.Close()
	log, _ := observe.NewLogger("text", slog.LevelInfo, sink)
	h := observe.Wrap(mux, observe.HTTPOptions{Metrics: observe.NewMetrics(), AccessLog: log})
	b.Run("one", func(b *testing.B) { serveOnOneThread(b, h) })
	b.Run("64", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		cpu0 := processCPU()
		b.RunParallel(func(pb *testing.PB) {
			r, w := benchRequest(), &nopWriter{h: http.Header{}}
			for pb.Next() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		})
		b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	})
}

func processCPU() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
