package presenced_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/natsstore"
)

// quiet drops the servers' logs: tests assert on behaviour, and retries
// are logged by design.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// t0 is where test clocks start: a fixed instant, so every rule is checked at
// chosen times.
var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// env is one running server in dev mode with a fake base clock, reached
// through a real listener.
type env struct {
	t    testing.TB
	srv  *presenced.Server
	fake *clock.Fake
	dir  string
	addr string                  // kept across restarts: the token issuer is the server's URL
	d    *directory.File         // nil: the dev demo
	log  *slog.Logger            // nil: quiet
	cfg  func(*presenced.Config) // nil: the defaults
	join *enginetest.Join        // the cluster's other nodes, in the cluster pass
	// direct sends requests to the listener rather than the public URL
	// (a load balancer's, in cluster tests, which no test runs).
	direct bool
}

// base is where requests are sent: the public URL, or the listener.
func (e *env) base() string {
	if e.direct {
		return "http://" + e.srv.Addr().String()
	}
	return e.srv.URL()
}

// clusterPass is PRESENCED_TEST_ENGINE=cluster: every test's server is the
// third node of a three-node cluster whose two others are engine-only
// (enginetest.StartPeers), with 3 replicas and 3 partitions, so that the
// API suites run against a clustered engine (TestClusterPass runs them so a
// second time). A restart keeps the server's place in its cluster.
var clusterPass = enginetest.ClusterPass()

// clustered makes cfg a node of the env's cluster, starting the cluster's
// other nodes at the first boot; it returns a function that waits for them
// once the server has started.
func (e *env) clustered(cfg *presenced.Config) (wait func()) {
	e.t.Helper()
	wait = func() {}
	if e.join == nil {
		peers, j := enginetest.StartPeers(e.t, 2, natsstore.Options{})
		e.join, wait = &j, peers.Wait
	}
	cfg.Partitions = 3
	cfg.Cluster = &presenced.ClusterConfig{NodeName: e.join.NodeName, ClusterName: e.join.ClusterName,
		ClusterListen: e.join.Listen, Routes: e.join.Routes}
	return wait
}

// boundedStart is the context a test's server starts with: a node of a
// cluster waits in Start for its peers, so the start is bounded by
// enginetest.StartTimeout. The context is not ended once Start returns
// (the server's watches of the engine begin under it: ending it would
// stop them and have the server start them again), but at the test's
// end, after the server stopped. started is called once Start returned.
func boundedStart(t testing.TB) (ctx context.Context, started func()) {
	ctx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(enginetest.StartTimeout, cancel)
	t.Cleanup(cancel)
	return ctx, func() { timer.Stop() }
}

// testThrottleRequests is the suites' budget per application: throttling
// stays on, out of the way.
const testThrottleRequests = 1 << 30

func start(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, fake: clock.NewFake(t0), dir: t.TempDir(), addr: "127.0.0.1:0"}
	e.boot()
	return e
}

// startWith is start with a directory of the test's own (still dev mode).
func startWith(t testing.TB, d *directory.File) *env {
	t.Helper()
	e := &env{t: t, fake: clock.NewFake(t0), dir: t.TempDir(), addr: "127.0.0.1:0", d: d}
	e.boot()
	return e
}

func (e *env) boot() {
	e.t.Helper()
	log := e.log
	if log == nil {
		log = quiet
	}
	// The suites make thousands of requests with one application on a
	// clock that does not move: Graph's budget (1,500 per 30 s, the
	// default) would throttle them. Tests of the budget set their own.
	cfg := presenced.Config{Addr: e.addr, DataDir: e.dir, Dev: true, Clock: e.fake, Logger: log, Directory: e.d,
		ThrottleRequests: testThrottleRequests}
	peersUp := func() {}
	if clusterPass {
		peersUp = e.clustered(&cfg)
	}
	if e.cfg != nil {
		e.cfg(&cfg)
	}
	srv, err := presenced.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, started := boundedStart(e.t)
	err = srv.Start(ctx)
	started()
	if err != nil {
		e.t.Fatal(err)
	}
	peersUp()
	e.srv = srv
	e.addr = srv.Addr().String()
	e.t.Cleanup(func() { e.stop() })
}

func (e *env) stop() {
	if e.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		e.t.Errorf("shutdown: %v", err)
	}
	e.srv = nil
}

// restart stops the server and starts a new one on the same data.
func (e *env) restart() {
	e.t.Helper()
	e.stop()
	e.boot()
}

// user returns the object id of a demo user by UPN prefix ("adele").
func (e *env) user(name string) string {
	e.t.Helper()
	u, ok := e.srv.Directory().User(name + "@contoso.dev")
	if !ok {
		e.t.Fatalf("no demo user %s", name)
	}
	return u.ID
}

// tokenReq posts a form to the issuer and returns the access token.
func (e *env) tokenReq(form url.Values) string {
	e.t.Helper()
	resp, err := http.PostForm(e.base()+"/"+directory.DemoTenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(raw, &body) != nil || body.AccessToken == "" {
		e.t.Fatalf("token: %s %s", resp.Status, raw)
	}
	return body.AccessToken
}

// tokenAt gets an application token from another tenant's issuer.
func (e *env) tokenAt(tenant, clientID, secret string) string {
	e.t.Helper()
	resp, err := http.PostForm(e.base()+"/"+tenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {clientID}, "client_secret": {secret}, "scope": {"https://graph.microsoft.com/.default"}})
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		e.t.Fatalf("token for %s: %s", clientID, resp.Status)
	}
	return body.AccessToken
}

// appToken is a daemon's token with Presence.ReadWrite.All.
func (e *env) appToken() string {
	return e.tokenReq(url.Values{"grant_type": {"client_credentials"}, "client_id": {directory.DemoDaemonClientID},
		"client_secret": {directory.DemoDaemonSecret}, "scope": {"https://graph.microsoft.com/.default"}})
}

// userToken is a delegated token for a demo user with the given scopes
// ("" = all consented scopes).
func (e *env) userToken(name, scopes string) string {
	if scopes == "" {
		scopes = "https://graph.microsoft.com/.default"
	}
	return e.tokenReq(url.Values{"grant_type": {"password"}, "client_id": {directory.DemoClientID},
		"username": {name + "@contoso.dev"}, "password": {directory.DemoPassword}, "scope": {scopes}})
}

// resp is a decoded response.
type resp struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// errCode is the Graph error code of an error response.
func (r resp) errCode() string {
	if e, ok := r.body["error"].(map[string]any); ok {
		c, _ := e["code"].(string)
		return c
	}
	return ""
}

func (r resp) errMessage() string {
	if e, ok := r.body["error"].(map[string]any); ok {
		c, _ := e["message"].(string)
		return c
	}
	return ""
}

func (r resp) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

// call sends one request. body may be a string (sent as is) or a value
// (JSON-encoded); headers are pairs.
func (e *env) call(method, path, token string, body any, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.base()+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header, raw: raw}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &out.body)
	}
	return out
}

// get reads a user's presence with token and fails the test on error.
func (e *env) get(token, userID string) resp {
	e.t.Helper()
	r := e.call("GET", "/v1.0/users/"+userID+"/presence", token, nil)
	if r.status != 200 {
		e.t.Fatalf("GET presence: %d %s", r.status, r.raw)
	}
	return r
}

// must sends a write and fails the test unless it returns 200.
func (e *env) must(method, path, token string, body any) {
	e.t.Helper()
	if r := e.call(method, path, token, body); r.status != 200 {
		e.t.Fatalf("%s %s: %d %s", method, path, r.status, r.raw)
	}
}

func pair(r resp) string { return r.str("availability") + "/" + r.str("activity") }

// setBody is a setPresence body for the demo daemon.
func setBody(avail, act, exp string) map[string]any {
	b := map[string]any{"sessionId": directory.DemoDaemonClientID, "availability": avail, "activity": act}
	if exp != "" {
		b["expirationDuration"] = exp
	}
	return b
}
