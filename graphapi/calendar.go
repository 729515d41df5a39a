package graphapi

import (
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

// routeCalendar registers the events, calendarView and mailboxSettings
// routes of one API version under /me and /users/{id}.
func (a *API) routeCalendar(m *http.ServeMux, v string) {
	for _, s := range []struct {
		prefix string
		kind   subjectKind
	}{{v + "/me", subjectMe}, {v + "/users/{id}", subjectUsers}} {
		for _, events := range []string{"/events", "/calendar/events"} {
			m.Handle(s.prefix+events, a.methods(route{"GET", a.listEvents(s.kind)}, route{"POST", a.createEvent(s.kind)}))
			m.Handle(s.prefix+events+"/{eid}", a.methods(route{"GET", a.getEvent(s.kind)}, route{"PATCH", a.updateEvent(s.kind)}, route{"DELETE", a.deleteEvent(s.kind)}))
		}
		for _, view := range []string{"/calendarView", "/calendar/calendarView"} {
			m.Handle(s.prefix+view, a.method("GET", a.calendarView(s.kind)))
		}
		m.Handle(s.prefix+"/mailboxSettings", a.methods(route{"GET", a.getMailboxSettings(s.kind, false)}, route{"PATCH", a.updateMailboxSettings(s.kind)}))
		m.Handle(s.prefix+"/mailboxSettings/automaticRepliesSetting", a.method("GET", a.getMailboxSettings(s.kind, true)))
	}
}

// mailboxUser authenticates, resolves the user and authorises op: the
// calendar of a user of the caller's own tenant only.
func (a *API) mailboxUser(w http.ResponseWriter, r *http.Request, kind subjectKind, op auth.Operation) (directory.User, auth.Principal, bool) {
	p, err := a.principal(r)
	if err != nil {
		a.writeError(w, r, err)
		return directory.User{}, p, false
	}
	u, err := a.subject(r, kind, p)
	if err == nil && !strings.EqualFold(u.TenantID, p.TenantID) {
		err = presence.Errorf(presence.Forbidden, "id", "User '%s' belongs to another tenant: calendars and mailbox settings are never reached across tenants.", clip(r.PathValue("id")))
	}
	if err == nil {
		err = auth.Authorize(p, op, u.ID, kind == subjectMe)
	}
	if err != nil {
		a.writeError(w, r, err)
		return directory.User{}, p, false
	}
	return u, p, true
}

func (a *API) listEvents(kind subjectKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, _, ok := a.mailboxUser(w, r, kind, auth.ReadCalendar)
		if !ok {
			return
		}
		skip, top, err := paging(r.URL.Query())
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		evs, more, err := a.mail.List(r.Context(), ref(u), skip, top)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		a.writeEvents(w, r, u, evs, more, skip, top, "events")
	}
}

func (a *API) calendarView(kind subjectKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, _, ok := a.mailboxUser(w, r, kind, auth.ReadCalendar)
		if !ok {
			return
		}
		q := r.URL.Query()
		from, err := viewBound(q, "startDateTime")
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		to, err := viewBound(q, "endDateTime")
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if !to.After(from) {
			a.writeError(w, r, presence.Errorf(presence.Invalid, "endDateTime", "endDateTime must be after startDateTime."))
			return
		}
		skip, top, err := paging(q)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		evs, more, err := a.mail.View(r.Context(), ref(u), from, to, skip, top)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		a.writeEvents(w, r, u, evs, more, skip, top, "calendarView")
	}
}

// viewBound reads calendarView's startDateTime or endDateTime: ISO 8601
// with an offset, or without one (then UTC, as Graph reads it).
func viewBound(q url.Values, name string) (time.Time, error) {
	s := q.Get(name)
	if s == "" {
		return time.Time{}, presence.Errorf(presence.Invalid, name, "This request requires a time window specified by the query string parameters startDateTime and endDateTime (ISO 8601, e.g. 2026-03-02T00:00:00Z).")
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			if y := t.Year(); y >= calendar.MinYear && y <= calendar.MaxYear {
				return t, nil
			}
		}
	}
	return time.Time{}, presence.Errorf(presence.Invalid, name, "%s '%s' is not an ISO 8601 date-time (e.g. 2026-03-02T00:00:00Z or 2026-03-02T00:00:00-08:00) in the years %d-%d.", name, clip(s), calendar.MinYear, calendar.MaxYear)
}

// paging reads $top (1..1000, default 10, Graph's page size for events)
// and $skip.
func paging(q url.Values) (skip, top int, err error) {
	top = 10
	if s := q.Get("$top"); s != "" {
		if top, err = strconv.Atoi(s); err != nil || top < 1 || top > mailbox.MaxPage {
			return 0, 0, presence.Errorf(presence.Invalid, "$top", "$top must be a whole number between 1 and %d.", mailbox.MaxPage)
		}
	}
	if s := q.Get("$skip"); s != "" {
		if skip, err = strconv.Atoi(s); err != nil || skip < 0 || skip > mailbox.MaxSkip {
			return 0, 0, presence.Errorf(presence.Invalid, "$skip", "$skip must be a whole number between 0 and %d.", mailbox.MaxSkip)
		}
	}
	return skip, top, nil
}

func (a *API) createEvent(kind subjectKind) http.HandlerFunc {
	return mailboxCall(a, kind, auth.WriteCalendar, func(r *http.Request, u directory.User) (mailbox.Shown, error) {
		in, err := decodeEvent(r, a.maxBody, true)
		if err != nil {
			return mailbox.Shown{}, err
		}
		ev, err := a.mail.Create(r.Context(), ref(u), in)
		if err != nil {
			return mailbox.Shown{}, err
		}
		return shownOf(ev), nil
	}, answer(a.writeEvent, http.StatusCreated))
}

func shownOf(ev mailbox.Event) mailbox.Shown {
	s := mailbox.Shown{Event: ev, Type: calendar.SingleInstance}
	s.Start, _, _ = calendar.ParseDateTime(ev.Start, "start")
	s.End, _, _ = calendar.ParseDateTime(ev.End, "end")
	if ev.Recurrence != nil {
		s.Type = calendar.SeriesMaster
	}
	return s
}

func (a *API) getEvent(kind subjectKind) http.HandlerFunc {
	return mailboxCall(a, kind, auth.ReadCalendar, func(r *http.Request, u directory.User) (mailbox.Shown, error) {
		return a.mail.Get(r.Context(), ref(u), r.PathValue("eid"))
	}, answer(a.writeEvent, http.StatusOK))
}

func (a *API) updateEvent(kind subjectKind) http.HandlerFunc {
	return mailboxCall(a, kind, auth.WriteCalendar, func(r *http.Request, u directory.User) (mailbox.Shown, error) {
		in, err := decodeEvent(r, a.maxBody, false)
		if err != nil {
			return mailbox.Shown{}, err
		}
		return a.mail.Update(r.Context(), ref(u), r.PathValue("eid"), in)
	}, answer(a.writeEvent, http.StatusOK))
}

func (a *API) deleteEvent(kind subjectKind) http.HandlerFunc {
	return mailboxDelete(a, kind, auth.WriteCalendar, "eid", func(r *http.Request, u directory.User, id string) error {
		return a.mail.Delete(r.Context(), ref(u), id)
	})
}

func (a *API) getMailboxSettings(kind subjectKind, repliesOnly bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, _, ok := a.mailboxUser(w, r, kind, auth.ReadMailboxSettings)
		if !ok {
			return
		}
		s, err := a.mail.Settings(r.Context(), ref(u))
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if repliesOnly {
			writeJSON(w, http.StatusOK, repliesJSON(a.serviceRoot(r, "/$metadata#users('", u.ID, "')/mailboxSettings/automaticRepliesSetting"), s.AutomaticRepliesSetting))
			return
		}
		writeJSON(w, http.StatusOK, settingsJSON(a.serviceRoot(r, "/$metadata#users('", u.ID, "')/mailboxSettings"), s))
	}
}

func (a *API) updateMailboxSettings(kind subjectKind) http.HandlerFunc {
	return mailboxCall(a, kind, auth.WriteMailboxSettings, func(r *http.Request, u directory.User) (mailbox.Settings, error) {
		in, err := decodeSettings(r, a.maxBody)
		if err != nil {
			return mailbox.Settings{}, err
		}
		return a.mail.UpdateSettings(r.Context(), ref(u), in)
	}, func(w http.ResponseWriter, r *http.Request, u directory.User, s mailbox.Settings) {
		writeJSON(w, http.StatusOK, settingsJSON(a.serviceRoot(r, "/$metadata#users('", u.ID, "')/mailboxSettings"), s))
	})
}
