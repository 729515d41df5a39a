package presenced_test

import (
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/observe"
)

// BenchmarkHTTPObserved measures what metrics and the access log cost a
// GET: three servers in one run — the bare handler, presenced with both
// off, presenced with both on (metrics on the main listener, one JSON
// access line per request into a file, buffered as the command does) —
// in alternating rounds, so
// that the shared machine's load weighs on all alike. "cost-pct" is how
// much longer a request takes with them on than off; "cpu-cost-pct" how
// much more CPU time it takes, which the machine's other load moves less.
// The sub-benchmark off-vs-off runs two servers with both off, the same
// way: its cost-pct is the noise floor of the measurement.
func BenchmarkHTTPObserved(b *testing.B) {
	for _, on := range []bool{true, false} {
		name := "on-vs-off"
		if !on {
			name = "off-vs-off"
		}
		b.Run(name, func(b *testing.B) { benchObserved(b, on) })
	}
}

func benchObserved(b *testing.B, observed bool) {
	d, users := notifyBenchDirectory(b, 1000)
	logFile, err := os.Create(filepath.Join(b.TempDir(), "access.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { logFile.Close() })
	boot := func(on bool) *env {
		e := &env{t: b, fake: clock.NewFake(t0), dir: b.TempDir(), addr: "127.0.0.1:0", d: d, cfg: func(c *presenced.Config) {
			c.MetricsAddr, c.AccessLog = presenced.MetricsOff, false
			if on {
				c.MetricsAddr, c.AccessLog = "", true
			}
		}}
		if on {
			// As the command makes it: JSON into a buffered sink.
			sink := observe.NewLogSink(logFile, 100*time.Millisecond)
			b.Cleanup(func() { sink.Close() })
			log, err := observe.NewLogger("json", slog.LevelInfo, sink)
			if err != nil {
				b.Fatal(err)
			}
			e.log = log
		}
		e.boot()
		return e
	}
	off, on := boot(false), boot(observed)
	tokOff, tokOn := off.appToken(), on.appToken()
	c := benchClient()
	bare := bareServer(b, off.get(tokOff, users[0]).raw)
	get := func(base, tok string) func(i int) *http.Request {
		return func(i int) *http.Request {
			r, _ := http.NewRequest("GET", base+"/v1.0/users/"+users[i%len(users)]+"/presence", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			return r
		}
	}
	mkBare, mkOff, mkOn := get(bare, tokOff), get(off.srv.URL(), tokOff), get(on.srv.URL(), tokOn)
	for _, mk := range []func(int) *http.Request{mkBare, mkOff, mkOn} {
		drive(b, c, benchClients, mk) // warm connections
	}
	n := max(b.N, benchClients)
	part := max(n/benchRounds, benchClients)
	b.ResetTimer()
	var tBare, tOff, tOn time.Duration
	var cpuOff, cpuOn time.Duration // the process's CPU time in each server's rounds
	// Each server's share of a round, measured on wall and CPU time.
	var allocOff, allocOn uint64 // bytes allocated in each server's rounds
	run := func(mk func(int) *http.Request, t, cpu *time.Duration, alloc *uint64) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		a0, c0 := ms.TotalAlloc, processCPU()
		*t += drive(b, c, part, mk)
		*cpu += processCPU() - c0
		runtime.ReadMemStats(&ms)
		*alloc += ms.TotalAlloc - a0
	}
	// An even number of rounds, so that each server goes first as often.
	rounds := 2 * ((benchRounds + 1) / 2)
	part = max(n/rounds, benchClients)
	for round := range rounds {
		tBare += drive(b, c, part, mkBare)
		// Which of the two goes first alternates: the one after another
		// measured a few percent slower in off-vs-off runs.
		if round%2 == 0 {
			run(mkOff, &tOff, &cpuOff, &allocOff)
			run(mkOn, &tOn, &cpuOn, &allocOn)
		} else {
			run(mkOn, &tOn, &cpuOn, &allocOn)
			run(mkOff, &tOff, &cpuOff, &allocOff)
		}
	}
	b.StopTimer()
	n = part * rounds
	// CPU time per request (client and server together, the same client
	// for both): unlike wall time it does not move with what else the
	// shared machine runs.
	b.ReportMetric(float64(cpuOff)/float64(n), "off-cpu-ns/req")
	b.ReportMetric(float64(cpuOn)/float64(n), "on-cpu-ns/req")
	b.ReportMetric(100*float64(cpuOn-cpuOff)/float64(cpuOff), "cpu-cost-pct")
	b.ReportMetric(float64(allocOff)/float64(n), "off-B/req")
	b.ReportMetric(float64(allocOn)/float64(n), "on-B/req")
	b.ReportMetric(float64(tOn.Nanoseconds())/float64(n), "ns/req")
	b.ReportMetric(float64(tOff.Nanoseconds())/float64(n), "off-ns/req")
	b.ReportMetric(100*float64(tBare)/float64(tOff), "off-pct-of-bare")
	b.ReportMetric(100*float64(tBare)/float64(tOn), "on-pct-of-bare")
	b.ReportMetric(100*(float64(tOn)-float64(tOff))/float64(tOff), "cost-pct")
}
