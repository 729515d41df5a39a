package presenced_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/paired"
)

// What a feature costs a GET is measured on two servers in this process
// that differ only in the feature, in two ways, each in many short
// alternating rounds whose differences cancel what the shared machine's
// other load did in the round (docs/performance.md, "Measuring a cost of a
// few percent"):
//
//   - in the chain: on one locked OS thread, the same GETs through each
//     server's whole handler (token check, throttling, routing, the
//     engine's cache, encoding, the observe middleware) without a
//     connection; the thread's CPU time per request, and the bytes it
//     allocates, whose collection other threads do. This resolves tens of
//     nanoseconds.
//   - end to end: 64 clients over loopback, the process's CPU and wall
//     time per request (client and server share the cores, as in
//     BenchmarkHTTP). This is what a user sees, but its rounds scatter by
//     tens of percent on a loaded machine: it is the check that the
//     first agrees, and the denominator.
//
// The cost is reported as the share of the end-to-end CPU per request the
// feature adds: with the cores busy, throughput is the cores' time divided
// by the CPU time per request, so that share is the share of throughput.

// costPart is how many requests each server takes in an end-to-end
// round: short against the changes in the shared machine's load, long
// against the ramp of the 64 clients at each end. b.N/costPart rounds (at
// least costMinRounds) make one measurement.
const (
	costPart      = 1000
	costMinRounds = 30
)

// In the chain: chainRounds rounds of chainPart requests a server.
const (
	chainPart   = 200
	chainRounds = 2000
)

// costSides are the servers compared: off without the feature, on with
// it; the bare handler's rounds show what the client and HTTP take.
type costSides struct {
	bare, off, on func(i int) *http.Request
	offH, onH     http.Handler // the servers' handlers (Server.Handler)
	// settleOn, if set, is done at the end of each of on's rounds, inside
	// its measurement: work the feature leaves pending (the access log's
	// buffered lines), which would otherwise land in off's round.
	settleOn func()
}

// costSample is one side's share of a round.
type costSample struct {
	cpu, wall time.Duration
	alloc     uint64 // bytes allocated
}

var costMetrics = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}

func readCostMetrics() (alloc uint64) {
	metrics.Read(costMetrics)
	return costMetrics[0].Value.Uint64()
}

// gcCostPerByte is what the collector costs per byte allocated, in CPU
// nanoseconds: a cycle's CPU (a forced collection's, the process idle
// otherwise; the median of five) over the bytes allocated between two
// cycles (the heap goal less the live heap). The runtime's own estimate
// (/cpu/classes/gc) counts its workers' wall time, which a loaded machine
// inflates.
func gcCostPerByte() float64 {
	var cycles []float64
	for range 5 {
		c0 := processCPU()
		runtime.GC()
		cycles = append(cycles, float64(processCPU()-c0))
	}
	heap := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(heap)
	return paired.Summarize(cycles).Median / float64(heap[0].Value.Uint64()-heap[1].Value.Uint64())
}

func measureEnd(b *testing.B, c *http.Client, n int, mk func(int) *http.Request, settle func()) costSample {
	a0 := readCostMetrics()
	c0, w0 := processCPU(), time.Now()
	drive(b, c, n, mk)
	if settle != nil {
		settle()
	}
	s := costSample{cpu: processCPU() - c0, wall: time.Since(w0)}
	s.alloc = readCostMetrics() - a0
	return s
}

// discard is the chain's response writer: it keeps the status.
type discard struct {
	h      http.Header
	status int
}

func (w *discard) Header() http.Header { return w.h }
func (w *discard) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(p), nil
}
func (w *discard) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

// measureChain serves n requests through h on the calling (locked)
// thread; the requests and writers are made before the clock starts.
func measureChain(b *testing.B, h http.Handler, mk func(int) *http.Request, n int, settle func()) costSample {
	reqs, ws := make([]*http.Request, n), make([]discard, n)
	for i := range reqs {
		c := mk(i)
		r := httptest.NewRequest(c.Method, c.URL.String(), nil)
		r.Header, r.RemoteAddr = c.Header, "127.0.0.1:40000"
		reqs[i], ws[i].h = r, http.Header{}
	}
	a0 := readCostMetrics()
	c0 := threadCPU()
	for i, r := range reqs {
		h.ServeHTTP(&ws[i], r)
	}
	if settle != nil {
		settle()
	}
	s := costSample{cpu: threadCPU() - c0}
	s.alloc = readCostMetrics() - a0
	for i := range ws {
		if ws[i].status != http.StatusOK {
			b.Fatalf("in the chain: status %d", ws[i].status)
		}
	}
	return s
}

// rounds runs n alternating rounds, off first in every other one, and
// returns each side's samples.
func rounds(n int, off, on func() costSample) (offs, ons []costSample) {
	for round := range n {
		if round%2 == 0 {
			offs = append(offs, off())
			ons = append(ons, on())
		} else {
			ons = append(ons, on())
			offs = append(offs, off())
		}
	}
	return offs, ons
}

// pairedCost measures both ways and reports: about b.N requests to each
// of off and on end to end (half as many to the bare handler), and
// chainRounds×chainPart to each in the chain.
func pairedCost(b *testing.B, s costSides) {
	c := benchClient()
	for _, mk := range []func(int) *http.Request{s.bare, s.off, s.on} {
		drive(b, c, benchClients, mk) // warm connections
	}
	b.ResetTimer()
	// In the chain.
	runtime.LockOSThread()
	chainOff, chainOn := rounds(chainRounds,
		func() costSample { return measureChain(b, s.offH, s.off, chainPart, nil) },
		func() costSample { return measureChain(b, s.onH, s.on, chainPart, s.settleOn) })
	runtime.UnlockOSThread()
	// End to end.
	var bare []costSample
	endOff, endOn := rounds(max(b.N/costPart, costMinRounds),
		func() costSample {
			bare = append(bare, measureEnd(b, c, costPart/2, s.bare, nil))
			return measureEnd(b, c, costPart, s.off, nil)
		},
		func() costSample { return measureEnd(b, c, costPart, s.on, s.settleOn) })
	b.StopTimer()
	gcPerByte := gcCostPerByte()

	perReq := func(v []costSample, n int, f func(costSample) float64) []float64 {
		out := make([]float64, len(v))
		for i := range v {
			out[i] = f(v[i]) / float64(n)
		}
		return out
	}
	cpu := func(s costSample) float64 { return float64(s.cpu) }
	alloc := func(s costSample) float64 { return float64(s.alloc) }
	diff := func(off, on []float64, f func(off, on float64) float64) paired.Summary {
		d := make([]float64, len(off))
		for i := range off {
			d[i] = f(off[i], on[i])
		}
		return paired.Summarize(d)
	}
	minus := func(off, on float64) float64 { return on - off }
	lost := func(off, on float64) float64 { return 100 * (1 - off/on) } // the share of throughput
	median := func(v []float64) float64 { return paired.Summarize(v).Median }

	// The chain's added CPU, and the collection of the bytes it adds (done
	// by other threads than the chain's).
	chainOffNs, chainOnNs := perReq(chainOff, chainPart, cpu), perReq(chainOn, chainPart, cpu)
	added := diff(chainOffNs, chainOnNs, minus)
	addedBytes := diff(perReq(chainOff, chainPart, alloc), perReq(chainOn, chainPart, alloc), minus)
	gcAdded := addedBytes.Median * gcPerByte

	endOffNs, endOnNs := perReq(endOff, costPart, cpu), perReq(endOn, costPart, cpu)
	wall := func(s costSample) float64 { return float64(s.wall) }
	endCPU := diff(endOffNs, endOnNs, lost)
	endWall := diff(perReq(endOff, costPart, wall), perReq(endOn, costPart, wall), lost)
	// The denominator: a GET's CPU end to end, the lower quartile of off's
	// rounds (it moves with the machine's load, both ways), so that the
	// share is not understated.
	sorted := slices.Sorted(slices.Values(endOffNs))
	endQ1 := sorted[len(sorted)/4]
	costPct := 100 * (added.Median + gcAdded) / endQ1
	costHi := 100 * (added.Hi + gcAdded) / endQ1
	// Beside the handler chain's own work alone (no HTTP, no client): an
	// upper bound of the share of a server whose clients are elsewhere,
	// far above it (docs/performance.md measures that server's CPU).
	ofChain := 100 * (added.Median + gcAdded) / median(chainOffNs)

	b.ReportMetric(costPct, "cost-pct")
	b.ReportMetric(costHi, "cost-hi-pct")
	b.ReportMetric(ofChain, "of-chain-pct")
	b.ReportMetric(added.Median, "chain-added-ns/req")
	b.ReportMetric(gcAdded, "gc-added-ns/req")
	b.ReportMetric(median(chainOffNs), "chain-off-ns/req")
	b.ReportMetric(endQ1, "end-off-cpu-ns/req")
	b.ReportMetric(endCPU.Median, "end-cpu-cost-pct")
	b.ReportMetric(endWall.Median, "end-wall-cost-pct")
	b.ReportMetric(median(perReq(bare, costPart/2, cpu)), "bare-cpu-ns/req")
	b.Logf("chain: added %.0f ns/req [%.0f, %.0f] (%.1f %%, %d of %d rounds above 0), %+.0f B/req → %.0f ns of collection (%.3f ns/B); off's chain %.0f ns/req",
		added.Median, added.Lo, added.Hi, 100*added.Coverage, added.Above, added.Rounds, addedBytes.Median, gcAdded, gcPerByte, median(chainOffNs))
	b.Logf("share of a GET's end-to-end CPU (%.0f ns, lower quartile): %.2f %%, at most %.2f %%; of the handler chain's alone %.1f %%",
		endQ1, costPct, costHi, ofChain)
	b.Logf("end to end: %s; %s; %d rounds of %d requests a side, %.2f cores busy",
		costLine("cpu", endCPU), costLine("wall", endWall), len(endOff), costPart, busy(slices.Concat(endOff, endOn)))
}

// busy is how many cores the process kept busy in the rounds v.
func busy(v []costSample) float64 {
	var cpu, wall time.Duration
	for _, s := range v {
		cpu, wall = cpu+s.cpu, wall+s.wall
	}
	return float64(cpu) / float64(wall)
}

func costLine(what string, s paired.Summary) string {
	return fmt.Sprintf("%s cost %+.2f %% [%+.2f, %+.2f] (%.1f %%, %d of %d rounds above 0)",
		what, s.Median, s.Lo, s.Hi, 100*s.Coverage, s.Above, s.Rounds)
}
