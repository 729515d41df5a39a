package clusterproof_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/nodetest"
	"github.com/presenced/presenced/loadgen"
)

// TestClusterBench makes the figures of docs/performance.md's cluster
// section: a single node and a three-node cluster of `presenced serve`
// processes, started in one run, and the `presenced bench` binary against
// each in turn (single, cluster, single, …, so both meet the same load of
// the shared machine): 64 clients, setPresence only and then GET only,
// each PRESENCED_CLUSTER_BENCH_DURATION (default 10 s), over
// PRESENCED_CLUSTER_BENCH_RUNS rounds (default 3). Per run: throughput and
// p99, the cluster's cross-node visibility (bench --visibility), and the
// CPU the server processes used per request (every node together). It
// measures, and asserts nothing about the figures; it runs only with
// PRESENCED_CLUSTER_BENCH=1:
//
//	PRESENCED_CLUSTER_BENCH=1 go test -run TestClusterBench -v -timeout 30m .
func TestClusterBench(t *testing.T) {
	if os.Getenv("PRESENCED_CLUSTER_BENCH") != "1" {
		t.Skip("a benchmark of several minutes: PRESENCED_CLUSTER_BENCH=1")
	}
	runs, duration := 3, 10*time.Second
	if n, err := strconv.Atoi(os.Getenv("PRESENCED_CLUSTER_BENCH_RUNS")); err == nil && n > 0 {
		runs = n
	}
	if d, err := time.ParseDuration(os.Getenv("PRESENCED_CLUSTER_BENCH_DURATION")); err == nil && d > 0 {
		duration = d
	}
	const users = 1000
	single := nodetest.Start(t, nodetest.Options{Single: true, DemoUsers: users})
	cluster := nodetest.Start(t, nodetest.Options{DemoUsers: users})
	bin := nodetest.Binary(t)
	type row struct{ name, mix string }
	rows := []row{{"single", "set=1,get=0,many=0"}, {"cluster", "set=1,get=0,many=0"}, {"single", "set=0,get=1,many=0"}, {"cluster", "set=0,get=1,many=0"}}
	results := map[row][]benchFigures{}
	for run := range runs {
		for _, r := range rows {
			c := single
			if r.name == "cluster" {
				c = cluster
			}
			f := benchOnce(t, bin, c, r.mix, users, duration)
			results[r] = append(results[r], f)
			t.Logf("run %d, %s, %s: %s", run+1, r.name, r.mix, f)
		}
	}
	t.Logf("uptime load at the end: %s", loadAverage())
	for _, r := range rows {
		fs := results[r]
		line := fmt.Sprintf("%-7s %-19s throughput %s req/s, p99 %s ms, CPU %s µs/request",
			r.name, r.mix, spread(fs, func(f benchFigures) float64 { return f.throughput }, "%.0f"),
			spread(fs, func(f benchFigures) float64 { return f.p99.Seconds() * 1e3 }, "%.1f"),
			spread(fs, func(f benchFigures) float64 { return f.cpuPerReq.Seconds() * 1e6 }, "%.0f"))
		if r.name == "cluster" {
			line += ", visibility p99 " + spread(fs, func(f benchFigures) float64 { return f.visP99.Seconds() * 1e3 }, "%.1f") + " ms"
		}
		t.Log(line)
	}
}

// benchFigures are one bench run's.
type benchFigures struct {
	throughput float64
	p99        time.Duration
	errors     int64
	cpuPerReq  time.Duration // every node's CPU together, per request
	visP99     time.Duration // cross-node visibility (a cluster)
	visSamples int64
	visMissed  int64
}

func (f benchFigures) String() string {
	s := fmt.Sprintf("%.0f req/s, p99 %.1f ms, %d errors, CPU %.0f µs/request", f.throughput, f.p99.Seconds()*1e3, f.errors, f.cpuPerReq.Seconds()*1e6)
	if f.visSamples > 0 {
		s += fmt.Sprintf(", visibility p99 %.1f ms (%d samples, %d not seen)", f.visP99.Seconds()*1e3, f.visSamples, f.visMissed)
	}
	return s
}

// benchOnce runs `presenced bench` with mix against every node of c and
// returns its figures, with the CPU c's processes used meanwhile.
func benchOnce(t *testing.T, bin string, c *nodetest.Cluster, mix string, users int, d time.Duration) benchFigures {
	t.Helper()
	args := []string{"bench", "--json", "--baseline=false", "--concurrency", "64", "--duration", d.String(),
		"--mix", mix, "--users", strconv.Itoa(users), "--sessions-per-user", "4"}
	for _, n := range c.Nodes {
		args = append(args, "--url", n.URL)
	}
	cpu := func() time.Duration {
		var sum time.Duration
		for _, n := range c.Nodes {
			c, err := n.CPUTime()
			if err != nil {
				t.Fatal(err)
			}
			sum += c
		}
		return sum
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	before := cpu()
	if err := cmd.Run(); err != nil {
		t.Fatalf("presenced %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	used := cpu() - before
	var rep loadgen.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("bench's report: %v\n%s", err, out.String())
	}
	tot := rep.Presenced.Total
	f := benchFigures{throughput: tot.Throughput, p99: tot.Latency.P99, errors: tot.Errors}
	if tot.Count > 0 {
		f.cpuPerReq = used / time.Duration(tot.Count)
	}
	if v := rep.Visibility; v != nil {
		f.visP99, f.visSamples, f.visMissed = v.Latency.P99, v.Samples, v.NotSeen
	}
	return f
}

// spread is "min–max" of the figures of several runs, or one figure.
func spread(fs []benchFigures, of func(benchFigures) float64, format string) string {
	var v []float64
	for _, f := range fs {
		v = append(v, of(f))
	}
	lo, hi := slices.Min(v), slices.Max(v)
	if fmt.Sprintf(format, lo) == fmt.Sprintf(format, hi) {
		return fmt.Sprintf(format, lo)
	}
	return fmt.Sprintf(format+"–"+format, lo, hi)
}

// loadAverage is /proc/loadavg's first three figures.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return err.Error()
	}
	f := strings.Fields(string(raw))
	return strings.Join(f[:min(3, len(f))], " ")
}
