package loadgen_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/servertest"
	"github.com/presenced/presenced/loadgen"
)

func startServer(t *testing.T) *presenced.Server {
	t.Helper()
	// A load test measures the server, not Graph's budget per application
	// (bench is one application): throttling off, as docs/running.md says.
	srv := servertest.Start(t, presenced.Config{DataDir: t.TempDir(), Dev: true, ThrottleRequests: -1})
	return srv
}

func demoConfig(url string) loadgen.Config {
	var users []string
	for _, u := range directory.Demo().Users(directory.DemoTenantID) {
		users = append(users, u.ID)
	}
	return loadgen.Config{
		URL: url, Tenant: directory.DemoTenantDomain,
		ClientID: directory.DemoDaemonClientID, ClientSecret: directory.DemoDaemonSecret,
		Users: users, Concurrency: 8,
	}
}

// About a second of the default mix against a real presenced and the
// same against the bare baseline, alternating in rounds.
func TestRunAgainstPresenced(t *testing.T) {
	srv := startServer(t)
	cfg := demoConfig(srv.URL())
	cfg.Duration = 2200 * time.Millisecond
	cfg.Rounds = 2
	cfg.Baseline = true
	var mu sync.Mutex
	finals := map[string]loadgen.Progress{}
	var order []string // phase and round of each progress report
	cfg.Progress = func(p loadgen.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if p.Final {
			finals[p.Phase] = p
			return
		}
		if o := fmt.Sprintf("%s %d/%d", p.Phase, p.Round, p.Rounds); len(order) == 0 || order[len(order)-1] != o {
			order = append(order, o)
		}
	}
	rep, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Baseline == nil || rep.Ratio["total"] <= 0 || rep.Baseline.GetBodyBytes < 100 || rep.Rounds != 2 || rep.Baseline.PID != 0 || rep.Remote {
		t.Fatalf("no baseline: %+v ratio %v", rep.Baseline, rep.Ratio)
	}
	// Rounds of 1.1 s, each reporting progress once a second (unless the
	// machine is too busy to tick in time): the rounds alternate.
	want := []string{"baseline 1/2", "presenced 1/2", "baseline 2/2", "presenced 2/2"}
	last := -1
	for _, o := range order {
		i := slices.Index(want, o)
		if i <= last {
			t.Errorf("progress in the order %v, want a part of %v", order, want)
			break
		}
		last = i
	}
	for _, res := range []loadgen.Result{rep.Presenced, *rep.Baseline} {
		if res.Elapsed < cfg.Duration || res.Elapsed > cfg.Duration+5*time.Second {
			t.Errorf("%s: elapsed %v for a %v run", res.URL, res.Elapsed, cfg.Duration)
		}
		var sum int64
		for _, op := range loadgen.Ops {
			o := res.Op(op)
			l := o.Latency
			if o.Count == 0 || o.Errors != 0 || o.Throughput <= 0 {
				t.Errorf("%s %s: %d requests, %d errors %v (%s)", res.URL, op, o.Count, o.Errors, o.ErrorsByStatus, o.FirstError)
			}
			if !(0 < l.Min && l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
				t.Errorf("%s %s: latencies out of order: %+v", res.URL, op, l)
			}
			sum += o.Count
		}
		if res.Total.Count != sum || res.Total.Errors != 0 || res.Total.Latency.Max < res.Total.Latency.P99 {
			t.Errorf("%s: total %+v, ops sum to %d", res.URL, res.Total, sum)
		}
	}
	// The mix is 20/70/10: gets outnumber sets.
	if g, s := rep.Presenced.Op(loadgen.OpGet).Count, rep.Presenced.Op(loadgen.OpSet).Count; g <= s {
		t.Errorf("%d gets and %d sets for a 70/20 mix", g, s)
	}
	if f := finals["presenced"]; f.Requests != rep.Presenced.Total.Count || finals["baseline"].Requests != rep.Baseline.Total.Count {
		t.Errorf("final progress %+v, report total %d", finals, rep.Presenced.Total.Count)
	}

	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Presenced struct {
			Ops []struct {
				Op      string
				Count   int64
				Latency map[string]int64
			}
		}
		Baseline *struct {
			Total struct {
				Throughput float64 `json:"throughput_rps"`
			}
		}
		Ratio map[string]float64
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Presenced.Ops) != 3 || back.Presenced.Ops[0].Latency["p99_ns"] == 0 || back.Baseline == nil ||
		back.Baseline.Total.Throughput <= 0 || back.Ratio["get"] <= 0 {
		t.Errorf("JSON summary: %s", b)
	}
}

// A request count ends the run by itself; requests that fail are counted
// by status, not returned as an error.
func TestRunCountsRequestsAndErrors(t *testing.T) {
	srv := startServer(t)
	cfg := demoConfig(srv.URL())
	cfg.Users = append(cfg.Users, "nobody@contoso.dev")
	cfg.Mix = loadgen.Mix{Get: 1}
	cfg.Requests = 120
	rep, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	get := rep.Presenced.Op(loadgen.OpGet)
	if len(rep.Presenced.Ops) != 1 || get.Count != 120 || get.Errors == 0 || get.Errors != get.ErrorsByStatus["404"] ||
		!strings.Contains(get.FirstError, "404") || get.Latency.Max == 0 {
		t.Fatalf("get: %+v", get)
	}
}

// With a rate, requests start no faster than it: 40 requests at 200/s
// cannot finish before the 40th is due, 195 ms after the first.
func TestRunPacesToRate(t *testing.T) {
	srv := startServer(t)
	cfg := demoConfig(srv.URL())
	cfg.Mix = loadgen.Mix{Get: 1}
	cfg.Requests, cfg.Rate, cfg.Concurrency = 40, 200, 4
	rep, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	tot := rep.Presenced.Total
	if tot.Count != 40 || tot.Errors != 0 || tot.Throughput > 40/0.195 {
		t.Fatalf("40 requests at 200/s: %d requests, %d errors, %.0f/s", tot.Count, tot.Errors, tot.Throughput)
	}
}

func TestRunRejectsBadSetups(t *testing.T) {
	srv := startServer(t)
	for _, c := range []struct {
		name string
		edit func(*loadgen.Config)
		want string
	}{
		{"no bound", func(c *loadgen.Config) {}, "a duration or a request count"},
		{"bad url", func(c *loadgen.Config) { c.URL = "127.0.0.1:8080" }, "must be http:// or https://"},
		{"bad secret", func(c *loadgen.Config) { c.ClientSecret = "wrong" }, "invalid_client"},
		{"unknown tenant", func(c *loadgen.Config) { c.Tenant = "nowhere.dev" }, "token from"},
		{"unknown first user", func(c *loadgen.Config) { c.Users = []string{"nobody@contoso.dev"}; c.Baseline = true }, "404"},
		{"too many ids", func(c *loadgen.Config) { c.ManyIDs = 651 }, "1 to 650"},
		{"negative rate", func(c *loadgen.Config) { c.Rate = -1 }, "rate must be positive"},
		{"visibility on one node", func(c *loadgen.Config) { c.Visibility = true }, "between two nodes of a cluster"},
		{"a bad node", func(c *loadgen.Config) { c.Nodes = []string{"ftp://b"} }, `server URL "ftp://b"`},
	} {
		cfg := demoConfig(srv.URL())
		if c.name != "no bound" {
			cfg.Requests = 1
		}
		c.edit(&cfg)
		_, err := loadgen.Run(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

// Cancelling stops the run promptly and still reports what was measured.
func TestRunStopsWhenCancelled(t *testing.T) {
	srv := startServer(t)
	cfg := demoConfig(srv.URL())
	cfg.Duration = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	rep, err := loadgen.Run(ctx, cfg)
	if err == nil || !rep.Interrupted || rep.Presenced.Total.Count == 0 || rep.Presenced.Total.Errors != 0 {
		t.Fatalf("cancelled run: %v, %+v", err, rep.Presenced.Total)
	}
}

// With several nodes the workers are spread over them, each node's
// requests are reported, and a worker whose node stops answering moves to
// the next one: a node's death costs each of its workers a failed request
// or so, not a run of them.
func TestRunSpreadsOverNodesAndMovesOn(t *testing.T) {
	a, b := startServer(t), startServer(t)
	cfg := demoConfig(a.URL())
	cfg.Nodes = []string{b.URL()}
	cfg.Mix = loadgen.Mix{Get: 1}
	cfg.Duration = 1500 * time.Millisecond
	var once sync.Once
	cfg.Progress = func(p loadgen.Progress) {
		if p.Requests > 200 {
			once.Do(func() { // mid-run, node b goes away
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = b.ShutdownNow(ctx)
			})
		}
	}
	rep, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	nodes := rep.Presenced.Nodes
	if len(nodes) != 2 || nodes[0].URL != a.URL() || nodes[1].URL != b.URL() || nodes[0].Total.Count == 0 || nodes[1].Total.Count == 0 ||
		nodes[0].Total.Errors != 0 || rep.Nodes[0] != b.URL() {
		t.Fatalf("per node: %+v", nodes)
	}
	if e := nodes[1].Total.Errors; e == 0 || e > 2*int64(cfg.Concurrency) || e != nodes[1].Total.ErrorsByStatus["transport"] {
		t.Fatalf("the stopped node: %+v; want a failed request or two per worker that used it, no more", nodes[1].Total)
	}
	if tot := rep.Presenced.Total; tot.Count != nodes[0].Total.Count+nodes[1].Total.Count || tot.Errors != nodes[1].Total.Errors {
		t.Fatalf("total %+v does not add up the nodes %+v", tot, nodes)
	}
}
