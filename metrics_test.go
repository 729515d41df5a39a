package presenced_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
)

// scrape reads the metrics at url (a /metrics endpoint) through HTTP, as
// Prometheus would.
type scrape map[string]*dto.MetricFamily

func scrapeAt(t testing.TB, url string) scrape {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// value is the metric's value with exactly labels (pairs): a counter's or
// gauge's value, a histogram's sample count; 0 when absent.
func (s scrape) value(name string, labels ...string) float64 {
	f := s[name]
	if f == nil {
		return 0
	}
	for _, m := range f.Metric {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

func hasLabels(m *dto.Metric, pairs []string) bool {
	if len(m.Label) != len(pairs)/2 {
		return false
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		found := false
		for _, l := range m.Label {
			if l.GetName() == pairs[i] && l.GetValue() == pairs[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Tests scrape /metrics after a known sequence of requests: each counter
// and histogram count moves by exactly what the sequence did.
func TestMetricsCountWhatHappened(t *testing.T) {
	e := start(t)
	adele := e.user("adele")
	tok := e.appToken() // one client_credentials token
	metrics := e.srv.URL() + "/metrics"
	before := scrapeAt(t, metrics)

	const presence = "/v1.0/users/{id}/presence"
	for range 3 {
		e.get(tok, adele)
	}
	if r := e.call("GET", "/v1.0/users/nobody@contoso.dev/presence", tok, nil); r.status != 404 {
		t.Fatalf("unknown user: %d", r.status)
	}
	if r := e.call("GET", "/v1.0/users/"+adele+"/presence", "", nil); r.status != 401 {
		t.Fatalf("no token: %d", r.status)
	}
	for _, pr := range [][2]string{{"Available", "Available"}, {"Busy", "InACall"}} {
		e.must("POST", "/v1.0/users/"+adele+"/presence/setPresence", tok, setBody(pr[0], pr[1], "PT1H"))
	}
	e.userToken("adele", "") // one password token
	resp, err := http.PostForm(e.srv.URL()+"/"+directory.DemoTenantID+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {directory.DemoDaemonClientID}, "client_secret": {"wrong"}, "scope": {"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	after := scrapeAt(t, metrics)

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"presenced_http_requests_total", []string{"route", presence, "method", "GET", "status", "200"}, 3},
		{"presenced_http_request_duration_seconds", []string{"route", presence, "method", "GET", "status", "200"}, 3},
		{"presenced_http_requests_total", []string{"route", presence, "method", "GET", "status", "404"}, 1},
		{"presenced_http_requests_total", []string{"route", presence, "method", "GET", "status", "401"}, 1},
		{"presenced_http_requests_total", []string{"route", "/v1.0/users/{id}/presence/{action}", "method", "POST", "status", "200"}, 2},
		{"presenced_http_request_duration_seconds", []string{"route", "/v1.0/users/{id}/presence/{action}", "method", "POST", "status", "200"}, 2},
		{"presenced_http_requests_total", []string{"route", "/{tenant}/oauth2/v2.0/token", "method", "POST", "status", "200"}, 1},
		{"presenced_http_requests_total", []string{"route", "/{tenant}/oauth2/v2.0/token", "method", "POST", "status", "401"}, 1},
		{"presenced_http_requests_total", []string{"route", "GET /metrics", "method", "GET", "status", "200"}, 1}, // the first scrape
		{"presenced_tokens_issued_total", []string{"grant", "password"}, 1},
		{"presenced_tokens_issued_total", []string{"grant", "client_credentials"}, 0},
		{"presenced_token_requests_rejected_total", []string{"error", "invalid_client", "code", "7000215"}, 1},
		{"presenced_engine_operation_duration_seconds", []string{"bucket", "presence", "op", "put"}, 2},
		{"presenced_engine_revision_conflicts_total", []string{"bucket", "presence"}, 0},
		{"presenced_throttled_total", []string{"limit", "token_rate"}, 0},
	} {
		if got := after.value(c.name, c.labels...) - before.value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := after.value("presenced_cached_users"); got < 1 {
		t.Errorf("presenced_cached_users = %v, want adele at least", got)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "presenced_build_info", "presenced_ready", "presenced_streams_open",
		"presenced_subscriptions", "presenced_notify_queue_depth", "presenced_connections_open", "presenced_http_requests_in_flight"} {
		if after[name] == nil {
			t.Errorf("no metric %s", name)
		}
	}
}

// Names follow Prometheus's rules: counters end in _total, durations are
// in seconds, every metric says what it is.
func TestMetricsNamesFollowPrometheusRules(t *testing.T) {
	e := start(t)
	s := scrapeAt(t, e.srv.URL()+"/metrics")
	for name, f := range s {
		if !strings.HasPrefix(name, "presenced_") {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			if !strings.HasSuffix(name, "_total") {
				t.Errorf("counter %s does not end in _total", name)
			}
		case dto.MetricType_HISTOGRAM:
			if !strings.HasSuffix(name, "_seconds") {
				t.Errorf("histogram %s is not in seconds", name)
			}
		case dto.MetricType_GAUGE:
			if strings.HasSuffix(name, "_total") {
				t.Errorf("gauge %s ends in _total", name)
			}
		}
		if f.GetHelp() == "" {
			t.Errorf("%s has no help", name)
		}
	}
}

// labelValues lists every label value of every metric.
func (s scrape) labelValues() []string {
	var out []string
	for name, f := range s {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				out = append(out, fmt.Sprintf("%s{%s=%q}", name, l.GetName(), l.GetValue()))
			}
		}
	}
	slices.Sort(out)
	return out
}

// With --metrics-addr the metrics move to their own listener (with the
// health endpoints), and the main listener no longer serves them; "off"
// keeps none.
func TestMetricsOnTheirOwnListener(t *testing.T) {
	e := &env{t: t, fake: clock.NewFake(t0), dir: t.TempDir(), addr: "127.0.0.1:0", cfg: func(c *presenced.Config) { c.MetricsAddr = "127.0.0.1:0" }}
	e.boot()
	own := "http://" + e.srv.MetricsAddr().String()
	if s := scrapeAt(t, own+"/metrics"); s["presenced_build_info"] == nil {
		t.Fatal("no presenced metrics on the metrics listener")
	}
	for _, c := range []struct {
		url  string
		want int
	}{{e.srv.URL() + "/metrics", 404}, {own + "/readyz", 200}, {own + "/healthz", 200}, {e.srv.URL() + "/readyz", 200}} {
		waitFor(t, c.url+" answering", func() bool {
			resp, err := http.Get(c.url)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode == c.want
		})
	}

	off := &env{t: t, fake: clock.NewFake(t0), dir: t.TempDir(), addr: "127.0.0.1:0", cfg: func(c *presenced.Config) { c.MetricsAddr = presenced.MetricsOff }}
	off.boot()
	if off.srv.Metrics() != nil || off.srv.MetricsAddr() != nil {
		t.Fatal("metrics kept with --metrics-addr off")
	}
	if r := off.call("GET", "/metrics", "", nil); r.status != 404 {
		t.Fatalf("/metrics with metrics off: %d", r.status)
	}
}

// Requests over an application's budget count as throttled, beside their
// 429s.
func TestMetricsCountThrottledRequests(t *testing.T) {
	e := &env{t: t, fake: clock.NewFake(t0), dir: t.TempDir(), addr: "127.0.0.1:0", cfg: func(c *presenced.Config) { c.ThrottleRequests = 2 }}
	e.boot()
	tok := e.appToken()
	adele := e.user("adele")
	for i := range 3 {
		r := e.call("GET", "/v1.0/users/"+adele+"/presence", tok, nil)
		if want := map[bool]int{true: 200, false: 429}[i < 2]; r.status != want {
			t.Fatalf("request %d: %d, want %d", i, r.status, want)
		}
	}
	s := scrapeAt(t, e.srv.URL()+"/metrics")
	for _, c := range []struct {
		labels []string
		want   float64
	}{{[]string{"limit", "graph_budget"}, 1}, {[]string{"limit", "in_flight"}, 0}, {[]string{"limit", "token_rate"}, 0}, {[]string{"limit", "connections"}, 0}} {
		if got := s.value("presenced_throttled_total", c.labels...); got != c.want {
			t.Errorf("presenced_throttled_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if got := s.value("presenced_http_requests_total", "route", "/v1.0/users/{id}/presence", "method", "GET", "status", "429"); got != 1 {
		t.Errorf("429s counted %v", got)
	}
}
