package clusterproof_test

import (
	"math"
	"slices"
	"testing"
	"time"
)

// The queueing model behind docs/performance.md's projection of the
// cluster's write latency to three machines. A closed loop: n clients,
// each with one request in flight and no pause between them, as `presenced
// bench` runs. A request visits each CPU (a station of c cores) for its
// CPU demand there, and waits besides for what is not CPU (the round
// trips of replication, the loopback, timers): a delay no queue lengthens.
// Exact mean-value analysis (MVA) with one queue per station; a station
// of c cores is taken as Seidmann's approximation: one server of demand
// D/c and a delay of D·(c−1)/c.

// station is one machine's CPU: a request's demand on it and its cores
// (fractional: what the rest of a shared machine leaves).
type station struct {
	demand time.Duration
	cores  float64
}

// mva is the closed loop's throughput (requests per second) and mean
// response time with n clients.
func mva(stations []station, delay time.Duration, n int) (x float64, r time.Duration) {
	z := delay.Seconds()
	d := make([]float64, len(stations))
	for i, s := range stations {
		c := max(s.cores, 1)
		d[i] = s.demand.Seconds() / c
		z += s.demand.Seconds() * (c - 1) / c
	}
	q := make([]float64, len(stations)) // mean queue at each station
	var resp float64
	for k := 1; k <= n; k++ {
		resp = z
		rs := make([]float64, len(d))
		for i := range d {
			rs[i] = d[i] * (1 + q[i])
			resp += rs[i]
		}
		x = float64(k) / resp
		for i := range q {
			q[i] = x * rs[i]
		}
	}
	return x, time.Duration(resp * float64(time.Second))
}

func TestMVA(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name     string
		stations []station
		delay    time.Duration
		n        int
		x        float64 // requests per second
		r        time.Duration
	}{
		// One client: no queue, the demands and the delay in series.
		{"one client", []station{{ms, 1}, {2 * ms, 1}}, 3 * ms, 1, 1000.0 / 6, 6 * ms},
		// Many clients: the busiest station bounds the throughput, and
		// Little's law gives the mean response time.
		{"saturated", []station{{ms, 1}, {2 * ms, 1}}, 3 * ms, 200, 500, 400 * ms},
		// Two cores carry twice one core's throughput.
		{"two cores", []station{{2 * ms, 2}}, 0, 100, 1000, 100 * ms},
		// Two clients, one station, no delay: both always queued there.
		{"two clients", []station{{ms, 1}}, 0, 2, 1000, 2 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, r := mva(tc.stations, tc.delay, tc.n)
			if math.Abs(x-tc.x)/tc.x > 0.01 || math.Abs(float64(r-tc.r))/float64(tc.r) > 0.01 {
				t.Fatalf("mva = %.1f/s, %v; want %.1f/s, %v", x, r, tc.x, tc.r)
			}
		})
	}
}

// checkModel checks the model against the bench's runs on this machine,
// logging each prediction beside what was measured, and then projects the
// cluster's writes at top clients to three machines.
//
// On this machine everything (server processes, client) shares one
// station of 2 − (the cores the rest of the machine used in that run)
// cores. A run's demand is the median CPU per request (servers and client)
// of the other rounds at the same clients: a write's CPU falls as the
// clients rise (the engine and the HTTP stack batch more), so it is taken
// at the load predicted, but never from the run itself. The delay is what
// the 1-client runs' mean response time holds beyond that demand (at
// least 0). The p99 is the mean times the single node's p99/mean at top
// clients (its lowest to its highest): fitted on the single node, so the
// single node's p99 is not a check, the cluster's is.
//
// On three machines: a station per node, 2 cores each, its demand that
// node's CPU per write at top clients; the bench client elsewhere; the
// delay the cluster's, plus rtt for each of the ~2.7 network round trips
// of a write (client to node, to the partition's leader for two writes in
// three, to a follower) that loopback did not cost.
func checkModel(t *testing.T, results map[benchRow][]benchFigures, top int) {
	const set, cores = "set=1,get=0,many=0", 2.0
	runs := func(name string, n int) []benchFigures { return results[benchRow{name, set, n, 0}] }
	if len(runs("single", 1)) == 0 || len(runs("single", top)) < 2 || top == 1 {
		t.Log("model: needs PRESENCED_CLUSTER_BENCH_CLIENTS with 1 and a higher count, and 2 runs or more")
		return
	}
	demand := func(f benchFigures) time.Duration { return f.cpuPerReq() + f.clientCPU }
	// others is the median demand of the runs but the i-th.
	others := func(fs []benchFigures, i int) time.Duration {
		var ds []time.Duration
		for j, f := range fs {
			if j != i {
				ds = append(ds, demand(f))
			}
		}
		return median(ds)
	}
	delay := func(name string) time.Duration {
		var r1, d []time.Duration
		for _, f := range runs(name, 1) {
			r1 = append(r1, f.mean)
		}
		for _, f := range runs(name, top) {
			d = append(d, demand(f))
		}
		return max(0, median(r1)-median(d))
	}
	var k []float64 // the single node's p99/mean at top clients
	for _, f := range runs("single", top) {
		k = append(k, f.p99.Seconds()/f.mean.Seconds())
	}
	kLo, kHi := slices.Min(k), slices.Max(k)
	ms := func(d time.Duration) float64 { return d.Seconds() * 1e3 }
	for _, name := range []string{"single", "cluster"} {
		z := delay(name)
		for n := range results {
			if n.name != name || n.mix != set || n.clients == 1 || n.rate > 0 {
				continue
			}
			fs := runs(name, n.clients)
			for i, f := range fs {
				d, c := others(fs, i), cores-f.otherCores
				x, r := mva([]station{{d, c}}, z, n.clients)
				t.Logf("model, %s run %d, %d clients: demand %.0f µs, delay %.2f ms, %.2f cores left (load %.1f): predicted %.0f/s, mean %.2f ms, p99 %.1f–%.1f ms; measured %.0f/s (predicted %+.0f %%), mean %.2f ms (%+.0f %%), p99 %.1f ms",
					name, i+1, n.clients, d.Seconds()*1e6, ms(z), c, f.load, x, ms(r), kLo*ms(r), kHi*ms(r),
					f.throughput, 100*(x/f.throughput-1), ms(f.mean), 100*(r.Seconds()/f.mean.Seconds()-1), ms(f.p99))
			}
		}
	}
	if len(runs("cluster", 1)) == 0 {
		return
	}
	// The cluster's own p99/mean on this box: where the model's mean held
	// but its p99 fell short (the quiet window of session 3: by 1.3–1.45×)
	// the difference is this factor against the single node's; it is the
	// cautious one to project with (docs/performance.md).
	var kc []float64
	for _, f := range runs("cluster", top) {
		kc = append(kc, f.p99.Seconds()/f.mean.Seconds())
	}
	kcLo, kcHi := slices.Min(kc), slices.Max(kc)
	t.Logf("model: tail factor p99/mean at %d clients: single node %.2f–%.2f, the cluster on this box %.2f–%.2f (%.2f–%.2f times the single node's)",
		top, kLo, kHi, kcLo, kcHi, kcLo/kHi, kcHi/kLo)
	z := delay("cluster")
	for _, f := range runs("cluster", top) {
		for _, rtt := range []time.Duration{0, 200 * time.Microsecond, 500 * time.Microsecond} {
			var st []station
			for _, d := range f.nodeCPU {
				st = append(st, station{d, cores})
			}
			x, r := mva(st, z+27*rtt/10, top)
			t.Logf("model, three 2-core machines, %d clients, per-node demand %v, delay %.2f ms, rtt %v: %.0f writes/s, mean %.2f ms, p99 %.1f–%.1f ms (with the cluster's own tail factor %.1f–%.1f ms)",
				top, f.nodeCPU, ms(z), rtt, x, ms(r), kLo*ms(r), kHi*ms(r), kcLo*ms(r), kcHi*ms(r))
		}
	}
}

func median(v []time.Duration) time.Duration {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
