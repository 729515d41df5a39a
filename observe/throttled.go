package observe

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// throttleCounts is presenced_throttled_total: one counter per limit,
// whether the metrics count its refusals (the token rate, lockouts,
// connections) or the part that refuses counts them already and the
// metrics read its total at scrape time (the Graph API's budget and
// in-flight guard), so that the part needs no hook of its own.
type throttleCounts struct {
	desc   *prometheus.Desc
	mu     sync.Mutex
	limits []string // in registration order, for a stable exposition
	counts map[string]*atomic.Uint64
	reads  map[string]func() uint64
}

// throttleLimits are counted from the start, at zero.
var throttleLimits = []string{"token_rate", "lockout", "connections"}

func newThrottleCounts() *throttleCounts {
	t := &throttleCounts{
		desc: prometheus.NewDesc(Namespace+"_throttled_total",
			"Requests and connections refused by a limit: graph_budget (429, an application over its budget), in_flight (503, --max-in-flight), token_rate (429 at the token endpoint), lockout (a locked sign-in), connections (--max-connections).",
			[]string{"limit"}, nil),
		counts: map[string]*atomic.Uint64{},
		reads:  map[string]func() uint64{},
	}
	for _, l := range throttleLimits {
		t.counter(l)
	}
	return t
}

func (t *throttleCounts) counter(limit string) *atomic.Uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.counts[limit]
	if c == nil {
		c = new(atomic.Uint64)
		t.counts[limit] = c
		t.limits = append(t.limits, limit)
	}
	return c
}

func (t *throttleCounts) add(limit string) { t.counter(limit).Add(1) }

func (t *throttleCounts) readFrom(limit string, read func() uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.reads[limit]; !ok {
		if _, counted := t.counts[limit]; !counted {
			t.limits = append(t.limits, limit)
		}
	}
	t.reads[limit] = read
}

func (t *throttleCounts) Describe(ch chan<- *prometheus.Desc) { ch <- t.desc }

func (t *throttleCounts) Collect(ch chan<- prometheus.Metric) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range t.limits {
		var v uint64
		if c := t.counts[l]; c != nil {
			v += c.Load()
		}
		if r := t.reads[l]; r != nil {
			v += r()
		}
		ch <- prometheus.MustNewConstMetric(t.desc, prometheus.CounterValue, float64(v), l)
	}
}
