// Package observe is how an operator sees presenced: Prometheus metrics
// (an HTTP middleware, a decorator of the engine's buckets and logs, hooks
// that notify and auth call where an event happens, and values read at
// scrape time), the /healthz and /readyz endpoints, and one access-log
// line per request. Nothing in the domain, core or the engine knows of it:
// server.go wires it around them. Every label takes its values from a set
// fixed in the code (route patterns, methods, statuses, bucket names,
// outcomes), never from a request's ids, so a scrape's size is bounded
// however many users a server has.
package observe

import (
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one server's metrics, in a registry of its own (never the
// global one), so that several servers run in one process. It is safe for
// concurrent use; a nil *Metrics records nothing.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	httpInFlight inFlight
	routes       routeTable

	engineDuration  *prometheus.HistogramVec
	engineErrors    *prometheus.CounterVec
	engineConflicts *prometheus.CounterVec

	deliveries      *prometheus.CounterVec
	retries         prometheus.Counter
	deliveryLatency prometheus.Histogram

	tokensIssued   *prometheus.CounterVec
	tokensRejected *prometheus.CounterVec
	throttled      *throttleCounts
}

// Namespace prefixes every metric of presenced's own.
const Namespace = "presenced"

// httpBuckets are the request latency buckets, in seconds: a GET is tens
// of microseconds, a write a few hundred, a getPresencesByUserId of 650
// users a few milliseconds; a live stream lasts hours (+Inf).
var httpBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// engineBuckets are the engine operations' latency buckets: a read from
// the embedded engine is ~16 µs, a write ~20–60 µs, a replicated one
// 100–150 µs, a walk of a million users seconds.
var engineBuckets = []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .1, .5, 1, 5, 30}

// deliveryBuckets are the buckets of the time from a change to its
// notification being taken: milliseconds when the receiver is up, up to
// Graph's 4 hours of retries when it is not.
var deliveryBuckets = []float64{.001, .005, .01, .05, .1, .5, 1, 5, 30, 60, 300, 1800, 3600, 14400}

// NewMetrics builds the metrics, with Go's runtime and process collectors
// and presenced_build_info.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	f := factory{reg}
	m := &Metrics{
		reg: reg,
		httpRequests: f.counterVec("http_requests_total", "HTTP requests answered, by route (the pattern matched, never the path), method and status.",
			"route", "method", "status"),
		httpDuration: f.histogramVec("http_request_duration_seconds", "Time from a request's arrival to its handler's return, by route, method and status (a live stream: its whole life).",
			httpBuckets, "route", "method", "status"),
		engineDuration: f.histogramVec("engine_operation_duration_seconds", "Latency of engine operations, by bucket or log and operation.",
			engineBuckets, "bucket", "op"),
		engineErrors: f.counterVec("engine_errors_total", "Engine operations that failed (not counting a key not found or a revision conflict), by bucket or log and operation.",
			"bucket", "op"),
		engineConflicts: f.counterVec("engine_revision_conflicts_total", "Writes refused because the key's revision had moved (another writer was first), by bucket.",
			"bucket"),
		deliveries: f.counterVec("webhook_deliveries_total", "Change notifications by final outcome: delivered (the receiver took it), dropped (not taken within the retry period).",
			"outcome"),
		retries: f.counter("webhook_retries_total", "Notification attempts the receiver did not take (each is retried later)."),
		deliveryLatency: f.histogram("webhook_delivery_latency_seconds", "Time from a presence change to its notification being taken by the receiver.",
			deliveryBuckets),
		tokensIssued: f.counterVec("tokens_issued_total", "Access tokens issued by the token endpoint, by grant type.", "grant"),
		tokensRejected: f.counterVec("token_requests_rejected_total", "Token requests refused, by OAuth error and Entra (AADSTS) error code.",
			"error", "code"),
		throttled: newThrottleCounts(),
	}
	reg.MustRegister(m.throttled)
	m.GaugeFunc("http_requests_in_flight", "HTTP requests being served, live streams included.", m.httpInFlight.value)
	for _, o := range []string{"delivered", "dropped"} {
		m.deliveries.WithLabelValues(o)
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	version := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	f.gaugeWith("build_info", "Always 1; the labels say which presenced this is.", prometheus.Labels{"version": version}).Set(1)
	return m
}

// Registry is the registry the metrics are in (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in Prometheus's text (or negotiated) format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, MaxRequestsInFlight: 4})
}

// GaugeFunc registers a gauge whose value f reads at each scrape (cached
// users, subscriptions, queue depth): between scrapes it costs nothing.
// name is without the namespace.
func (m *Metrics) GaugeFunc(name, help string, f func() float64) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, f))
}

// CounterFunc registers a counter read at each scrape, with const labels.
func (m *Metrics) CounterFunc(name, help string, labels prometheus.Labels, f func() float64) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help, ConstLabels: labels}, f))
}

// Durations registers a histogram of durations, in seconds, and returns
// what observes one (nothing when m is nil). name is without the namespace.
func (m *Metrics) Durations(name, help string, buckets []float64) func(time.Duration) {
	if m == nil {
		return func(time.Duration) {}
	}
	h := factory{m.reg}.histogram(name, help, buckets)
	return func(d time.Duration) { h.Observe(max(d, 0).Seconds()) }
}

// Delivered counts a notification taken by its receiver, delay after the
// change it tells of (notify.Observer).
func (m *Metrics) Delivered(delay time.Duration) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues("delivered").Inc()
	m.deliveryLatency.Observe(max(delay, 0).Seconds())
}

// Retried counts an attempt the receiver did not take (notify.Observer).
func (m *Metrics) Retried() {
	if m != nil {
		m.retries.Inc()
	}
}

// Dropped counts a notification given up after the retry period
// (notify.Observer).
func (m *Metrics) Dropped() {
	if m != nil {
		m.deliveries.WithLabelValues("dropped").Inc()
	}
}

// TokenIssued counts a token issued for grant (auth.Observer).
func (m *Metrics) TokenIssued(grant string) {
	if m != nil {
		m.tokensIssued.WithLabelValues(grant).Inc()
	}
}

// TokenRejected counts a refused token request by its OAuth error and
// AADSTS code, both constants of the issuer's code (auth.Observer). A
// request refused by the rate limit or a lockout also counts as throttled.
func (m *Metrics) TokenRejected(oauthError string, code int) {
	if m == nil {
		return
	}
	m.tokensRejected.WithLabelValues(oauthError, strconv.Itoa(code)).Inc()
	switch code {
	case 90055:
		m.throttled.add("token_rate")
	case 50053:
		m.throttled.add("lockout")
	}
}

// Throttled counts a connection or request refused by limit (for limits
// that are not the token endpoint's, which TokenRejected counts).
func (m *Metrics) Throttled(limit string) {
	if m != nil {
		m.throttled.add(limit)
	}
}

// ThrottledBy registers a limit whose refusals another part counts: read
// reads its running total at each scrape.
func (m *Metrics) ThrottledBy(limit string, read func() uint64) {
	if m != nil {
		m.throttled.readFrom(limit, read)
	}
}

// factory makes metrics in presenced's namespace and registers them.
type factory struct{ reg *prometheus.Registry }

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) gaugeWith(name, help string, labels prometheus.Labels) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help, ConstLabels: labels})
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}
