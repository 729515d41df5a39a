package graphapi

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/auth/throttle"
)

// DefaultMaxInFlight is how many requests a node serves at once before it
// answers 503 (Options.MaxInFlight).
const DefaultMaxInFlight = 1000

// caller authenticates a request to the presence API and takes it from
// its application's budget in its tenant (Graph's throttling; see
// docs/design.md): over the budget it is 429 TooManyRequests with
// Retry-After. Every presence route, and every sub-request of a $batch,
// starts here.
func (a *API) caller(r *http.Request) (auth.Principal, error) {
	p, err := a.principal(r)
	if err != nil || a.budget == nil {
		return p, err
	}
	at := p.CheckedAt
	if at.IsZero() {
		at = a.clock.Now()
	}
	if ok, wait := a.budget.AllowAt(throttle.BudgetKey{TenantID: p.TenantID, AppID: p.ClientID}, at); !ok {
		a.budgetRefused.Add(1)
		return p, a.tooManyRequests(wait)
	}
	return p, nil
}

// tooManyRequests is Graph's 429 for an application over its budget.
func (a *API) tooManyRequests(wait time.Duration) error {
	return &httpError{status: http.StatusTooManyRequests, code: "TooManyRequests",
		retryAfter: throttle.RetryAfterSeconds(wait),
		message: fmt.Sprintf("Too many requests: this application may make %d presence requests per %s in this tenant, and has made them. Retry after %d seconds.",
			a.budget.Requests(), a.budget.Window(), throttle.RetryAfterSeconds(wait))}
}

// inFlight guards the node against more requests at once than it can
// hold: over the limit a request is answered 503 at once, before anything
// of it is read (docs/security.md). One atomic counter, no lock.
type inFlight struct {
	max     int64
	n       atomic.Int64
	refused atomic.Int64
	// lastLog is when a refusal was last logged (unix seconds), so that an
	// overload is logged once a minute, not per request.
	lastLog atomic.Int64
}

// enter counts a request in; false when the node is full (the request is
// then not counted). A nil guard admits everything.
func (g *inFlight) enter() bool {
	if g == nil {
		return true
	}
	if g.n.Add(1) > g.max {
		g.n.Add(-1)
		return false
	}
	return true
}

func (g *inFlight) leave() {
	if g != nil {
		g.n.Add(-1)
	}
}

// overloaded answers a request the node has no room for.
func (a *API) overloaded(w http.ResponseWriter, r *http.Request) {
	g := a.inFlight
	total := g.refused.Add(1)
	if now := a.clock.Now().Unix(); now-g.lastLog.Load() >= 60 && g.lastLog.Swap(now) != now {
		a.log.Warn("overloaded: requests refused with 503 (--max-in-flight)", "in_flight_limit", g.max, "refused_total", total)
	}
	a.writeError(w, r, &httpError{status: http.StatusServiceUnavailable, code: "serviceNotAvailable", retryAfter: 1,
		message: fmt.Sprintf("The server is serving %d requests, as many as it takes at once; nothing was done. Retry after 1 second.", g.max)})
}

// guarded reports whether a request counts against the in-flight limit:
// everything but the live stream, which stays open for hours and is
// bounded by the connection limit.
func guarded(r *http.Request) bool { return !strings.HasPrefix(r.URL.Path, StreamPath) }
