package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Run gets an application token from cfg.URL's issuer (and from each of
// cfg.Nodes'), then sends cfg's load to cfg.URL (spread over the nodes)
// and reports. With Baseline it sends the same load to the
// bare handler too, alternating the two in cfg.Rounds rounds. It returns an
// error before any load when the configuration, the token, a probed user,
// (with Baseline) the first GET or (with Warmup) a request of the warm-up
// fails. Requests that fail during the run
// are counted, not returned. If ctx ends first, Run stops and returns what
// it measured, marked Interrupted, with ctx's error.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.Check(); err != nil {
		return Report{}, err
	}
	cfg = cfg.withDefaults()
	rep := Report{
		URL: cfg.URL, Nodes: cfg.Nodes, Tenant: cfg.Tenant, Users: len(cfg.Users), SessionsPerUser: cfg.SessionsPerUser,
		Mix: cfg.Mix, ManyIDs: cfg.ManyIDs, Concurrency: cfg.Concurrency, Duration: cfg.Duration, Requests: cfg.Requests,
		Rounds: 1,
	}
	client := newClient(cfg)
	defer client.CloseIdleConnections()

	var tokens []*tokenSource
	defer func() {
		for _, ts := range tokens {
			ts.stop()
		}
	}()
	for _, base := range cfg.urls() {
		ts, err := newTokenSource(ctx, client, cfg, base)
		if err != nil {
			return rep, err
		}
		tokens = append(tokens, ts)
		for _, u := range cfg.Probe {
			if _, err := probe(ctx, client, base, u, ts.header()); err != nil {
				return rep, err
			}
		}
	}
	load := cfg
	var vis *visProbe
	if cfg.Visibility {
		// The probe's user is its own: a load's write to it would change
		// what the probe waits to read.
		load.Users = cfg.Users[:len(cfg.Users)-1]
		vis = &visProbe{cfg: cfg, c: client, tokens: tokens, bases: cfg.urls(), user: cfg.Users[len(cfg.Users)-1]}
	}
	pres := newPhase(load, "presenced", cfg.urls()...)
	pres.pids.pres = cfg.ServerPIDs
	pres.tracing = cfg.Trace != nil
	if vis != nil {
		pres.side = vis.run
	}
	phases := []*phase{pres}
	var bare *phase
	if cfg.Baseline {
		body, err := probe(ctx, client, cfg.URL, load.Users[0], tokens[0].header())
		if err != nil {
			return rep, fmt.Errorf("baseline: sizing %w", err)
		}
		srv, pid, err := startBaseline(cfg, body)
		if err != nil {
			return rep, fmt.Errorf("baseline: %w", err)
		}
		defer func() {
			if err := srv.Close(); err != nil && cfg.Logf != nil {
				cfg.Logf("stopping the baseline: %v", err)
			}
		}()
		bare = newPhase(load, "baseline", srv.URL())
		bare.bare = true
		bare.pids = cpuPIDs{bare: pid, pres: cfg.ServerPIDs}
		pres.pids.bare = pid
		phases = []*phase{bare, pres}
		rep.Rounds = cfg.Rounds
		rep.Baseline = &Result{GetBodyBytes: len(body), PID: pid}
		for _, base := range cfg.urls() {
			rep.Remote = rep.Remote || !isLoopback(base)
		}
	}
	if cfg.Warmup {
		jobs := warmJobs(load)
		w := &Warmup{}
		for _, j := range jobs {
			if j.op == OpSet {
				w.Sets++
			} else {
				w.Gets++
			}
		}
		var err error
		if w.Elapsed, err = pres.warm(ctx, load, client, tokens, jobs); err != nil {
			return rep, fmt.Errorf("warm-up (every user's sessions written once before measuring; --warmup=false skips it): %w", err)
		}
		if bare != nil {
			if w.BareElapsed, err = bare.warm(ctx, load, client, tokens, jobs); err != nil {
				return rep, fmt.Errorf("warm-up of the baseline: %w", err)
			}
			w.BareRequests = int64(len(jobs))
		}
		rep.Warmup = w
	}
	// Alternate the servers round by round, so that a change in the
	// machine's load during the run weighs on both alike.
run:
	for _, rd := range rounds(cfg, rep.Rounds) {
		for _, p := range phases {
			p.run(ctx, load, client, tokens, rd)
			if ctx.Err() != nil {
				break run
			}
		}
	}
	if bare != nil {
		res := bare.result(load)
		res.GetBodyBytes, res.PID = rep.Baseline.GetBodyBytes, rep.Baseline.PID
		rep.Baseline = &res
	}
	rep.Presenced = pres.result(load)
	if cfg.Trace != nil {
		if err := WriteTrace(cfg.Trace, pres.trace); err != nil {
			return rep, fmt.Errorf("trace: %w", err)
		}
	}
	if vis != nil {
		rep.Visibility = vis.result()
	}
	if rep.Baseline != nil {
		rep.Ratio = map[string]float64{}
		for _, o := range rep.Presenced.Ops {
			if b := rep.Baseline.Op(Op(o.Op)); b.Throughput > 0 {
				rep.Ratio[o.Op] = o.Throughput / b.Throughput
			}
		}
		if b := rep.Baseline.Total.Throughput; b > 0 {
			rep.Ratio["total"] = rep.Presenced.Total.Throughput / b
		}
	}
	if ctx.Err() != nil {
		rep.Interrupted = true
		return rep, ctx.Err()
	}
	return rep, nil
}

// newClient keeps one idle connection per worker and server and then some
// (the baseline's and presenced's both stay open from round to round), so
// every worker reuses its connection and no request pays for a dial after
// its server's first.
func newClient(cfg Config) *http.Client {
	return &http.Client{
		Timeout: cfg.Timeout,
		Transport: &http.Transport{
			Proxy:               nil, // the URL given, never a proxy from the environment
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        4 * cfg.Concurrency,
			MaxIdleConnsPerHost: 2 * cfg.Concurrency,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   false,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// startBaseline starts the bare handler, in a child process of its own
// when cfg.BareCommand is set (pid is then its process id), else in this
// one.
func startBaseline(cfg Config, getBody []byte) (srv interface {
	URL() string
	Close() error
}, pid int, err error) {
	if len(cfg.BareCommand) > 0 {
		p, err := StartBareProcess(cfg.BareCommand, getBody)
		if err != nil {
			return nil, 0, err
		}
		return p, p.PID(), nil
	}
	b, err := StartBare(getBody)
	if err != nil {
		return nil, 0, err
	}
	return b, 0, nil
}

// ErrUnknownUser is wrapped by Run's error when a user it checks before the
// load (the first, with Baseline, and those in Config.Probe) is not found.
var ErrUnknownUser = errors.New("user not found")

// probe GETs user's presence through the node at base: it checks the
// token and the user before any load, and the first user's answer is the
// bare server's GET document.
func probe(ctx context.Context, c *http.Client, base, user, authz string) ([]byte, error) {
	u := base + "/v1.0/users/" + url.PathEscape(user) + "/presence"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", authz)
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return body, nil
	case http.StatusNotFound:
		return nil, fmt.Errorf("GET %s answered %s: %s (is the user in the tenant?): %w", u, resp.Status, clip(body), ErrUnknownUser)
	}
	return nil, fmt.Errorf("GET %s answered %s: %s", u, resp.Status, clip(body))
}

// isLoopback reports whether base's host is this machine's loopback
// (127.0.0.0/8, ::1 or localhost).
func isLoopback(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func clip(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
