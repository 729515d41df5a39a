package presenced_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/observe"
)

// lockedBuffer is a log destination several goroutines write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// secrets is what a run sends that no log line and no metric label may
// carry.
type secrets struct {
	tokens    []string
	passwords []string
	ids       []string // user ids, UPNs, tenant ids: never a label value
}

// exercise drives every part of a server once — tokens issued and
// refused, reads by id and by userPrincipalName, writes, a batch read, a
// live stream with its token in the query, a webhook subscription whose
// receiver fails once, unknown paths and methods — and returns what it
// sent that must stay out of logs and labels.
func exercise(t *testing.T, e *env) secrets {
	t.Helper()
	app := e.appToken()
	user := e.userToken("adele", "")
	var s secrets
	s.tokens = []string{app, user}
	s.passwords = []string{directory.DemoDaemonSecret, directory.DemoPassword, "not-the-secret-4711", "wrong-password-0815"}
	for _, u := range []string{"adele", "alex", "megan"} {
		s.ids = append(s.ids, e.user(u), u+"@contoso.dev")
	}
	s.ids = append(s.ids, directory.DemoTenantID)
	alex, megan := e.user("alex"), e.user("megan")

	tokenURL := e.srv.URL() + "/" + directory.DemoTenantID + "/oauth2/v2.0/token"
	for _, form := range []url.Values{
		{"grant_type": {"client_credentials"}, "client_id": {directory.DemoDaemonClientID}, "client_secret": {"not-the-secret-4711"}, "scope": {"https://graph.microsoft.com/.default"}},
		{"grant_type": {"password"}, "client_id": {directory.DemoClientID}, "username": {"adele@contoso.dev"}, "password": {"wrong-password-0815"}, "scope": {"https://graph.microsoft.com/.default"}},
	} {
		resp, err := http.PostForm(tokenURL, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatalf("a wrong secret got a token")
		}
	}
	e.get(app, alex)
	e.get(app, "megan@contoso.dev")
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Busy", "InACall", "PT1H"))
	if r := e.call("POST", "/v1.0/communications/getPresencesByUserId", app, map[string]any{"ids": []string{alex, megan}}); r.status != 200 {
		t.Fatalf("getPresencesByUserId: %d %s", r.status, r.raw)
	}
	if r := e.call("GET", "/v1.0/me/presence", user, nil, "client-request-id", "my-client-request-1"); r.status != 200 {
		t.Fatalf("me: %d", r.status)
	}
	e.call("GET", "/v1.0/users/"+megan+"/nonsense", app, nil)
	e.call("GET", "/v1.0/users/"+megan+"/mailboxSettings", user, nil)
	e.call("GET", "/v1.0/me/calendar/events", user, nil)
	e.call("DELETE", "/v1.0/users/"+megan+"/presence", app, nil)

	events, closeStream := e.openStream(t, app, "ids="+alex, "")
	nextEvent(t, events)
	if n := scrapeAt(t, e.srv.URL()+"/metrics").value("presenced_streams_open"); n != 1 {
		t.Errorf("presenced_streams_open = %v with one stream open", n)
	}
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Available", "Available", "PT1H"))
	nextEvent(t, events)
	closeStream()

	rc := newReceiver(t)
	r := e.subscribe(user, subBody(rc.srv.URL+"/hook", []string{megan}, t0.Add(30*time.Minute)))
	if r.status != 201 {
		t.Fatalf("subscribe: %d %s", r.status, r.raw)
	}
	rc.mu.Lock()
	rc.fail = 1
	rc.mu.Unlock()
	e.must("POST", "/v1.0/users/"+megan+"/presence/setPresence", app, setBody("Away", "Away", "PT1H"))
	rc.next()
	// The receiver has the notification; its answer may still be on its
	// way back: deleting the subscription now would cut it off.
	waitFor(t, "the delivery counted", func() bool {
		return scrapeAt(t, e.srv.URL()+"/metrics").value("presenced_webhook_deliveries_total", "outcome", "delivered") == 1
	})
	if d := e.call("DELETE", "/v1.0/subscriptions/"+r.str("id"), user, nil); d.status != 204 {
		t.Fatalf("delete subscription: %d", d.status)
	}
	return s
}

// No metric label carries a user id, a userPrincipalName or a tenant id,
// whatever the requests named: the label values come from route patterns
// and closed sets.
func TestNoMetricLabelCarriesAnID(t *testing.T) {
	e := start(t)
	s := exercise(t, e)
	// The run's deliveries and refusals, counted exactly: one notification
	// taken after one failed attempt; one wrong secret, one wrong password.
	m := scrapeAt(t, e.srv.URL()+"/metrics")
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"presenced_webhook_deliveries_total", []string{"outcome", "delivered"}, 1},
		{"presenced_webhook_retries_total", nil, 1},
		{"presenced_webhook_deliveries_total", []string{"outcome", "dropped"}, 0},
		{"presenced_webhook_delivery_latency_seconds", nil, 1},
		{"presenced_token_requests_rejected_total", []string{"error", "invalid_client", "code", "7000215"}, 1},
		{"presenced_token_requests_rejected_total", []string{"error", "invalid_grant", "code", "50126"}, 1},
		{"presenced_tokens_issued_total", []string{"grant", "password"}, 1},
		{"presenced_subscriptions", nil, 0},
	} {
		if got := m.value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	labels := m.labelValues()
	if len(labels) < 50 {
		t.Fatalf("only %d label values: the run did not reach the metrics", len(labels))
	}
	for _, l := range labels {
		for _, bad := range append(append(s.ids, s.tokens...), s.passwords...) {
			if strings.Contains(strings.ToLower(l), strings.ToLower(bad)) {
				t.Errorf("label %s carries %q", l, bad)
			}
		}
	}
}

// The access log has one line per request with its request-id,
// client-request-id, route, status, latency, tenant and app, and no log
// line of a run carries a token, a password or a client secret.
func TestAccessLogCarriesRequestsNotSecrets(t *testing.T) {
	var out lockedBuffer
	// The logger the command makes (its fast access line included).
	sink := observe.NewLogSink(&out, 100*time.Millisecond)
	log, err := observe.NewLogger("json", slog.LevelDebug, sink)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, fake: clock.NewFake(t0), dir: t.TempDir(), addr: "127.0.0.1:0", log: log,
		cfg: func(c *presenced.Config) { c.AccessLog = true }}
	e.boot()
	s := exercise(t, e)
	e.stop()
	sink.Close()
	logs := out.String()
	for _, bad := range append(s.tokens, s.passwords...) {
		if strings.Contains(logs, bad) {
			t.Errorf("the logs carry %q", bad[:min(len(bad), 20)])
		}
	}
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON line: %s", sc.Text())
		}
		if m["msg"] == "request" {
			lines = append(lines, m)
		}
	}
	var me map[string]any
	for _, l := range lines {
		for _, k := range []string{"request_id", "client_request_id", "method", "route", "status", "latency", "tenant", "app"} {
			if _, ok := l[k]; !ok {
				t.Errorf("access line without %s: %v", k, l)
			}
		}
		if l["client_request_id"] == "my-client-request-1" {
			me = l
		}
	}
	if len(lines) < 15 {
		t.Fatalf("%d access lines", len(lines))
	}
	var retry map[string]any
	sc = bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "notification not taken; retrying" {
			retry = m
		}
	}
	if retry == nil || retry["tenant"] != directory.DemoTenantID || retry["app"] != directory.DemoClientID || retry["subscription"] == "" {
		t.Errorf("the failed delivery's line: %v", retry)
	}
	if me == nil || me["route"] != "/v1.0/me/presence" || me["status"] != float64(200) || me["tenant"] != directory.DemoTenantID || me["app"] != directory.DemoClientID || me["request_id"] == "" {
		t.Errorf("the access line of GET /me/presence: %v", me)
	}
}

// Readiness: not ready while the cache warms, ready after, not ready
// while the server drains at shutdown — during which it still serves.
func TestReadyzFollowsWarmUpAndDrain(t *testing.T) {
	release := make(chan struct{})
	e := &env{t: t, fake: clock.NewFake(t0), dir: t.TempDir(), addr: "127.0.0.1:0", cfg: func(c *presenced.Config) {
		c.ShutdownDrain = 2 * time.Second
		presenced.SlowWarmUp(c, func(ctx context.Context) {
			select {
			case <-release:
			case <-ctx.Done():
			}
		})
	}}
	e.boot()
	base := e.srv.URL()
	tok := e.appToken()
	status := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := status("/readyz"); code != 503 || !strings.Contains(body, "failed: cache warm") || !strings.Contains(body, "ok: engine reachable") || !strings.Contains(body, "ok: directory loaded") {
		t.Fatalf("during warm-up /readyz = %d %q", code, body)
	}
	if code, _ := status("/healthz"); code != 200 {
		t.Fatalf("/healthz during warm-up = %d", code)
	}
	close(release)
	waitFor(t, "ready after warm-up", func() bool { code, _ := status("/readyz"); return code == 200 })

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- e.srv.Shutdown(ctx)
	}()
	waitFor(t, "not ready while draining", func() bool { code, _ := status("/readyz"); return code == 503 })
	if _, body := status("/readyz"); !strings.Contains(body, "failed: shutdown") {
		t.Errorf("/readyz while draining: %q", body)
	}
	e.get(tok, e.user("adele")) // still served
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	e.srv = nil
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("still serving after the drain")
	}
}

// waitFor polls cond every 10 ms for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("not %s within 10 s", what)
}

// ShutdownNow (the command's SIGINT, Ctrl-C at a terminal) stops without
// the drain, however long it is.
func TestShutdownNowSkipsTheDrain(t *testing.T) {
	e := &env{t: t, fake: clock.NewFake(t0), dir: t.TempDir(), addr: "127.0.0.1:0", cfg: func(c *presenced.Config) { c.ShutdownDrain = time.Hour }}
	e.boot()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.srv.ShutdownNow(ctx); err != nil || ctx.Err() != nil {
		t.Fatalf("ShutdownNow: %v (context: %v)", err, ctx.Err())
	}
	e.srv = nil
}
