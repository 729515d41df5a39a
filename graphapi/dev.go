package graphapi

import (
	"net/http"

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
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.devClockBody())
}
