package graphapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/presence"
)

// devClockJSON is the body of the dev-mode clock endpoints.
type devClockJSON struct {
	Now    string `json:"now"`
	Offset string `json:"offset"`
}

func (a *API) devClockBody() devClockJSON {
	return devClockJSON{Now: presence.FormatDateTime(a.dev.Now()), Offset: presence.FormatDuration(a.dev.Offset())}
}

// getDevClock serves GET /dev/clock: the server's current time and how far
// it has been moved forward.
func (a *API) getDevClock(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.devClockBody())
}

// advanceDevClock serves POST /dev/clock/advance {"by":"PT10M"} (or
// ?by=PT10M): every time rule sees the new time at once.
func (a *API) advanceDevClock(w http.ResponseWriter, r *http.Request) {
	by := r.URL.Query().Get("by")
	if by == "" {
		if err := decodeBody(r, a.maxBody, "advance", false, param{"by", &by}); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	if by == "" {
		a.writeError(w, r, presence.Errorf(presence.Invalid, "by", "Property 'by' is required: an ISO 8601 duration such as \"PT10M\"."))
		return
	}
	d, err := presence.ParseDuration(by)
	if err != nil {
		a.writeError(w, r, presence.Errorf(presence.Invalid, "by", "by: %s", presence.ErrorMessage(err)))
		return
	}
	if _, err := a.dev.Advance(r.Context(), d); err != nil {
		var tf *clock.TooFarError
		if errors.As(err, &tf) {
			err = presence.Errorf(presence.Invalid, "by",
				"Moving forward by %s would take the clock past %s, the latest time it may show (sequenceNumbers count nanoseconds since 1970 in 64 bits, which run out in 2262); it is %s now and may move forward by at most %s.",
				clip(by), clock.Horizon.Format(time.RFC3339), presence.FormatDateTime(tf.Now), presence.FormatDuration(tf.Room))
		}
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.devClockBody())
}
