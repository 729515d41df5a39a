package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/loadgen"
)

func TestBenchFlagErrors(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "users.txt")
	if err := os.WriteFile(empty, []byte("# nobody yet\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--mix", "set=20,put=5"}, `--mix: mix entry "put=5": unknown operation "put"`},
		{[]string{"--mix", "get=lots"}, "--mix: mix entry \"get=lots\": the weight must be a non-negative integer"},
		{[]string{"--mix", "set=0"}, "no operation with a weight above 0"},
		{[]string{"--concurrency", "0"}, "--concurrency must be at least 1, not 0"},
		{[]string{"--many-ids", "651"}, "--many-ids must be 1 to 650"},
		{[]string{"--sessions-per-user", "0"}, "--sessions-per-user must be at least 1"},
		{[]string{"--duration", "0s"}, "--duration must be positive (or give --requests N)"},
		{[]string{"--requests", "-3"}, "--requests must be positive"},
		{[]string{"--users", "1000001"}, "--users 1000001: dev mode generates at most 1000000 demo users"},
		{[]string{"--rounds", "0"}, "--rounds must be at least 1, not 0"},
		{[]string{"--upn-pattern", "user%d@contoso.dev"}, "--upn-pattern needs --users N"},
		{[]string{"--upn-pattern", "user@contoso.dev", "--users", "3"}, "must contain %d exactly once"},
		{[]string{"--upn-pattern", "u%d-%s@contoso.dev", "--users", "3"}, "must contain %d exactly once"},
		{[]string{"--upn-pattern", "u%d", "--users-file", empty}, "not both"},
		{[]string{"--users-file", filepath.Join(t.TempDir(), "missing")}, "--users-file: open"},
		{[]string{"--users-file", empty}, "lists no users"},
		{[]string{"--tenant", "fabrikam.dev"}, "not the demo tenant: give its users with --users-file or --upn-pattern"},
		{[]string{"--url", "localhost:8080"}, `server URL "localhost:8080" must be http:// or https://`},
		{[]string{"--url", "http://127.0.0.1:8081,127.0.0.1:8082"}, `server URL "127.0.0.1:8082" must be http:// or https://`},
		{[]string{"--url", "http://127.0.0.1:8081", "--url", "http://127.0.0.1:8082?x=1"}, `server URL "http://127.0.0.1:8082?x=1" must not have a query`},
		{[]string{"--visibility"}, "visibility is measured between two nodes of a cluster"},
		{[]string{"--concurrency", "many"}, `invalid value "many" for flag -concurrency`},
		{[]string{"now"}, `bench takes only flags; unexpected "now"`},
		{[]string{"--server-pid", "12,x"}, `invalid value "12,x" for flag -server-pid: "x" is not a process id`},
		{[]string{"--server-pid", "0"}, `"0" is not a process id`},
	} {
		var out, errb bytes.Buffer
		err := run(append([]string{"bench"}, c.args...), &out, &errb)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("bench %v: %v, want an error containing %q", c.args, err, c.want)
		}
		if out.Len() > 0 {
			t.Errorf("bench %v wrote to stdout: %s", c.args, out.String())
		}
	}
}

func TestBenchAgainstADevServer(t *testing.T) {
	srv := startDevServer(t, 0)
	users := filepath.Join(t.TempDir(), "users.txt")
	if err := os.WriteFile(users, []byte("# two of the demo users\nadele@contoso.dev\n\n  alex@contoso.dev  \n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// --json: only the report on stdout, progress on stderr.
	var out, errb bytes.Buffer
	err := run([]string{"bench", "--url", srv.URL(), "--tenant", "contoso.dev", "--users-file", users,
		"--concurrency", "4", "--requests", "200", "--many-ids", "20", "--json"}, &out, &errb)
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	rep := decodeReport(t, out.Bytes())
	if rep.Users != 2 || rep.Presenced.Total.Count != 200 || rep.Presenced.Total.Errors != 0 || len(rep.Presenced.Ops) != 3 ||
		rep.Baseline.Total.Count != 200 || rep.Ratio["total"] <= 0 || rep.Rounds != 5 {
		t.Errorf("report: %s", out.String())
	}
	checkBaselineProcess(t, rep)
	// The warm-up (on by default): each user's 4 sessions written and each
	// user read once, then as many to the baseline, in no figure above.
	if w := rep.Warmup; w == nil || w.Sets != 8 || w.Gets != 2 || w.BareRequests != 10 {
		t.Errorf("warm-up %+v, want 8 setPresence and 2 GET, and 10 to the baseline", w)
	}
	if !strings.Contains(errb.String(), "presenced bench: "+srv.URL()) || !strings.Contains(errb.String(), "req/s overall") ||
		strings.Contains(errb.String(), "\r") {
		t.Errorf("progress on a non-terminal stderr: %q", errb.String())
	}

	// The table, without a baseline.
	out.Reset()
	errb.Reset()
	if err := run([]string{"bench", "--url", srv.URL(), "--users-file", users, "--concurrency", "2", "--requests", "30", "--baseline=false", "--mix", "get=1"}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	for _, want := range []string{"operation", "GET presence", "total", "p99", "warm-up, in no figure above: 2 GET to presenced in "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table has no %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "setPresence") || strings.Contains(out.String(), "bare") {
		t.Errorf("table shows operations or a baseline it did not run:\n%s", out.String())
	}
}

// benchReport is what the tests read of bench's JSON report.
type benchReport struct {
	Users     int
	Rounds    int
	Remote    bool
	Warmup    *struct{ Sets, Gets, BareRequests int64 }
	Presenced struct {
		Total struct{ Count, Errors int64 }
		Ops   []struct{ Op string }
		CPU   *benchCPU
	}
	Baseline struct {
		PID   int
		Total struct{ Count, Errors int64 }
		CPU   *benchCPU
	}
	Ratio map[string]float64
}

// benchCPU is a phase's CPU a request, in nanoseconds.
type benchCPU struct {
	Client int64 `json:"client_ns"`
	Server int64 `json:"server_ns"`
}

func decodeReport(t *testing.T, b []byte) benchReport {
	t.Helper()
	var rep benchReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, b)
	}
	return rep
}

// checkBaselineProcess checks the baseline ran in a process of its own
// and that bench left it running no longer.
func checkBaselineProcess(t *testing.T, rep benchReport) {
	t.Helper()
	if pid := rep.Baseline.PID; pid == 0 || pid == os.Getpid() || running(pid) {
		t.Errorf("baseline pid %d (this process %d, still running: %v)", pid, os.Getpid(), running(pid))
	}
}

// bench with no server where it asks (the README's second terminal before
// the first) says so and how to go on, after the transport's error.
func TestBenchWithoutAServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	var out, errb bytes.Buffer
	err = run([]string{"bench", "--url", url, "--requests", "10", "--baseline=false"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "connection refused") ||
		!strings.Contains(err.Error(), "No presenced answered there: start one in another terminal with `presenced serve --dev --throttle-requests 0`") ||
		!strings.Contains(err.Error(), "--url") {
		t.Fatalf("bench against nothing: %v", err)
	}
}

// What the README says: "presenced serve --dev" in one terminal and
// "presenced bench" in another. With its defaults bench spreads the load
// over the 10,000 users serve generates, measures the bare baseline in a
// process of its own (alternating with presenced), and leaves no process
// behind. Three processes: the server, bench (this test) and the baseline.
func TestBenchAgainstServeDev(t *testing.T) {
	// Without Graph's budget (1,500 requests per 30 s), as docs/running.md
	// says to load-test: the runs below send more.
	srv, base := startChild(t, "serve", "--dev", "--throttle-requests", "0", "--addr", "127.0.0.1:0", "--data", t.TempDir())
	var out, errb bytes.Buffer
	err := run([]string{"bench", "--url", base, "--concurrency", "4", "--requests", "3000", "--json", "--warmup=false"}, &out, &errb)
	if err != nil {
		t.Fatalf("%v\n%s\nserver: %s", err, errb.String(), srv.stderr.String())
	}
	rep := decodeReport(t, out.Bytes())
	if rep.Users != defaultDemoUsers || rep.Rounds != 5 || rep.Remote ||
		rep.Presenced.Total.Count != 3000 || rep.Presenced.Total.Errors != 0 ||
		rep.Baseline.Total.Count != 3000 || rep.Baseline.Total.Errors != 0 || rep.Ratio["total"] <= 0 {
		t.Errorf("report: %s", out.String())
	}
	checkBaselineProcess(t, rep)
	if rep.Warmup != nil {
		t.Errorf("--warmup=false warmed up: %+v", rep.Warmup)
	}
	if !strings.Contains(errb.String(), "10000 users") || !strings.Contains(errb.String(), "alternating with a bare baseline in 5 rounds") {
		t.Errorf("progress: %s", errb.String())
	}

	// Each phase's CPU a request: bench's own and the bare child's, and
	// presenced's only when its pid is given.
	if b, p := rep.Baseline.CPU, rep.Presenced.CPU; b == nil || p == nil || b.Client <= 0 || b.Server <= 0 || p.Client <= 0 || p.Server != 0 {
		t.Errorf("CPU a request without --server-pid: baseline %+v, presenced %+v", b, p)
	}

	// The table shows both servers' figures and where the baseline ran;
	// with --server-pid, presenced's CPU too and the ratio of CPU.
	out.Reset()
	// Enough requests that each phase lasts some of /proc's 10 ms ticks:
	// with every write after a user's first through the raw connection,
	// 100 took 10-20 ms and the bare child's CPU read 0.
	if err := run([]string{"bench", "--url", base, "--concurrency", "2", "--requests", "3000", "--mix", "set=1", "--users", "50",
		"--server-pid", strconv.Itoa(srv.cmd.Process.Pid), "--warmup=false"}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	for _, want := range []string{"setPresence", "req/s", "bare req/s", "ratio", "in a process of its own (pid ", "in 5 rounds alternating",
		"CPU time a request (/proc): baseline: bench ", " + bare ", "; presenced: bench ", " + presenced ", "CPU ratio 0.", "context switches a request: ",
		"no warm-up (--warmup=false): the figures include each user's first write"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table has no %q:\n%s", want, out.String())
		}
	}
	srv.stop(t, syscall.SIGTERM)
	if code := srv.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("serve exited with %d: %s", code, srv.stderr.String())
	}
}

// A server with fewer generated users than bench's default is found out
// before any load, with what to do about it.
func TestBenchNamesMissingGeneratedUsers(t *testing.T) {
	srv := startDevServer(t, 300)
	var out, errb bytes.Buffer
	err := run([]string{"bench", "--url", srv.URL(), "--requests", "10", "--baseline=false"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "user not found") || !strings.Contains(err.Error(), "user1…user10000@contoso.dev") ||
		!strings.Contains(err.Error(), "--demo-users") {
		t.Fatalf("bench against 300 generated users: %v", err)
	}
	if err := run([]string{"bench", "--url", srv.URL(), "--users", "300", "--requests", "50", "--concurrency", "2", "--json", "--warmup=false"}, &out, &errb); err != nil {
		t.Fatalf("bench --users 300: %v\n%s", err, errb.String())
	}
	if rep := decodeReport(t, out.Bytes()); rep.Users != 300 || rep.Presenced.Total.Errors != 0 {
		t.Errorf("report: %s", out.String())
	}
}

// A token the server refuses — a tenant, application or secret other than
// the server's, as bench's dev-mode defaults are against a server with a
// directory of its own — ends the run with the issuer's error and which
// flags name each. It said only "Tenant '…' not found".
func TestBenchSaysWhichFlagsNameTheClient(t *testing.T) {
	srv := startDevServer(t, 10)
	for _, c := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"another tenant", []string{"--tenant", "northwind.example", "--upn-pattern", "user%d@northwind.example", "--users", "1"},
			"Tenant 'northwind.example' not found|--tenant names the tenant (here northwind.example)"},
		{"another application", []string{"--client-id", "22222222-2222-4222-8222-222222222222", "--users", "10"},
			"AADSTS700016|(here 22222222-2222-4222-8222-222222222222)"},
		{"a wrong secret", []string{"--client-secret", "nope", "--users", "10"}, "AADSTS7000215|--client-secret that application's secret"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(append([]string{"bench", "--url", srv.URL(), "--requests", "10", "--baseline=false"}, c.flags...), &out, &errb)
			if err == nil {
				t.Fatalf("bench ran: %s", out.String())
			}
			for _, w := range append(strings.Split(c.want, "|"), "--client-id", "presenced admin app list", "presenced serve --dev") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("no %q in %v", w, err)
				}
			}
		})
	}
}

// Interrupting a run stops the baseline's process too.
func TestRunStopsTheBaselineWhenInterrupted(t *testing.T) {
	srv := startDevServer(t, 0)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Interrupted once the baseline has answered (its first progress
	// report), not after a fixed time: on a loaded machine the child may
	// take a while to start.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := loadgen.Run(ctx, loadgen.Config{
		URL: srv.URL(), Tenant: directory.DemoTenantDomain, ClientID: directory.DemoDaemonClientID, ClientSecret: directory.DemoDaemonSecret,
		Users: []string{directory.DemoUserAdele}, Concurrency: 2, Duration: time.Hour, Baseline: true, BareCommand: []string{exe, "bare"},
		Progress: func(p loadgen.Progress) {
			if p.Phase == "baseline" && p.Requests > 0 {
				cancel()
			}
		},
	})
	if err == nil || !rep.Interrupted || rep.Baseline == nil || rep.Baseline.Total.Count == 0 {
		t.Fatalf("interrupted run: %v %+v", err, rep.Baseline)
	}
	if pid := rep.Baseline.PID; pid == 0 || running(pid) {
		t.Errorf("baseline pid %d still running: %v", pid, running(pid))
	}
}

// On a terminal the progress line is rewritten in place; elsewhere each
// second is a line of its own.
func TestBenchProgressLines(t *testing.T) {
	var tty, plain bytes.Buffer
	for _, p := range []loadgen.Progress{
		{Phase: "presenced", Round: 2, Rounds: 5, Elapsed: time.Second, Requests: 3000, Rate: 3000},
		{Phase: "presenced", Elapsed: 2 * time.Second, Requests: 6100, Errors: 2, Rate: 3100, Final: true},
	} {
		printProgress(&tty, true, p)
		printProgress(&plain, false, p)
	}
	if got := tty.String(); strings.Count(got, "\r") != 2 || strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "\x1b[K\n") {
		t.Errorf("terminal progress %q", got)
	}
	if got := plain.String(); strings.Contains(got, "\r") || strings.Count(got, "\n") != 2 ||
		!strings.Contains(got, "3100 req/s overall  6100 requests, 2 errors") || !strings.Contains(got, "3000 requests, 0 errors  (round 2 of 5)\n") ||
		strings.Count(got, "round") != 1 {
		t.Errorf("plain progress %q", got)
	}
}

// The report says where the baseline ran, and when presenced is on
// another machine, what the ratio then holds.
func TestBenchReportSaysWhereTheBaselineRan(t *testing.T) {
	op := loadgen.OpResult{Op: "get", Count: 100, Throughput: 1000}
	res := loadgen.Result{Ops: []loadgen.OpResult{op}, Total: op, Elapsed: time.Second}
	for _, c := range []struct {
		name      string
		rep       loadgen.Report
		want, not []string
	}{
		{"own process", loadgen.Report{URL: "http://127.0.0.1:8080", Rounds: 5, Baseline: &loadgen.Result{PID: 4242, Ops: res.Ops, Total: res.Total}},
			[]string{"bare req/s", "in a process of its own (pid 4242, stopped)", "in 5 rounds alternating with presenced's", "beside BenchmarkHTTP's",
				"--users 1000 --sessions-per-user 1 reads as BenchmarkHTTP does",
				// What the ratio means and what to do with it; no dated figures.
				"Near 1, HTTP on this machine and bench itself are the limit, not presenced", "the further under 1, the more of each request is presenced's own work",
				"serve --debug-addr", "Compare ratios, not req/s"},
			[]string{"not on this machine", "quiet 2-core box", "The quiet windows of", "µs more a write", "0.58-0.62"}},
		{"in process, one round", loadgen.Report{URL: "http://127.0.0.1:8080", Rounds: 1, Baseline: &loadgen.Result{Ops: res.Ops, Total: res.Total}},
			[]string{"in this process", "before presenced"}, []string{"pid"}},
		{"remote", loadgen.Report{URL: "http://10.1.2.3:8080", Rounds: 5, Remote: true, Baseline: &loadgen.Result{PID: 7, Ops: res.Ops, Total: res.Total}},
			[]string{"presenced is at http://10.1.2.3:8080, not on this machine, while the baseline ran here"}, nil},
		{"no baseline", loadgen.Report{URL: "http://127.0.0.1:8080", Rounds: 1},
			nil, []string{"bare", "baseline", "ratio ="}},
	} {
		c.rep.Presenced = res
		var out bytes.Buffer
		printReport(&out, c.rep)
		for _, w := range c.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: no %q in\n%s", c.name, w, out.String())
			}
		}
		for _, w := range c.not {
			if strings.Contains(out.String(), w) {
				t.Errorf("%s: %q in\n%s", c.name, w, out.String())
			}
		}
	}
}

// A warm-up request that fails (a user the server does not know) ends the
// run before any load, with what failed and how to skip the warm-up.
func TestBenchFailsOnAFailedWarmup(t *testing.T) {
	srv := startDevServer(t, 0)
	users := filepath.Join(t.TempDir(), "users.txt")
	if err := os.WriteFile(users, []byte("adele@contoso.dev\nnobody@contoso.dev\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	err := run([]string{"bench", "--url", srv.URL(), "--users-file", users, "--requests", "50", "--concurrency", "2", "--mix", "set=1"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "warm-up") || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "--warmup=false") {
		t.Fatalf("bench with an unknown user, warm-up on: %v", err)
	}
	if out.Len() > 0 {
		t.Errorf("a failed warm-up printed a report: %s", out.String())
	}
}
