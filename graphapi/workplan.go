package graphapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/calendar"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/mailbox"
	"github.com/presenced/presenced/presence"
)

// The work plan: Graph's workHoursAndLocationsSetting and its
// workPlanOccurrence items (docs/api.md). Graph serves them in v1.0 and
// beta, to delegated tokens for the signed-in user's own plan only
// (Calendars.Read to read, Calendars.ReadWrite to write), and replaces an
// occurrence with PUT (PATCH is not supported).

const workPlan = "/settings/workHoursAndLocations"

// routeWorkPlan registers the work plan's routes of one API version under
// /me and /users/{id}.
func (a *API) routeWorkPlan(m *http.ServeMux, v string) {
	for _, s := range []struct {
		prefix string
		kind   subjectKind
	}{{v + "/me", subjectMe}, {v + "/users/{id}", subjectUsers}} {
		base := s.prefix + workPlan
		m.Handle(base+"/occurrences", a.methods(route{"GET", a.listWorkOccurrences(s.kind)}, route{"POST", a.createWorkOccurrence(s.kind)}))
		m.Handle(base+"/occurrences/{oid}", a.methods(route{"GET", a.getWorkOccurrence(s.kind)}, route{"PUT", a.replaceWorkOccurrence(s.kind)}, route{"DELETE", a.deleteWorkOccurrence(s.kind)}))
		m.Handle(base+"/{fn}", a.method("GET", a.workOccurrencesView(s.kind)))
		m.Handle(base+"/recurrences", a.methods(route{"GET", a.listWorkRecurrences(s.kind)}, route{"POST", a.createWorkRecurrence(s.kind)}))
		m.Handle(base+"/recurrences/{rid}", a.methods(route{"GET", a.getWorkRecurrence(s.kind)}, route{"PUT", a.replaceWorkRecurrence(s.kind)}, route{"DELETE", a.deleteWorkRecurrence(s.kind)}))
	}
}

// workPlanUser authenticates, resolves the user and authorises op on their
// work plan.
func (a *API) workPlanUser(w http.ResponseWriter, r *http.Request, kind subjectKind, op auth.Operation) (directory.User, bool) {
	u, _, ok := a.mailboxUser(w, r, kind, op)
	return u, ok
}

type workOccurrenceJSON struct {
	Context          string                    `json:"@odata.context,omitempty"`
	ID               string                    `json:"id"`
	RecurrenceID     *string                   `json:"recurrenceId"`
	Start            calendar.DateTimeTimeZone `json:"start"`
	End              calendar.DateTimeTimeZone `json:"end"`
	WorkLocationType string                    `json:"workLocationType"`
	PlaceID          *string                   `json:"placeId"`
	TimeOffDetails   *mailbox.TimeOffDetails   `json:"timeOffDetails"`
}

func workOccurrenceOf(o mailbox.WorkOccurrence) workOccurrenceJSON {
	j := workOccurrenceJSON{ID: o.ID, Start: o.Start, End: o.End, WorkLocationType: o.WorkLocationType, TimeOffDetails: o.TimeOff}
	if o.RecurrenceID != "" {
		rid := o.RecurrenceID
		j.RecurrenceID = &rid
	}
	if o.PlaceID != "" {
		p := o.PlaceID
		j.PlaceID = &p
	}
	return j
}

// decodeWorkOccurrence decodes a workPlanOccurrence strictly (unknown
// properties refused by name). id and recurrenceId are read-only: a PUT may
// repeat the occurrence's own id, and recurrenceId may only be null.
func decodeWorkOccurrence(r *http.Request, limit int64, id string) (mailbox.WorkOccurrenceInput, error) {
	var in mailbox.WorkOccurrenceInput
	body, err := readBody(r, limit)
	if err != nil {
		return in, err
	}
	params := append(workPlanParams(&in, "a workPlanOccurrence", id), param{"recurrenceId", func(json.RawMessage) error {
		return presence.Errorf(presence.Invalid, "recurrenceId", "Property 'recurrenceId' is read-only: only occurrences of a recurrence have one.")
	}})
	return in, decodeBytes(body, "a workPlanOccurrence", false, params)
}

// workPlanParams are the properties occurrences and recurrences share.
func workPlanParams(in *mailbox.WorkOccurrenceInput, what, id string) []param {
	dtz := func(dst **calendar.DateTimeTimeZone, path string) func(json.RawMessage) error {
		return func(raw json.RawMessage) error {
			*dst = new(calendar.DateTimeTimeZone)
			return decodeObject(raw, what, path, []param{{"dateTime", &(*dst).DateTime}, {"timeZone", &(*dst).TimeZone}})
		}
	}
	return []param{
		{"start", dtz(&in.Start, "start.")},
		{"end", dtz(&in.End, "end.")},
		{"workLocationType", &in.WorkLocationType},
		{"placeId", &in.PlaceID},
		{"timeOffDetails", func(raw json.RawMessage) error {
			in.TimeOff = new(mailbox.TimeOffDetails)
			return decodeObject(raw, what, "timeOffDetails.", []param{{"subject", &in.TimeOff.Subject}, {"isAllDay", &in.TimeOff.IsAllDay}})
		}},
		{"id", func(raw json.RawMessage) error {
			var got string
			if json.Unmarshal(raw, &got) != nil || got != id || id == "" {
				return presence.Errorf(presence.Invalid, "id", "Property 'id' is read-only: the server assigns it.")
			}
			return nil
		}},
	}
}

func (a *API) writeWorkOccurrence(w http.ResponseWriter, r *http.Request, u directory.User, status int, o mailbox.WorkOccurrence) {
	j := workOccurrenceOf(o)
	j.Context = a.serviceRoot(r, "/$metadata#users('", u.ID, "')", workPlan, "/occurrences/$entity")
	if status == http.StatusCreated {
		w.Header().Set("Location", a.serviceRoot(r, "/users/", u.ID, workPlan, "/occurrences/", o.ID))
	}
	writeJSON(w, status, j)
}

func (a *API) writeWorkOccurrences(w http.ResponseWriter, r *http.Request, u directory.User, os []mailbox.WorkOccurrence, more bool, skip, top int) {
	out := struct {
		Context  string               `json:"@odata.context"`
		NextLink string               `json:"@odata.nextLink,omitempty"`
		Value    []workOccurrenceJSON `json:"value"`
	}{Context: a.serviceRoot(r, "/$metadata#Collection(microsoft.graph.workPlanOccurrence)"), Value: make([]workOccurrenceJSON, 0, len(os))}
	for _, o := range os {
		out.Value = append(out.Value, workOccurrenceOf(o))
	}
	if more {
		q := r.URL.Query()
		q.Set("$top", strconv.Itoa(top))
		q.Set("$skip", strconv.Itoa(skip+top))
		path := strings.TrimPrefix(strings.TrimPrefix(r.URL.EscapedPath(), "/v1.0"), "/beta")
		out.NextLink = a.serviceRoot(r, path, "?", q.Encode())
	}
	writeJSON(w, http.StatusOK, out)
}

// listWorkOccurrences lists the plan's occurrences, all of them or those
// overlapping startDateTime..endDateTime when both are given.
func (a *API) listWorkOccurrences(kind subjectKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, ok := a.workPlanUser(w, r, kind, auth.ReadWorkPlan)
		if !ok {
			return
		}
		q := r.URL.Query()
		var from, to time.Time
		if q.Has("startDateTime") || q.Has("endDateTime") {
			var err error
			if from, to, err = window(q); err != nil {
				a.writeError(w, r, err)
				return
			}
		}
		a.serveWorkOccurrences(w, r, u, from, to)
	}
}

// workOccurrencesView serves Graph's function
// occurrencesView(startDateTime='…',endDateTime='…').
func (a *API) workOccurrencesView(kind subjectKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		fn := r.PathValue("fn")
		args, ok := strings.CutPrefix(fn, "occurrencesView(")
		if !ok || !strings.HasSuffix(args, ")") {
			a.writeError(w, r, presence.Errorf(presence.NotFound, "", "Resource not found for the segment '%s'.", clip(fn)))
			return
		}
		u, ok := a.workPlanUser(w, r, kind, auth.ReadWorkPlan)
		if !ok {
			return
		}
		q := url.Values{}
		for _, kv := range strings.Split(strings.TrimSuffix(args, ")"), ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
			v = strings.TrimSpace(v)
			if len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' || (k != "startDateTime" && k != "endDateTime") || q.Has(k) {
				a.writeError(w, r, presence.Errorf(presence.Invalid, "", "occurrencesView takes startDateTime='…' and endDateTime='…' (ISO 8601, quoted); got '%s'.", clip(args)))
				return
			}
			q.Set(k, v[1:len(v)-1])
		}
		from, to, err := window(q)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		a.serveWorkOccurrences(w, r, u, from, to)
	}
}

// window reads startDateTime and endDateTime, both required.
func window(q url.Values) (from, to time.Time, err error) {
	if from, err = viewBound(q, "startDateTime"); err != nil {
		return
	}
	if to, err = viewBound(q, "endDateTime"); err != nil {
		return
	}
	if !to.After(from) {
		err = presence.Errorf(presence.Invalid, "endDateTime", "endDateTime must be after startDateTime.")
	}
	return
}

func (a *API) serveWorkOccurrences(w http.ResponseWriter, r *http.Request, u directory.User, from, to time.Time) {
	skip, top, err := paging(r.URL.Query())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	os, more, err := a.mail.WorkOccurrences(r.Context(), ref(u), from, to, skip, top)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeWorkOccurrences(w, r, u, os, more, skip, top)
}

func (a *API) createWorkOccurrence(kind subjectKind) http.HandlerFunc {
	return mailboxCall(a, kind, auth.WriteWorkPlan, func(r *http.Request, u directory.User) (mailbox.WorkOccurrence, error) {
		in, err := decodeWorkOccurrence(r, a.maxBody, "")
		if err != nil {
			return mailbox.WorkOccurrence{}, err
		}
		return a.mail.CreateWorkOccurrence(r.Context(), ref(u), in)
	}, answer(a.writeWorkOccurrence, http.StatusCreated))
}

func (a *API) getWorkOccurrence(kind subjectKind) http.HandlerFunc {
	return mailboxCall(a, kind, auth.ReadWorkPlan, func(r *http.Request, u directory.User) (mailbox.WorkOccurrence, error) {
		return a.mail.WorkOccurrence(r.Context(), ref(u), r.PathValue("oid"))
	}, answer(a.writeWorkOccurrence, http.StatusOK))
}

func (a *API) replaceWorkOccurrence(kind subjectKind) http.HandlerFunc {
	return mailboxCall(a, kind, auth.WriteWorkPlan, func(r *http.Request, u directory.User) (mailbox.WorkOccurrence, error) {
		id := r.PathValue("oid")
		in, err := decodeWorkOccurrence(r, a.maxBody, id)
		if err != nil {
			return mailbox.WorkOccurrence{}, err
		}
		return a.mail.ReplaceWorkOccurrence(r.Context(), ref(u), id, in)
	}, answer(a.writeWorkOccurrence, http.StatusOK))
}

func (a *API) deleteWorkOccurrence(kind subjectKind) http.HandlerFunc {
	return mailboxDelete(a, kind, auth.WriteWorkPlan, "oid", func(r *http.Request, u directory.User, id string) error {
		return a.mail.DeleteWorkOccurrence(r.Context(), ref(u), id)
	})
}
