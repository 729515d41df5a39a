package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/loadgen"
)

const benchUsage = `Usage: presenced bench [flags]

Sends a mix of setPresence, GET presence and getPresencesByUserId to a
presenced (local or remote) from a fixed number of workers, each with one
request in flight over a keep-alive connection, and reports per operation
the count, errors, req/s and latency p50/p90/p99/max. First, unless
--baseline=false, the same load goes to a bare net/http handler that this
command starts in a process of its own on 127.0.0.1 (as presenced runs in
its own), and presenced's throughput is shown as a ratio of it.
setPresence writes real presence (sessionId <client id>:s<k>, PT1H).

Warm-up: before anything is measured, bench writes every user's sessions
once and (with reads in the mix) reads every user once, then sends the
same to the baseline; none of it is in any figure. --warmup=false measures
a fresh server's first writes instead (each user's first write creates it),
so the figures then depend on --duration.

Users: by default the 10,000 users that "presenced serve --dev" generates
(user1…user10000@contoso.dev; --users N for the first N); --users-file (one
id or userPrincipalName a line, # comments) or --upn-pattern with --users N
(user%d@contoso.dev makes user1…userN) for others.

The figures docs/performance.md compares with BenchmarkHTTP are one
operation at a time: --mix get=1 and --mix set=1.

A cluster (docs/cluster.md): give every node's URL (--url a --url b, or
--url a,b,c). The workers are spread over the nodes, each node's token from
its own issuer; a worker whose node stops answering moves to the next one.
The report adds each node's requests and the cross-node visibility: a probe
writes to the last user through one node and reads it through the next
until it shows the write (the load leaves that user alone).

Flags:
`

// benchCmd runs the load generator (package loadgen) and prints its report.
func benchCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		_, _ = io.WriteString(stderr, benchUsage)
		fs.PrintDefaults()
	}
	var cfg loadgen.Config
	var urls []string
	fs.Func("url", "base `URL` of the presenced under test (default http://127.0.0.1:8080); a cluster's nodes: the flag again, or URLs separated by commas (the load is spread over them)", func(v string) error {
		urls = append(urls, splitList(v)...)
		return nil
	})
	fs.Func("server-pid", "`pid` of the presenced under test on this machine (a cluster's: the flag again, or pids separated by commas): the report adds its CPU time a request beside bench's own and the baseline's (Linux)", func(v string) error {
		for _, f := range splitList(v) {
			pid, err := strconv.Atoi(f)
			if err != nil || pid <= 0 {
				return fmt.Errorf("%q is not a process id", f)
			}
			cfg.ServerPIDs = append(cfg.ServerPIDs, pid)
		}
		return nil
	})
	visibility := fs.Bool("visibility", false, "with several --url: measure how long a write acknowledged by one node takes to be read on another (default on with several nodes)")
	fs.StringVar(&cfg.Tenant, "tenant", directory.DemoTenantID, "`tenant` id or domain whose issuer gives the token")
	fs.StringVar(&cfg.ClientID, "client-id", directory.DemoDaemonClientID, "client `id` of a confidential app with Presence.ReadWrite.All")
	fs.StringVar(&cfg.ClientSecret, "client-secret", directory.DemoDaemonSecret, "client `secret` of that app")
	nUsers := fs.Int("users", 0, "spread the load over the first `N` users (default all listed, or the 10,000 generated demo users; required with --upn-pattern)")
	usersFile := fs.String("users-file", "", "`file` of user ids or userPrincipalNames, one a line")
	pattern := fs.String("upn-pattern", "", "make --users N userPrincipalNames from a `pattern` with one %d (1…N)")
	fs.IntVar(&cfg.SessionsPerUser, "sessions-per-user", 4, "`K` sessions per user that setPresence writes")
	mix := fs.String("mix", loadgen.DefaultMix.String(), "relative `weights` of setPresence, GET presence and getPresencesByUserId")
	fs.IntVar(&cfg.ManyIDs, "many-ids", loadgen.MaxManyIDs, "`N` ids per getPresencesByUserId (at most 650)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 64, "`N` workers, each with one request in flight")
	fs.Float64Var(&cfg.Rate, "rate", 0, "start at most `R` requests per second, all workers together, evenly spaced (0: as fast as the workers go); latency then counts from when each was due")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to send requests to presenced, and as long to the baseline (ignored with only --requests given)")
	fs.Int64Var(&cfg.Requests, "requests", 0, "stop after `N` requests to presenced, and as many to the baseline (with --duration too: whichever comes first)")
	fs.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "per-request timeout")
	fs.BoolVar(&cfg.Baseline, "baseline", true, "measure a bare net/http handler (in a process of its own) with the same load, alternating with presenced")
	fs.BoolVar(&cfg.Warmup, "warmup", true, "before measuring, write every user's sessions once (users × sessions-per-user setPresence, and with reads in the mix a GET of each user), at --concurrency, then send the same to the baseline; in no figure."+
		" --warmup=false measures a fresh server's first writes instead: each user's first write creates it, on an engine still growing, and the figures then depend on --duration")
	fs.IntVar(&cfg.Rounds, "rounds", loadgen.DefaultRounds, "with the baseline: alternate it and presenced in `N` rounds, each a share of --duration and --requests")
	traceFile := fs.String("trace", "", "write every request to presenced to `file` as CSV after the run (start and latency in µs, node index, user index in the users' list, operation, status): for splitting the latency by path")
	asJSON := fs.Bool("json", false, "print the report as JSON on stdout (progress stays on stderr)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench takes only flags; unexpected %q (presenced bench -h for the flags)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch len(urls) {
	case 0:
		cfg.URL = "http://127.0.0.1:8080"
	default:
		cfg.URL, cfg.Nodes = urls[0], urls[1:]
	}
	cfg.Visibility = *visibility || len(urls) > 1 && !set["visibility"]

	var err error
	if cfg.Mix, err = loadgen.ParseMix(*mix); err != nil {
		return fmt.Errorf("--mix: %w", err)
	}
	generated := *usersFile == "" && *pattern == ""
	if cfg.Users, err = benchUsers(cfg.Tenant, *nUsers, *usersFile, *pattern); err != nil {
		return err
	}
	if generated {
		// The server may have fewer generated users than asked for: fail
		// before the load, not with a report full of 404s.
		cfg.Probe = []string{cfg.Users[len(cfg.Users)-1]}
	}
	switch {
	case cfg.SessionsPerUser < 1:
		return fmt.Errorf("--sessions-per-user must be at least 1, not %d", cfg.SessionsPerUser)
	case cfg.ManyIDs < 1 || cfg.ManyIDs > loadgen.MaxManyIDs:
		return fmt.Errorf("--many-ids must be 1 to %d (Graph's limit), not %d", loadgen.MaxManyIDs, cfg.ManyIDs)
	case cfg.Concurrency < 1:
		return fmt.Errorf("--concurrency must be at least 1, not %d", cfg.Concurrency)
	case cfg.Rate < 0:
		return fmt.Errorf("--rate must be positive, not %g", cfg.Rate)
	case cfg.Requests < 0:
		return fmt.Errorf("--requests must be positive, not %d", cfg.Requests)
	case cfg.Rounds < 1:
		return fmt.Errorf("--rounds must be at least 1, not %d", cfg.Rounds)
	case cfg.Timeout <= 0:
		return fmt.Errorf("--timeout must be positive, not %s", cfg.Timeout)
	}
	if set["requests"] && !set["duration"] {
		cfg.Duration = 0
	}
	if cfg.Duration <= 0 && cfg.Requests == 0 {
		return fmt.Errorf("--duration must be positive (or give --requests N), not %s", cfg.Duration)
	}
	if err := cfg.Check(); err != nil {
		return err
	}
	if cfg.Baseline {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("the baseline runs this program as `presenced bare`, but where it is is unknown: %w (or --baseline=false)", err)
		}
		cfg.BareCommand = []string{exe, "bare"}
	}

	tty := isTerminal(stderr)
	cfg.Progress = func(p loadgen.Progress) { printProgress(stderr, tty, p) }
	cfg.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, "presenced bench: "+format+"\n", args...) }
	fmt.Fprintln(stderr, describeRun(cfg))

	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			return fmt.Errorf("--trace: %w", err)
		}
		defer f.Close()
		cfg.Trace = f
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := loadgen.Run(ctx, cfg)
	if generated && errors.Is(err, loadgen.ErrUnknownUser) {
		return fmt.Errorf("%w\nThe default users are the %d generated demo users user1…%s, which `presenced serve --dev` makes (--demo-users N, default %d):"+
			" start the server so, give --users N up to its --demo-users, or name other users with --users-file or --upn-pattern",
			err, len(cfg.Users), directory.DemoUserUPN(len(cfg.Users)), defaultDemoUsers)
	}
	if err != nil && !rep.Interrupted {
		if te := (*loadgen.TokenError)(nil); errors.As(err, &te) {
			return fmt.Errorf("%w\n%s", err, tokenHint(cfg))
		}
		if strings.Contains(err.Error(), " answered 429 ") {
			// The warm-up alone sends users × sessions requests: a server
			// with Graph's budget refuses most of them.
			return fmt.Errorf("%w\n%s", err, throttledHint)
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%w\n%s", err, noServerHint)
		}
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printReport(stdout, rep)
	}
	if rep.Presenced.Total.ErrorsByStatus["429"] > 0 {
		// The server throttles one application as Graph does (1,500
		// requests per 30 s by default, in dev mode too): a load test
		// measures the budget, not the server.
		fmt.Fprintln(stderr, "presenced bench: the server answered 429: "+throttledHint)
	}
	if rep.Interrupted {
		return errors.New("interrupted: the report covers the run until then")
	}
	return nil
}

// throttledHint says why a server answered bench 429 and what to do.
const throttledHint = "it throttles one application at 1,500 presence requests per 30 s by default, as Graph does." +
	" To measure the server rather than its budget, start it with --throttle-requests 0 (docs/security.md#throttling-and-batching)."

// tokenHint follows the issuer's refusal of bench's token: which flags
// name the tenant, the application and its secret, and what their
// defaults fit. Against a server with a directory of its own, the
// defaults (dev mode's) answered only "Tenant '…' not found".
func tokenHint(cfg loadgen.Config) string {
	return fmt.Sprintf("bench signs in as an application (client credentials): --tenant names the tenant (here %s), --client-id an application of it"+
		" with Presence.ReadWrite.All (here %s), --client-secret that application's secret."+
		" The defaults are the demo tenant and daemon application of `presenced serve --dev`; for a server with its own directory,"+
		" give its tenant id or domain, an application that `presenced admin app list --tenant TENANT` lists on it, its secret,"+
		" and its users with --users-file or --upn-pattern.", cfg.Tenant, cfg.ClientID)
}

// noServerHint follows a refused connection: the README's second
// terminal, run before the first (or with the server on another port).
const noServerHint = "No presenced answered there: start one in another terminal with `presenced serve --dev --throttle-requests 0`" +
	" (from the repository: `go run ./cmd/presenced serve --dev --throttle-requests 0`), or name the one running with --url."

// benchUsers is the list of users to load: from a file, from a pattern, or
// the demo tenant's.
func benchUsers(tenant string, n int, file, pattern string) ([]string, error) {
	if n < 0 {
		return nil, fmt.Errorf("--users must be at least 1, not %d", n)
	}
	var users []string
	from := ""
	switch {
	case file != "" && pattern != "":
		return nil, errors.New("give --users-file or --upn-pattern, not both")
	case pattern != "":
		if n == 0 {
			return nil, errors.New("--upn-pattern needs --users N, the number of users to make")
		}
		if strings.Count(pattern, "%d") != 1 || strings.Count(pattern, "%") != 1 {
			return nil, fmt.Errorf("--upn-pattern %q must contain %%d exactly once and no other %%, e.g. user%%d@contoso.dev", pattern)
		}
		for i := 1; i <= n; i++ {
			users = append(users, fmt.Sprintf(pattern, i))
		}
		return users, nil
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("--users-file: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
				users = append(users, line)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("--users-file: %w", err)
		}
		if len(users) == 0 {
			return nil, fmt.Errorf("--users-file %s lists no users (one id or userPrincipalName a line)", file)
		}
		from = "in " + file
	default:
		if !strings.EqualFold(tenant, directory.DemoTenantID) && !strings.EqualFold(tenant, directory.DemoTenantDomain) {
			return nil, fmt.Errorf("tenant %s is not the demo tenant: give its users with --users-file or --upn-pattern", tenant)
		}
		if n == 0 {
			n = defaultDemoUsers
		}
		if n > directory.MaxDemoUsers {
			return nil, fmt.Errorf("--users %d: dev mode generates at most %d demo users", n, directory.MaxDemoUsers)
		}
		for i := 1; i <= n; i++ {
			users = append(users, directory.DemoUserID(i))
		}
		return users, nil
	}
	if n > len(users) {
		return nil, fmt.Errorf("--users %d: there are only %d users %s", n, len(users), from)
	}
	if n > 0 {
		users = users[:n]
	}
	return users, nil
}

func describeRun(cfg loadgen.Config) string {
	bound := cfg.Duration.String()
	switch {
	case cfg.Requests > 0 && cfg.Duration > 0:
		bound = fmt.Sprintf("%s or %d requests", cfg.Duration, cfg.Requests)
	case cfg.Requests > 0:
		bound = fmt.Sprintf("%d requests", cfg.Requests)
	}
	many := ""
	if cfg.Mix.Many > 0 {
		many = fmt.Sprintf(" (%d ids per getPresencesByUserId)", cfg.ManyIDs)
	}
	base := ""
	if cfg.Baseline {
		base = fmt.Sprintf(", alternating with a bare baseline in %d rounds", cfg.Rounds)
	}
	target := cfg.URL
	if len(cfg.Nodes) > 0 {
		target = fmt.Sprintf("%d nodes (%s)", len(cfg.Nodes)+1, strings.Join(append([]string{cfg.URL}, cfg.Nodes...), ", "))
	}
	if cfg.Visibility {
		base += ", measuring cross-node visibility"
	}
	if cfg.Warmup {
		base += ", after a warm-up"
	}
	return fmt.Sprintf("presenced bench: %s, tenant %s, %d users × %d sessions, mix %s%s, %d workers, %s%s",
		target, cfg.Tenant, len(cfg.Users), cfg.SessionsPerUser, cfg.Mix, many, cfg.Concurrency, bound, base)
}

// isTerminal reports whether w is a character device (a terminal), where
// progress overwrites one line.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func printProgress(w io.Writer, tty bool, p loadgen.Progress) {
	rate := "req/s"
	if p.Final {
		rate = "req/s overall"
	}
	line := fmt.Sprintf("%-9s %6.1fs  %9.0f %s  %d requests, %d errors", p.Phase, p.Elapsed.Seconds(), p.Rate, rate, p.Requests, p.Errors)
	if !p.Final && p.Rounds > 1 {
		line += fmt.Sprintf("  (round %d of %d)", p.Round, p.Rounds)
	}
	switch {
	case tty && p.Final:
		fmt.Fprintf(w, "\r%s\x1b[K\n", line)
	case tty:
		fmt.Fprintf(w, "\r%s\x1b[K", line)
	default:
		fmt.Fprintln(w, line)
	}
}

var opNames = map[string]string{
	string(loadgen.OpSet):  "setPresence",
	string(loadgen.OpGet):  "GET presence",
	string(loadgen.OpMany): "getPresencesByUserId",
	"total":                "total",
}

func printReport(w io.Writer, rep loadgen.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := fmt.Sprintf("%-20s\t", "operation") + "requests\terrors\treq/s\tp50\tp90\tp99\tmax\t"
	if rep.Baseline != nil {
		head += "bare req/s\tbare p50\tratio\t"
	}
	fmt.Fprintln(tw, head)
	rows := append(append([]loadgen.OpResult(nil), rep.Presenced.Ops...), rep.Presenced.Total)
	for _, o := range rows {
		l := o.Latency
		line := fmt.Sprintf("%-20s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t", opNames[o.Op], o.Count, o.Errors, o.Throughput,
			fmtDur(l.P50), fmtDur(l.P90), fmtDur(l.P99), fmtDur(l.Max))
		if rep.Baseline != nil {
			b := rep.Baseline.Total
			if o.Op != "total" {
				b = rep.Baseline.Op(loadgen.Op(o.Op))
			}
			line += fmt.Sprintf("%.0f\t%s\t%.2f\t", b.Throughput, fmtDur(b.Latency.P50), rep.Ratio[o.Op])
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%s in %.2fs, %d workers", rep.URL, rep.Presenced.Elapsed.Seconds(), rep.Concurrency)
	if rep.Baseline != nil {
		where := "in this process"
		if rep.Baseline.PID != 0 {
			where = fmt.Sprintf("in a process of its own (pid %d, stopped)", rep.Baseline.PID)
		}
		fmt.Fprintf(w, "; baseline: a bare net/http handler on 127.0.0.1 %s (no auth, no engine; GET answers the same %d bytes), same load, %.2fs, %s.\n"+
			"ratio = presenced req/s ÷ bare req/s: the share of this machine's plain-HTTP ceiling presenced reaches."+
			" Near 1, HTTP on this machine and bench itself are the limit, not presenced; the further under 1, the more of each request is presenced's own work"+
			" (a profile shows where it goes: presenced serve --debug-addr). Compare ratios, not req/s, between runs and machines: the machine's speed and load weigh on both servers.",
			where, rep.Baseline.GetBodyBytes, rep.Baseline.Elapsed.Seconds(), roundsText(rep.Rounds))
		if rep.Remote {
			fmt.Fprintf(w, "\npresenced is at %s, not on this machine, while the baseline ran here:"+
				" the ratio also holds the network and that machine's speed. Run bench on presenced's machine for its own share.", rep.URL)
		}
		if len(rep.Presenced.Ops) > 1 {
			fmt.Fprint(w, "\nIn a mix every operation shares the same workers, so their ratios follow the total;"+
				" a mix of one operation (--mix get=1, --mix set=1) gives that operation's own, the figures docs/performance.md gives.")
		}
		// Why bench and the benchmark differ, not by how much: the figures
		// are dated history, kept in docs/performance.md.
		fmt.Fprint(w, "\ndocs/performance.md sets these ratios beside BenchmarkHTTP's, which runs client and servers in one process (no request crosses a process boundary)"+
			" and rewrites one session of each of 1,000 users where bench by default changes 4 sessions of each of 10,000: its ratios differ from these by some points;"+
			" --users 1000 --sessions-per-user 1 reads as BenchmarkHTTP does.")
	}
	fmt.Fprintln(w)
	printWarmup(w, rep)
	printCPU(w, rep)
	printNodes(w, rep)
	for _, o := range rep.Presenced.Ops {
		if o.Errors == 0 {
			continue
		}
		var parts []string
		for _, k := range o.StatusKeys() {
			parts = append(parts, fmt.Sprintf("%s×%d", k, o.ErrorsByStatus[k]))
		}
		fmt.Fprintf(w, "%s errors: %s; first: %s\n", opNames[o.Op], strings.Join(parts, ", "), o.FirstError)
	}
	if rep.Baseline != nil && rep.Baseline.Total.Errors > 0 {
		fmt.Fprintf(w, "baseline errors: %d; first: %s\n", rep.Baseline.Total.Errors, rep.Baseline.Total.FirstError)
	}
	if rep.Interrupted {
		fmt.Fprintln(w, "interrupted before the end of the run")
	}
}

// printWarmup says what the warm-up sent before the figures above, or that
// there was none.
func printWarmup(w io.Writer, rep loadgen.Report) {
	wu := rep.Warmup
	if wu == nil {
		fmt.Fprintln(w, "no warm-up (--warmup=false): the figures include each user's first write, a fresh server's first seconds")
		return
	}
	var sent []string
	if wu.Sets > 0 {
		sent = append(sent, fmt.Sprintf("%d setPresence", wu.Sets))
	}
	if wu.Gets > 0 {
		sent = append(sent, fmt.Sprintf("%d GET", wu.Gets))
	}
	fmt.Fprintf(w, "warm-up, in no figure above: %s to presenced in %.2fs, 0 errors", strings.Join(sent, " + "), wu.Elapsed.Seconds())
	if wu.BareRequests > 0 {
		fmt.Fprintf(w, "; the same %d to the baseline in %.2fs", wu.BareRequests, wu.BareElapsed.Seconds())
	}
	fmt.Fprintln(w)
}

// printCPU shows each phase's CPU time a request, process by process,
// and, when both servers' are known, the ratio of the two phases' totals:
// the figure BenchmarkHTTP reports as cpu-pct-of-bare.
func printCPU(w io.Writer, rep loadgen.Report) {
	p := rep.Presenced.CPU
	if p == nil {
		return
	}
	phase := func(name, server string, c *loadgen.CPU) string {
		if c.Server == 0 {
			return fmt.Sprintf("%s: bench %s", name, fmtDur(c.Client))
		}
		return fmt.Sprintf("%s: bench %s + %s %s = %s", name, fmtDur(c.Client), server, fmtDur(c.Server), fmtDur(c.Client+c.Server))
	}
	fmt.Fprint(w, "CPU time a request (/proc): ")
	var b *loadgen.CPU
	if rep.Baseline != nil && rep.Baseline.CPU != nil {
		b = rep.Baseline.CPU
		fmt.Fprint(w, phase("baseline", "bare", b), "; ")
	}
	fmt.Fprint(w, phase("presenced", "presenced", p))
	switch {
	case b != nil && b.Server > 0 && p.Server > 0:
		fmt.Fprintf(w, "; CPU ratio %.2f (BenchmarkHTTP's cpu-pct-of-bare)", float64(b.Client+b.Server)/float64(p.Client+p.Server))
	case p.Server == 0 && !rep.Remote:
		fmt.Fprint(w, " (presenced's own with --server-pid)")
	}
	fmt.Fprintln(w)
	if b != nil && b.Server > 0 && p.Server > 0 {
		fmt.Fprintf(w, "context switches a request: bench %.2f / %.2f, servers %.2f / %.2f (baseline / presenced)\n",
			b.ClientSwitches, p.ClientSwitches, b.ServerSwitches, p.ServerSwitches)
	}
}

// printNodes shows, for a cluster, each node's requests and the
// cross-node visibility.
func printNodes(w io.Writer, rep loadgen.Report) {
	if len(rep.Presenced.Nodes) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, fmt.Sprintf("%-24s\t", "node")+"requests\terrors\treq/s\tp50\tp99\tmax\t")
		for _, n := range rep.Presenced.Nodes {
			o := n.Total
			fmt.Fprintf(tw, "%-24s\t%d\t%d\t%.0f\t%s\t%s\t%s\t\n", n.URL, o.Count, o.Errors, o.Throughput, fmtDur(o.Latency.P50), fmtDur(o.Latency.P99), fmtDur(o.Latency.Max))
		}
		tw.Flush()
	}
	if v := rep.Visibility; v != nil {
		l := v.Latency
		fmt.Fprintf(w, "cross-node visibility (acknowledged by one node → read on the next): %d writes, p50 %s, p90 %s, p99 %s, max %s",
			v.Samples, fmtDur(l.P50), fmtDur(l.P90), fmtDur(l.P99), fmtDur(l.Max))
		fmt.Fprintf(w, "; %d shown by the probe's first read, whose reads took p50 %s, p99 %s", v.FirstRead, fmtDur(v.Reads.P50), fmtDur(v.Reads.P99))
		if v.NotSeen > 0 || v.Errors > 0 {
			fmt.Fprintf(w, "; not read within %v: %d; failed: %d; first: %s", loadgen.VisibilityTimeout, v.NotSeen, v.Errors, v.FirstError)
		}
		fmt.Fprintln(w)
	}
}

func roundsText(n int) string {
	if n == 1 {
		return "before presenced"
	}
	return fmt.Sprintf("in %d rounds alternating with presenced's", n)
}

// fmtDur shows a latency with three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return fmt.Sprintf("%.3gµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.3gs", d.Seconds())
}
