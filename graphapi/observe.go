package graphapi

import (
	"log/slog"
	"net/http"

	"github.com/presenced/presenced/observe/reqlog"
)

// OpenStreams is how many live streams are open (the server's metrics
// read it at each scrape).
func (a *API) OpenStreams() int { return int(a.streamsOpen.Load()) }

// BudgetRefused is how many requests were refused for an application's
// budget (429), and InFlightRefused how many for the in-flight limit (503).
func (a *API) BudgetRefused() uint64 { return uint64(a.budgetRefused.Load()) }

// InFlightRefused: see BudgetRefused.
func (a *API) InFlightRefused() uint64 {
	if a.inFlight == nil {
		return 0
	}
	return uint64(a.inFlight.refused.Load())
}

// countStream counts a stream open until the function it returns is
// called.
func (a *API) countStream() func() {
	a.streamsOpen.Add(1)
	return func() { a.streamsOpen.Add(-1) }
}

// logFailure logs a request that failed on the server's side, with the
// request's fields (request-id, route, tenant, app: reqlog) so that it
// joins its access line. Never the path's query or a header but the ids:
// a stream's access_token travels in its query.
func (a *API) logFailure(w http.ResponseWriter, r *http.Request, err error) {
	attrs := make([]slog.Attr, 0, 10)
	if reqlog.From(r.Context()) == nil {
		attrs = append(attrs, slog.String("request_id", w.Header().Get("request-id")), slog.String("method", r.Method), slog.String("route", r.Pattern))
	} else {
		attrs = reqlog.Attrs(r.Context(), attrs)
	}
	attrs = append(attrs, slog.String("path", r.URL.Path), slog.String("err", err.Error()))
	a.log.LogAttrs(r.Context(), slog.LevelError, "request failed", attrs...)
}
