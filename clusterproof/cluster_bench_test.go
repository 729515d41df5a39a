package clusterproof_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/benchenv"
	"github.com/presenced/presenced/internal/nodetest"
	"github.com/presenced/presenced/loadgen"
	"github.com/presenced/presenced/natsstore"
)

// TestClusterBench makes the figures of docs/performance.md's cluster
// section: a single node and a three-node cluster of `presenced serve`
// processes, started in one run, and the `presenced bench` binary against
// each in turn (single, cluster, single, …, so both meet the same load of
// the shared machine): setPresence only at each of
// PRESENCED_CLUSTER_BENCH_CLIENTS (default "64"; e.g. "1,16,64"), then
// GET only at the highest (unless PRESENCED_CLUSTER_BENCH_READS=0), each
// PRESENCED_CLUSTER_BENCH_DURATION (default 10 s), over
// PRESENCED_CLUSTER_BENCH_RUNS rounds (default 3). With
// PRESENCED_CLUSTER_BENCH_ONE_URL=1 the cluster also takes the highest
// load's writes through its first node only, which splits each node's CPU
// by role: the node that took the request against the other two. With
// PRESENCED_CLUSTER_BENCH_RATES (e.g. "500,1000") the cluster also takes
// the highest load's writes paced to each rate (bench --rate): below
// saturation, for the cross-node visibility a machine not short of CPU
// would see.
//
// With PRESENCED_CLUSTER_BENCH_PROFILE=dir each cluster node serves Go's
// profiler, and every cluster setPresence run at the highest load takes a
// CPU profile of each node over the run's middle, saved in dir as
// run<N>-<row>-node<i>.pprof (go tool pprof -top dir/…; the profiler's
// own cost is a few µs per write).
//
// Per run: throughput, mean and p99; the cluster's cross-node visibility
// (bench --visibility); the CPU per request of each server process, of
// the bench client, and of everything else on the machine (/proc/stat),
// and the load average. These are the measured inputs of the queueing
// model (queue_model_test.go), which it then checks against the runs at
// the highest load and projects to three machines. It asserts nothing
// about the figures; it runs only with PRESENCED_CLUSTER_BENCH=1:
//
//	PRESENCED_CLUSTER_BENCH=1 PRESENCED_CLUSTER_BENCH_CLIENTS=1,16,64 go test -run TestClusterBench -v -timeout 30m .
func TestClusterBench(t *testing.T) {
	if os.Getenv("PRESENCED_CLUSTER_BENCH") != "1" {
		t.Skip("a benchmark of several minutes: PRESENCED_CLUSTER_BENCH=1")
	}
	runs, duration := 3, 10*time.Second
	runs = benchenv.Int("PRESENCED_CLUSTER_BENCH_RUNS", runs, 1)
	if d, err := time.ParseDuration(os.Getenv("PRESENCED_CLUSTER_BENCH_DURATION")); err == nil && d > 0 {
		duration = d
	}
	clients := []int{64}
	if s := os.Getenv("PRESENCED_CLUSTER_BENCH_CLIENTS"); s != "" {
		clients = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				t.Fatalf("PRESENCED_CLUSTER_BENCH_CLIENTS=%q: %q is not a count of clients", s, f)
			}
			clients = append(clients, n)
		}
	}
	top := slices.Max(clients)
	// PRESENCED_CLUSTER_BENCH_USERS (default 1,000): more users, fewer
	// writes of one user through two nodes at once (cluster_where_test.go).
	users := benchenv.Int("PRESENCED_CLUSTER_BENCH_USERS", 1000, 2)
	single := nodetest.Start(t, nodetest.Options{Single: true, DemoUsers: users})
	profDir := os.Getenv("PRESENCED_CLUSTER_BENCH_PROFILE")
	parts := partitionCount(t)
	copts := nodetest.Options{DemoUsers: users, Profile: profDir != ""}
	if parts > 0 {
		copts.Args = []string{"--partitions", strconv.Itoa(parts)}
	} else {
		parts = natsstore.DefaultPartitions
	}
	// PRESENCED_CLUSTER_BENCH_NODE_GOMAXPROCS=N runs each cluster node with
	// GOMAXPROCS=N (the single node keeps the default): three nodes of two
	// Ps each on a two-core machine against fewer Ps than cores
	// (cluster_where_test.go).
	if n := benchenv.Int("PRESENCED_CLUSTER_BENCH_NODE_GOMAXPROCS", 0, 1); n > 0 {
		copts.Env = []string{"GOMAXPROCS=" + strconv.Itoa(n)}
		t.Logf("each cluster node: GOMAXPROCS=%d", n)
	}
	t.Logf("the cluster: %d presence partitions", parts)
	cluster := nodetest.Start(t, copts)
	bin := nodetest.Binary(t)
	// The nodes even out the partitions' leaders a minute or two after a
	// start (each looks every 30 s and hands one over after two looks
	// agree); measure the cluster as it then runs.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		led, err := tryLeadersPerNode(cluster)
		if err != nil {
			// A loaded machine's engine may not answer at once (JetStream
			// temporarily unavailable): look again, until the deadline.
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
			continue
		}
		if slices.Max(led)-slices.Min(led) <= 1 || time.Now().After(deadline) {
			t.Logf("partitions led per node before the runs: %v", led)
			break
		}
		time.Sleep(time.Second)
	}
	const set, get = "set=1,get=0,many=0", "set=0,get=1,many=0"
	var rows []benchRow
	for _, n := range clients {
		rows = append(rows, benchRow{"single", set, n, 0}, benchRow{"cluster", set, n, 0})
	}
	if os.Getenv("PRESENCED_CLUSTER_BENCH_ONE_URL") == "1" {
		rows = append(rows, benchRow{"cluster-via-node-0", set, top, 0})
	}
	for _, f := range strings.Split(os.Getenv("PRESENCED_CLUSTER_BENCH_RATES"), ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		rate, err := strconv.ParseFloat(f, 64)
		if err != nil || rate <= 0 {
			t.Fatalf("PRESENCED_CLUSTER_BENCH_RATES: %q is not a rate", f)
		}
		rows = append(rows, benchRow{"cluster", set, top, rate})
	}
	if os.Getenv("PRESENCED_CLUSTER_BENCH_READS") != "0" {
		rows = append(rows, benchRow{"single", get, top, 0}, benchRow{"cluster", get, top, 0})
	}
	results := map[benchRow][]benchFigures{}
	for run := range runs {
		for _, r := range rows {
			c, urls := single, single.Nodes
			switch r.name {
			case "cluster":
				c, urls = cluster, cluster.Nodes
			case "cluster-via-node-0":
				c, urls = cluster, cluster.Nodes[:1]
			}
			var prof func()
			if profDir != "" && c == cluster && r.mix == set && r.clients == top {
				prof = profileNodes(t, c, profDir, fmt.Sprintf("run%d-%s-%d", run+1, r.name, int(r.rate)), duration)
			}
			tp := 0
			switch {
			case c == cluster && r.mix == set:
				tp = parts
			case r.mix == set:
				tp = 1 // a single node: its writes' bursts
			}
			f := benchOnce(t, bin, c, urls, r, users, duration, tp)
			if c == cluster {
				f.leaders = leadersPerNode(t, cluster)
			}
			if prof != nil {
				prof()
			}
			results[r] = append(results[r], f)
			t.Logf("run %d, %s: %s", run+1, r, f)
		}
	}
	t.Logf("uptime load at the end: %s", loadAverage())
	for _, r := range rows {
		fs := results[r]
		line := fmt.Sprintf("%-40s throughput %s req/s, mean %s ms, p99 %s ms, CPU %s µs/request (client %s, others' cores %s), load %s",
			r, spread(fs, func(f benchFigures) float64 { return f.throughput }, "%.0f"),
			spread(fs, func(f benchFigures) float64 { return f.mean.Seconds() * 1e3 }, "%.2f"),
			spread(fs, func(f benchFigures) float64 { return f.p99.Seconds() * 1e3 }, "%.1f"),
			spread(fs, func(f benchFigures) float64 { return f.cpuPerReq().Seconds() * 1e6 }, "%.0f"),
			spread(fs, func(f benchFigures) float64 { return f.clientCPU.Seconds() * 1e6 }, "%.0f"),
			spread(fs, func(f benchFigures) float64 { return f.otherCores }, "%.2f"),
			spread(fs, func(f benchFigures) float64 { return f.load }, "%.1f"))
		if strings.HasPrefix(r.name, "cluster") {
			for i := range fs[0].nodeCPU {
				line += fmt.Sprintf(", node %d %s µs", i, spread(fs, func(f benchFigures) float64 { return f.nodeCPU[i].Seconds() * 1e6 }, "%.0f"))
			}
			line += ", visibility p99 " + spread(fs, func(f benchFigures) float64 { return f.visP99.Seconds() * 1e3 }, "%.1f") + " ms"
			line += ", cached by the other nodes p50 " + spread(fs, func(f benchFigures) float64 { return f.followP50.Seconds() * 1e3 }, "%.2f") +
				" ms, p99 " + spread(fs, func(f benchFigures) float64 { return f.followP99.Seconds() * 1e3 }, "%.1f") + " ms"
		}
		t.Log(line)
		logPaths(t, r, fs)
	}
	checkModel(t, results, top)
}

// benchRow is one kind of bench run: against which servers, which mix,
// how many clients.
type benchRow struct {
	name    string
	mix     string
	clients int
	rate    float64 // bench --rate; 0 for none
}

func (r benchRow) String() string {
	s := fmt.Sprintf("%s %s %d clients", r.name, r.mix, r.clients)
	if r.rate > 0 {
		s += fmt.Sprintf(" at %.0f/s", r.rate)
	}
	return s
}

// benchFigures are one bench run's.
type benchFigures struct {
	throughput  float64
	mean, p99   time.Duration
	errors      int64
	nodeCPU     []time.Duration // each node's CPU per request
	clientCPU   time.Duration   // the bench process's CPU per request
	otherCores  float64         // cores everything else on the machine used meanwhile
	load        float64         // the 1-minute load average at the end
	visP99      time.Duration   // cross-node visibility (a cluster)
	visSamples  int64
	visMissed   int64
	visErrors   int64
	visFirstErr string
	visReadP99  time.Duration // the probe's own GETs
	visFirst    int64         // samples the first GET showed
	// The followers' own measure (presenced_cluster_follow_lag_seconds,
	// every node's): from the engine storing a change to another node's
	// cache holding it, for every change of the run, not a probe's.
	followP50, followP99 time.Duration
	followN              float64
	leaders              []int // partitions each node led at the end (a cluster)
	// gcRate is each node's collections a second (go_gc_duration_seconds_count):
	// a collector run more often than GOGC has it shows here (2026-12-03
	// session 7: the derived memory limit under a cluster node's heap).
	gcRate []float64
	// paths is a cluster write run's latency by path (cluster_paths_test.go).
	paths *pathSplit
	// where is a traced write run's tail at the client, in the handler and
	// in the engine (cluster_where_test.go).
	where *where
}

// cpuPerReq is every node's CPU together, per request.
func (f benchFigures) cpuPerReq() time.Duration {
	var sum time.Duration
	for _, c := range f.nodeCPU {
		sum += c
	}
	return sum
}

func (f benchFigures) String() string {
	s := fmt.Sprintf("%.0f req/s, mean %.2f ms, p99 %.1f ms, %d errors, CPU %.0f µs/request (", f.throughput, f.mean.Seconds()*1e3, f.p99.Seconds()*1e3, f.errors, f.cpuPerReq().Seconds()*1e6)
	for i, c := range f.nodeCPU {
		s += fmt.Sprintf("node %d %.0f, ", i, c.Seconds()*1e6)
	}
	s += fmt.Sprintf("client %.0f), others %.2f cores, load %.1f", f.clientCPU.Seconds()*1e6, f.otherCores, f.load)
	if f.leaders != nil {
		s += fmt.Sprintf(", partitions led per node %v", f.leaders)
	}
	if f.gcRate != nil {
		s += ", collections/s per node"
		for _, r := range f.gcRate {
			s += fmt.Sprintf(" %.1f", r)
		}
	}
	if f.visSamples > 0 || f.visErrors > 0 {
		s += fmt.Sprintf(", visibility p99 %.1f ms (%d samples, %d shown by the first GET, the probe's GETs p99 %.1f ms; %d not seen, %d failed %s)",
			f.visP99.Seconds()*1e3, f.visSamples, f.visFirst, f.visReadP99.Seconds()*1e3, f.visMissed, f.visErrors, f.visFirstErr)
	}
	if f.paths != nil {
		s += "; " + f.paths.String()
	}
	if f.where != nil {
		s += "; " + f.where.String()
	}
	if f.followN > 0 {
		s += fmt.Sprintf(", cached by the other nodes p50 %.2f ms, p99 %.1f ms (%.0f changes)", f.followP50.Seconds()*1e3, f.followP99.Seconds()*1e3, f.followN)
	}
	return s
}

// benchOnce runs `presenced bench` as r says against the nodes urls (of
// c) and returns its figures, with the CPU each of c's processes, the
// client and the rest of the machine used meanwhile. With parts > 0 (a
// cluster of that many presence partitions, or 1 for a single node) it
// traces the run's requests and splits the writes' latency by path
// (splitPaths; a single node's are all of one path).
func benchOnce(t *testing.T, bin string, c *nodetest.Cluster, urls []*nodetest.Node, r benchRow, users int, d time.Duration, parts int) benchFigures {
	t.Helper()
	// --warmup=false: the nodes' CPU is read around the whole command, so a
	// warm-up's writes would count in the run's; the rounds before it create
	// the users (figures comparable with the runs before the tool warmed up).
	args := []string{"bench", "--json", "--baseline=false", "--warmup=false", "--concurrency", strconv.Itoa(r.clients), "--duration", d.String(),
		"--mix", r.mix, "--users", strconv.Itoa(users), "--sessions-per-user", "4", "--rate", strconv.FormatFloat(r.rate, 'f', -1, 64)}
	for _, n := range urls {
		args = append(args, "--url", n.URL)
	}
	var tracePath string
	var leadersBefore []string
	if parts > 0 {
		tracePath = filepath.Join(t.TempDir(), "trace.csv")
		args = append(args, "--trace", tracePath)
		lctx, lcancel := context.WithTimeout(context.Background(), 30*time.Second)
		var err error
		if leadersBefore, err = leaderOf(lctx, c, parts); err != nil {
			t.Logf("the partitions' leaders before the run: %v (the run's paths are not split)", err)
		}
		lcancel()
	}
	cpu := func() []time.Duration {
		var each []time.Duration
		for _, n := range c.Nodes {
			c, err := n.CPUTime()
			if err != nil {
				t.Fatal(err)
			}
			each = append(each, c)
		}
		return each
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	lagsBefore := followLags(t, c)
	gcsBefore := gcCounts(c)
	var sideBefore serverSide
	if tracePath != "" {
		sideBefore = scrapeServerSide(c)
	}
	before, busyBefore, start := cpu(), machineBusy(t), time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("presenced %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	after, busyAfter, wall := cpu(), machineBusy(t), time.Since(start)
	var side serverSide
	if tracePath != "" {
		side = scrapeServerSide(c).minus(sideBefore)
	}
	lags := followLags(t, c)
	gcs := gcCounts(c)
	var rep loadgen.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("bench's report: %v\n%s", err, out.String())
	}
	tot := rep.Presenced.Total
	f := benchFigures{throughput: tot.Throughput, mean: tot.Latency.Mean, p99: tot.Latency.P99, errors: tot.Errors, load: load1()}
	if gcs != nil && gcsBefore != nil {
		for i := range gcs {
			f.gcRate = append(f.gcRate, (gcs[i]-gcsBefore[i])/wall.Seconds())
		}
	}
	client := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	ours := client
	for i := range after {
		ours += after[i] - before[i]
	}
	f.otherCores = max(0, (busyAfter-busyBefore-ours).Seconds()/wall.Seconds())
	if n := time.Duration(tot.Count); n > 0 {
		for i := range after {
			f.nodeCPU = append(f.nodeCPU, (after[i]-before[i])/n)
		}
		f.clientCPU = client / n
	}
	if lagsBefore != nil {
		for i := range lags {
			lags[i].Count -= lagsBefore[i].Count
		}
		f.followN = lags[len(lags)-1].Count
		f.followP50, f.followP99 = quantile(lags, 0.50), quantile(lags, 0.99)
	}
	var rs []loadgen.TraceRecord
	if tracePath != "" {
		raw, rerr := os.Open(tracePath)
		if rerr != nil {
			t.Fatal(rerr)
		}
		rs, rerr = loadgen.ReadTrace(raw)
		raw.Close()
		if rerr != nil {
			t.Fatal(rerr)
		}
		f.where = &where{server: side, client: traceSide(rs), secs: wall.Seconds()}
	}
	if leadersBefore != nil {
		lctx, lcancel := context.WithTimeout(context.Background(), 30*time.Second)
		after, err := leaderOf(lctx, c, parts)
		lcancel()
		switch {
		case err != nil:
			t.Logf("the partitions' leaders after the run: %v (the run's paths are not split)", err)
		default:
			sp := splitPaths(rs, urls, parts, leadersBefore, after)
			f.paths = &sp
		}
		if dir := os.Getenv("PRESENCED_CLUSTER_BENCH_TRACE"); dir != "" {
			keepTrace(t, dir, tracePath, urls, leadersBefore, after)
		}
	}
	if v := rep.Visibility; v != nil {
		f.visP99, f.visSamples, f.visMissed = v.Latency.P99, v.Samples, v.NotSeen
		f.visErrors, f.visFirstErr = v.Errors, v.FirstError
		f.visReadP99, f.visFirst = v.Reads.P99, v.FirstRead
	}
	return f
}

// gcCounts is each node's count of collections so far, or nil if a node
// did not say.
func gcCounts(c *nodetest.Cluster) []float64 {
	var each []float64
	for _, n := range c.Nodes {
		v, err := n.Metric(context.Background(), "go_gc_duration_seconds_count")
		if err != nil {
			return nil
		}
		each = append(each, v)
	}
	return each
}

// machineBusy is the CPU time the whole machine has spent not idle, from
// /proc/stat's first line (ticks of 1/100 s).
func machineBusy(t *testing.T) time.Duration {
	t.Helper()
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	var busy int64
	for i, s := range f[1:] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("/proc/stat: %q", line)
		}
		// idle and iowait (the 4th and 5th) are not busy; guest time (9th
		// and 10th) is already in user.
		if i != 3 && i != 4 && i < 8 {
			busy += n
		}
	}
	return time.Duration(busy) * 10 * time.Millisecond
}

// load1 is the 1-minute load average.
func load1() float64 {
	f := strings.Fields(loadAverage())
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// spread is "min–max" of the figures of several runs, or one figure.
func spread(fs []benchFigures, of func(benchFigures) float64, format string) string {
	var v []float64
	for _, f := range fs {
		v = append(v, of(f))
	}
	return rangeOf(v, format)
}

// rangeOf is "min–max" of v in format, or one figure when both read the same.
func rangeOf(v []float64, format string) string {
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

// profileNodes starts a CPU profile of each of c's nodes over the middle
// of a run of d (from d/5 for 3d/5, leaving out the clients' start and
// end), and returns a func that waits for them and saves each as
// dir/name-node<i>.pprof.
func profileNodes(t *testing.T, c *nodetest.Cluster, dir, name string, d time.Duration) (wait func()) {
	t.Helper()
	secs := max(1, int(d.Seconds()*3/5))
	var wg sync.WaitGroup
	for i, n := range c.Nodes {
		wg.Go(func() {
			time.Sleep(d / 5)
			resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", n.DebugURL, secs))
			if err != nil {
				t.Errorf("profile of %s: %v", n.Name, err)
				return
			}
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("%s: %s", resp.Status, raw)
			}
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-node%d.pprof", name, i)), raw, 0o644)
			}
			if err != nil {
				t.Errorf("profile of %s: %v", n.Name, err)
			}
		})
	}
	return wg.Wait
}

// followLags is presenced_cluster_follow_lag_seconds' buckets of c's
// nodes added together, or nil for a single node (which follows no one).
func followLags(t *testing.T, c *nodetest.Cluster) []nodetest.Bucket {
	t.Helper()
	if len(c.Nodes) < 2 {
		return nil
	}
	var sum []nodetest.Bucket
	for _, n := range c.Nodes {
		bs, err := n.Histogram(context.Background(), "presenced_cluster_follow_lag_seconds")
		if err != nil {
			t.Fatal(err)
		}
		if sum == nil {
			sum = bs
			continue
		}
		if len(bs) != len(sum) {
			t.Fatalf("%s: %d buckets, another node %d", n.Name, len(bs), len(sum))
		}
		for i := range bs {
			sum[i].Count += bs[i].Count
		}
	}
	return sum
}

// quantile is the q-quantile of a histogram's cumulative buckets (+Inf
// last), interpolated linearly within its bucket as Prometheus's
// histogram_quantile does; past the last finite bound, that bound.
func quantile(bs []nodetest.Bucket, q float64) time.Duration {
	total := bs[len(bs)-1].Count
	if total <= 0 {
		return 0
	}
	rank, lo, below := q*total, 0.0, 0.0
	for _, b := range bs {
		if b.Count >= rank {
			if math.IsInf(b.Le, 1) {
				return time.Duration(lo * float64(time.Second))
			}
			v := lo + (b.Le-lo)*(rank-below)/max(b.Count-below, 1e-9)
			return time.Duration(v * float64(time.Second))
		}
		lo, below = b.Le, b.Count
	}
	return time.Duration(lo * float64(time.Second))
}

// quantile reads a Prometheus histogram as histogram_quantile does.
func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	bs := []nodetest.Bucket{{Le: .001, Count: 50}, {Le: .01, Count: 90}, {Le: .1, Count: 100}, {Le: inf, Count: 100}}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, time.Millisecond}, {0.25, 500 * time.Microsecond}, {0.7, 5500 * time.Microsecond}, {0.99, 91 * time.Millisecond}} {
		if got := quantile(bs, c.q); (got - c.want).Abs() > time.Microsecond {
			t.Errorf("q %v: %v, want %v", c.q, got, c.want)
		}
	}
	if got := quantile([]nodetest.Bucket{{Le: .001, Count: 1}, {Le: inf, Count: 10}}, 0.99); got != time.Millisecond {
		t.Errorf("past the last bound: %v, want its bound 1ms", got)
	}
	if got := quantile([]nodetest.Bucket{{Le: inf}}, 0.99); got != 0 {
		t.Errorf("empty: %v", got)
	}
}

// leadersPerNode is how many presence partitions each of c's nodes leads.
func leadersPerNode(t *testing.T, c *nodetest.Cluster) []int {
	t.Helper()
	led, err := tryLeadersPerNode(c)
	if err != nil {
		t.Fatal(err)
	}
	return led
}

// tryLeadersPerNode is leadersPerNode, its error returned.
func tryLeadersPerNode(c *nodetest.Cluster) ([]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leaders, err := c.Leaders(ctx)
	if err != nil {
		return nil, err
	}
	led := make([]int, len(c.Nodes))
	for _, l := range leaders {
		for i, n := range c.Nodes {
			if n.Name == l {
				led[i]++
			}
		}
	}
	return led, nil
}
