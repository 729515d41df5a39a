package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Run gets an application token from cfg.URL's issuer, optionally measures
// the bare baseline, then sends cfg's load to cfg.URL and reports. It
// returns an error before any load when the configuration, the token or
// (with Baseline) the first GET fails. Requests that fail during the run
// are counted, not returned. If ctx ends first, Run stops and returns what
// it measured, marked Interrupted, with ctx's error.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.Check(); err != nil {
		return Report{}, err
	}
	cfg = cfg.withDefaults()
	rep := Report{
		URL: cfg.URL, Tenant: cfg.Tenant, Users: len(cfg.Users), SessionsPerUser: cfg.SessionsPerUser,
		Mix: cfg.Mix, ManyIDs: cfg.ManyIDs, Concurrency: cfg.Concurrency, Duration: cfg.Duration, Requests: cfg.Requests,
	}
	client := newClient(cfg)
	defer client.CloseIdleConnections()

	tokens, err := newTokenSource(ctx, client, cfg)
	if err != nil {
		return rep, err
	}
	defer tokens.stop()

	if cfg.Baseline {
		body, err := probe(ctx, client, cfg, tokens.header())
		if err != nil {
			return rep, err
		}
		bare, err := StartBare(body)
		if err != nil {
			return rep, fmt.Errorf("baseline: %w", err)
		}
		res := runPhase(ctx, cfg, client, tokens, bare.URL(), "baseline")
		_ = bare.Close()
		res.GetBodyBytes = len(body)
		rep.Baseline = &res
		if ctx.Err() != nil {
			rep.Interrupted = true
			return rep, ctx.Err()
		}
	}
	rep.Presenced = runPhase(ctx, cfg, client, tokens, cfg.URL, "presenced")
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

// newClient keeps one idle connection per worker and then some, so every
// worker reuses its connection and no request pays for a dial after the
// first.
func newClient(cfg Config) *http.Client {
	return &http.Client{
		Timeout: cfg.Timeout,
		Transport: &http.Transport{
			Proxy:               nil, // the URL given, never a proxy from the environment
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        2 * cfg.Concurrency,
			MaxIdleConnsPerHost: 2 * cfg.Concurrency,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   false,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// probe GETs the first user's presence: it checks the token and users work
// before any load, and its answer is the bare server's GET document.
func probe(ctx context.Context, c *http.Client, cfg Config, authz string) ([]byte, error) {
	u := cfg.URL + "/v1.0/users/" + url.PathEscape(cfg.Users[0]) + "/presence"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", authz)
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("baseline: sizing GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("baseline: sizing GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("baseline: sizing GET %s answered %s: %s (is the user in the tenant?)", u, resp.Status, clip(body))
	}
	return body, nil
}

func clip(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// tokenSource holds the current "Bearer …" header and renews the token a
// while before it expires.
type tokenSource struct {
	cur    atomic.Pointer[string]
	cancel context.CancelFunc
	done   chan struct{}
}

func newTokenSource(ctx context.Context, c *http.Client, cfg Config) (*tokenSource, error) {
	tok, life, err := fetchToken(ctx, c, cfg)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ts := &tokenSource{cancel: cancel, done: make(chan struct{})}
	ts.cur.Store(&tok)
	go ts.renew(rctx, c, cfg, life)
	return ts, nil
}

// renewIn is when to renew a token that lives for life: five minutes
// before it expires, or a quarter of its life before for short ones.
func renewIn(life time.Duration) time.Duration {
	return life - min(life/4, 5*time.Minute)
}

func (ts *tokenSource) renew(ctx context.Context, c *http.Client, cfg Config, life time.Duration) {
	defer close(ts.done)
	t := time.NewTimer(renewIn(life))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		tok, l, err := fetchToken(ctx, c, cfg)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if cfg.Logf != nil {
				cfg.Logf("renewing the token failed (retrying in 5s): %v", err)
			}
			t.Reset(5 * time.Second)
			continue
		}
		ts.cur.Store(&tok)
		t.Reset(renewIn(l))
	}
}

func (ts *tokenSource) header() string { return *ts.cur.Load() }

func (ts *tokenSource) stop() {
	ts.cancel()
	<-ts.done
}

// fetchToken asks the issuer for an application token (client credentials)
// and returns its Authorization header value and lifetime.
func fetchToken(ctx context.Context, c *http.Client, cfg Config) (string, time.Duration, error) {
	u := cfg.URL + "/" + url.PathEscape(cfg.Tenant) + "/oauth2/v2.0/token"
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {cfg.ClientID},
		"client_secret": {cfg.ClientSecret},
		"scope":         {"https://graph.microsoft.com/.default"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("token from %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, fmt.Errorf("token from %s: %w", u, err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	jerr := json.Unmarshal(body, &tr)
	switch {
	case resp.StatusCode != http.StatusOK && tr.Error != "":
		return "", 0, fmt.Errorf("token from %s: %s: %s: %s", u, resp.Status, tr.Error, tr.Description)
	case resp.StatusCode != http.StatusOK:
		return "", 0, fmt.Errorf("token from %s: %s: %s (is this a presenced?)", u, resp.Status, clip(body))
	case jerr != nil || tr.AccessToken == "":
		return "", 0, fmt.Errorf("token from %s: the answer has no access_token: %s", u, clip(body))
	}
	life := time.Duration(tr.ExpiresIn) * time.Second
	if life <= 0 {
		life = time.Hour
	}
	return "Bearer " + tr.AccessToken, life, nil
}

// availabilityPairs are the pairs setPresence accepts; each setPresence
// sends one at random, so presence keeps changing.
var availabilityPairs = [][2]string{
	{"Available", "Available"}, {"Busy", "InACall"}, {"Busy", "InAConferenceCall"},
	{"Away", "Away"}, {"DoNotDisturb", "Presenting"},
}

// shapes are the requests of one phase, built once.
type shapes struct {
	getURL, setURL []string // per user
	manyURL        string
	manyBodies     [][]byte // ManyIDs ids from a few starting users
	ops            []Op     // weighted: one entry per unit of weight
	clientID       string
	sessions       int
}

func newShapes(cfg Config, base string) *shapes {
	s := &shapes{
		manyURL:  base + "/v1.0/communications/getPresencesByUserId",
		clientID: cfg.ClientID,
		sessions: cfg.SessionsPerUser,
	}
	for _, u := range cfg.Users {
		p := base + "/v1.0/users/" + url.PathEscape(u) + "/presence"
		s.getURL = append(s.getURL, p)
		s.setURL = append(s.setURL, p+"/setPresence")
	}
	if cfg.Mix.Many > 0 {
		for start := range min(len(cfg.Users), 16) {
			ids := make([]string, cfg.ManyIDs)
			for i := range ids {
				ids[i] = cfg.Users[(start+i)%len(cfg.Users)]
			}
			b, _ := json.Marshal(map[string][]string{"ids": ids})
			s.manyBodies = append(s.manyBodies, b)
		}
	}
	for _, op := range Ops {
		for range cfg.Mix.Weight(op) {
			s.ops = append(s.ops, op)
		}
	}
	return s
}

func (s *shapes) setBody(r *rand.Rand) []byte {
	p := availabilityPairs[r.IntN(len(availabilityPairs))]
	b := make([]byte, 0, 160)
	b = append(b, `{"sessionId":"`...)
	b = append(b, s.clientID...)
	b = append(b, ":s"...)
	b = strconv.AppendInt(b, int64(r.IntN(s.sessions)), 10)
	b = append(b, `","availability":"`...)
	b = append(b, p[0]...)
	b = append(b, `","activity":"`...)
	b = append(b, p[1]...)
	b = append(b, `","expirationDuration":"PT1H"}`...)
	return b
}

// request builds one request of op.
func (s *shapes) request(ctx context.Context, op Op, r *rand.Rand, authz string) *http.Request {
	var req *http.Request
	switch op {
	case OpGet:
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, s.getURL[r.IntN(len(s.getURL))], nil)
	case OpSet:
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, s.setURL[r.IntN(len(s.setURL))], bytes.NewReader(s.setBody(r)))
		req.Header.Set("Content-Type", "application/json")
	case OpMany:
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, s.manyURL, bytes.NewReader(s.manyBodies[r.IntN(len(s.manyBodies))]))
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", authz)
	return req
}

// runPhase sends cfg's load to base with cfg.Concurrency workers until the
// duration or the request count is reached, or ctx ends.
func runPhase(ctx context.Context, cfg Config, c *http.Client, tokens *tokenSource, base, phase string) Result {
	sh := newShapes(cfg, base)
	var (
		stop     atomic.Bool
		claimed  atomic.Int64 // requests started, for the count bound
		finished atomic.Int64 // for progress
		failed   atomic.Int64
		wg       sync.WaitGroup
	)
	stats := make([]map[Op]*opStats, cfg.Concurrency)
	start := now()
	if cfg.Duration > 0 {
		t := time.AfterFunc(cfg.Duration, func() { stop.Store(true) })
		defer t.Stop()
	}
	progressDone := make(chan struct{})
	progressStopped := make(chan struct{})
	go func() {
		defer close(progressStopped)
		if cfg.Progress == nil {
			<-progressDone
			return
		}
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var lastN int64
		var lastT time.Duration
		for {
			select {
			case <-progressDone:
				return
			case <-tick.C:
				el, n := since(start), finished.Load()
				rate := 0.0
				if d := (el - lastT).Seconds(); d > 0 {
					rate = float64(n-lastN) / d
				}
				cfg.Progress(Progress{Phase: phase, Elapsed: el, Requests: n, Errors: failed.Load(), Rate: rate})
				lastN, lastT = n, el
			}
		}
	}()

	for w := range cfg.Concurrency {
		st := map[Op]*opStats{}
		for _, op := range Ops {
			st[op] = &opStats{}
		}
		stats[w] = st
		wg.Go(func() {
			r := rand.New(rand.NewPCG(rand.Uint64(), uint64(w)))
			body := make([]byte, 32<<10)
			for !stop.Load() && ctx.Err() == nil {
				if cfg.Requests > 0 && claimed.Add(1) > cfg.Requests {
					return
				}
				op := sh.ops[r.IntN(len(sh.ops))]
				s := st[op]
				req := sh.request(ctx, op, r, tokens.header())
				t0 := now()
				resp, err := c.Do(req)
				if err != nil {
					if ctx.Err() != nil {
						return // interrupted: not the server's failure
					}
					s.count++
					s.fail("transport", err.Error())
					finished.Add(1)
					failed.Add(1)
					continue
				}
				var errBody []byte
				if resp.StatusCode != http.StatusOK {
					errBody, _ = io.ReadAll(io.LimitReader(resp.Body, 4<<10))
				}
				_, err = io.CopyBuffer(io.Discard, resp.Body, body)
				resp.Body.Close()
				lat := since(t0)
				if err != nil && ctx.Err() != nil {
					return
				}
				s.count++
				finished.Add(1)
				switch {
				case err != nil:
					s.fail("transport", err.Error())
					failed.Add(1)
				case resp.StatusCode != http.StatusOK:
					s.fail(strconv.Itoa(resp.StatusCode), fmt.Sprintf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, clip(errBody)))
					failed.Add(1)
				default:
					s.hist.Record(lat)
				}
			}
		})
	}
	wg.Wait()
	elapsed := since(start)
	close(progressDone)
	<-progressStopped

	res := Result{URL: base, Elapsed: elapsed}
	var total opStats
	for _, op := range Ops {
		if cfg.Mix.Weight(op) == 0 {
			continue
		}
		var m opStats
		for _, st := range stats {
			m.merge(st[op])
		}
		res.Ops = append(res.Ops, m.result(string(op), elapsed))
		total.merge(&m)
	}
	res.Total = total.result("total", elapsed)
	if cfg.Progress != nil {
		cfg.Progress(Progress{Phase: phase, Elapsed: elapsed, Requests: res.Total.Count, Errors: res.Total.Errors, Rate: res.Total.Throughput, Final: true})
	}
	return res
}
