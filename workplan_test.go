package presenced_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func occurrence(typ, start, end string, extra map[string]any) map[string]any {
	m := map[string]any{"workLocationType": typ,
		"start": map[string]any{"dateTime": start, "timeZone": "UTC"}, "end": map[string]any{"dateTime": end, "timeZone": "UTC"}}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// The work plan end to end, with the dev clock: an occurrence written
// through Graph's workHoursAndLocations API is presence's scheduled layer
// while it lasts (manual and automatic still win), and at its end the work
// location falls back by time alone, the sequenceNumber moves and watchers
// hear it.
func TestWorkPlanFeedsTheScheduledLayer(t *testing.T) {
	e := start(t) // t0 is 2026-11-25 09:00 UTC
	app := e.appToken()
	adele := e.user("adele")
	me := e.userToken("adele", "")
	plan := "/beta/me/settings/workHoursAndLocations/occurrences"
	ch, closeStream := e.openStream(t, app, "ids="+adele, "")
	defer closeStream()
	nextEvent(t, ch) // the initial state

	r := e.call("POST", plan, me, occurrence("office", "2026-11-25T09:10:00", "2026-11-25T09:40:00", map[string]any{"placeId": "bldg-7"}))
	if r.status != http.StatusCreated || r.str("workLocationType") != "office" || r.str("placeId") != "bldg-7" || r.body["recurrenceId"] != nil || r.header.Get("Location") == "" {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id := r.str("id")
	before := e.get(app, adele)
	if got := workLocation(before); got != "unspecified/none/" {
		t.Fatalf("before the occurrence: %s", got)
	}
	// Read back where Graph serves it: by id, listed, in occurrencesView,
	// under /users/{upn} and in v1.0.
	if g := e.call("GET", "/v1.0/users/adele@contoso.dev/settings/workHoursAndLocations/occurrences/"+id, me, nil); g.status != 200 || g.str("placeId") != "bldg-7" {
		t.Errorf("get by id: %d %s", g.status, g.raw)
	}
	view := "/beta/me/settings/workHoursAndLocations/occurrencesView(startDateTime='2026-11-25T09:30:00Z',endDateTime='2026-11-25T10:00:00Z')"
	if g := e.call("GET", view, me, nil); g.status != 200 || len(g.body["value"].([]any)) != 1 {
		t.Errorf("occurrencesView: %d %s", g.status, g.raw)
	}
	if g := e.call("GET", plan+"?startDateTime=2026-11-25T09:40:00Z&endDateTime=2026-11-25T10:00:00Z", me, nil); g.status != 200 || len(g.body["value"].([]any)) != 0 {
		t.Errorf("list of a window after it: %d %s", g.status, g.raw)
	}

	e.call("POST", "/dev/clock/advance?by=PT10M", "", nil) // 09:10: it starts
	during := e.get(app, adele)
	if got := workLocation(during); got != "office/scheduled/bldg-7" || during.str("sequenceNumber") <= before.str("sequenceNumber") {
		t.Fatalf("during the occurrence: %s, sequenceNumber %s after %s", got, during.str("sequenceNumber"), before.str("sequenceNumber"))
	}
	if ev := nextEvent(t, ch); ev.data["workLocation"].(map[string]any)["source"] != "scheduled" {
		t.Errorf("no event at the occurrence's start: %+v", ev)
	}
	// Manual beats scheduled; cleared, the scheduled layer shows again.
	e.must("POST", "/v1.0/me/presence/setManualLocation", me, map[string]any{"workLocationType": "remote"})
	if got := workLocation(e.get(app, adele)); got != "remote/manual/" {
		t.Errorf("manual over scheduled: %s", got)
	}
	nextEvent(t, ch)
	e.must("POST", "/v1.0/users/"+adele+"/presence/setAutomaticLocation", app, map[string]any{"workLocationType": "remote"})
	e.call("POST", "/v1.0/me/presence/clearLocation", me, nil)
	if got := workLocation(e.get(app, adele)); got != "office/scheduled/bldg-7" {
		t.Errorf("after clearLocation: %s", got)
	}
	nextEvent(t, ch)

	// PUT replaces it whole: now remote, until 09:30.
	r = e.call("PUT", plan+"/"+id, me, occurrence("remote", "2026-11-25T09:10:00", "2026-11-25T09:30:00", map[string]any{"id": id}))
	if r.status != 200 || r.str("workLocationType") != "remote" || r.body["placeId"] != nil {
		t.Fatalf("put: %d %s", r.status, r.raw)
	}
	changed := e.get(app, adele)
	if got := workLocation(changed); got != "remote/scheduled/" {
		t.Errorf("after PUT: %s", got)
	}
	nextEvent(t, ch)

	e.call("POST", "/dev/clock/advance?by=PT19M59S", "", nil)
	if got := workLocation(e.get(app, adele)); got != "remote/scheduled/" {
		t.Errorf("a second before its end: %s", got)
	}
	e.call("POST", "/dev/clock/advance?by=PT1S", "", nil) // 09:30: it ends
	after := e.get(app, adele)
	if got := workLocation(after); got != "unspecified/none/" || after.str("sequenceNumber") <= changed.str("sequenceNumber") {
		t.Errorf("at its end: %s, sequenceNumber %s after %s", got, after.str("sequenceNumber"), changed.str("sequenceNumber"))
	}
	if ev := nextEvent(t, ch); ev.data["workLocation"].(map[string]any)["source"] != "none" {
		t.Errorf("no event at the occurrence's end: %+v", ev)
	}

	// A time-off occurrence now, then deleted: the layer empties at once.
	r = e.call("POST", "/v1.0/users/"+adele+"/settings/workHoursAndLocations/occurrences", me,
		occurrence("timeOff", "2026-11-25T09:00:00", "2026-11-26T00:00:00", map[string]any{"timeOffDetails": map[string]any{"subject": "Dentist", "isAllDay": false}}))
	if r.status != 201 || r.body["timeOffDetails"].(map[string]any)["subject"] != "Dentist" {
		t.Fatalf("create time off: %d %s", r.status, r.raw)
	}
	if got := workLocation(e.get(app, adele)); got != "timeOff/scheduled/" {
		t.Errorf("time off: %s", got)
	}
	if d := e.call("DELETE", plan+"/"+r.str("id"), me, nil); d.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", d.status, d.raw)
	}
	if got := workLocation(e.get(app, adele)); got != "unspecified/none/" {
		t.Errorf("after delete: %s", got)
	}
	if g := e.call("GET", plan, me, nil); g.status != 200 || len(g.body["value"].([]any)) != 1 {
		t.Errorf("list: %d %s", g.status, g.raw)
	}
}

// The work plan's bad input and permissions: Graph's errors, nothing
// written.
func TestWorkPlanRejects(t *testing.T) {
	e := start(t)
	app := e.appToken()
	adele, alex := e.user("adele"), e.user("alex")
	me := e.userToken("adele", "")
	plan := "/beta/me/settings/workHoursAndLocations/occurrences"
	id := e.call("POST", plan, me, occurrence("office", "2026-11-26T09:00:00", "2026-11-26T17:00:00", nil)).str("id")
	if id == "" {
		t.Fatal("no occurrence created")
	}
	ok := func(mod func(map[string]any)) map[string]any {
		m := occurrence("office", "2026-11-25T10:00:00", "2026-11-25T12:00:00", nil)
		mod(m)
		return m
	}
	dtz := func(dt string) map[string]any { return map[string]any{"dateTime": dt, "timeZone": "UTC"} }
	readOnly := e.userToken("adele", "Presence.Read") // the demo client has no Calendars.Read consented
	presenceOnly := e.userToken("adele", "Presence.ReadWrite")
	cases := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code, msg                 string
	}{
		{"malformed JSON", "POST", plan, me, `{"workLocationType":`, 400, "UnableToDeserializePostBody", "ends early"},
		{"empty body", "POST", plan, me, nil, 400, "invalidRequest", "empty"},
		{"unknown property", "POST", plan, me, ok(func(m map[string]any) { m["colour"] = "red" }), 400, "invalidRequest", "colour"},
		{"end before start", "POST", plan, me, ok(func(m map[string]any) { m["end"] = dtz("2026-11-25T09:00:00") }), 400, "invalidRequest", "after its start"},
		{"missing end", "POST", plan, me, ok(func(m map[string]any) { delete(m, "end") }), 400, "invalidRequest", "end is required"},
		{"unknown workLocationType", "POST", plan, me, ok(func(m map[string]any) { m["workLocationType"] = "beach" }), 400, "invalidRequest", "beach"},
		{"unspecified workLocationType", "POST", plan, me, ok(func(m map[string]any) { m["workLocationType"] = "unspecified" }), 400, "invalidRequest", "unspecified"},
		{"missing workLocationType", "POST", plan, me, ok(func(m map[string]any) { delete(m, "workLocationType") }), 400, "invalidRequest", "workLocationType is required"},
		{"unknown time zone", "POST", plan, me, ok(func(m map[string]any) {
			m["start"] = map[string]any{"dateTime": "2026-11-25T10:00:00", "timeZone": "Mars"}
		}), 400, "invalidRequest", "Mars"},
		{"placeId on remote", "POST", plan, me, ok(func(m map[string]any) { m["workLocationType"], m["placeId"] = "remote", "x" }), 400, "invalidRequest", "office"},
		{"placeId too long", "POST", plan, me, ok(func(m map[string]any) { m["placeId"] = strings.Repeat("p", 257) }), 400, "invalidRequest", "256"},
		{"timeOffDetails on office", "POST", plan, me, ok(func(m map[string]any) { m["timeOffDetails"] = map[string]any{"subject": "x"} }), 400, "invalidRequest", "timeOff"},
		{"subject too long", "POST", plan, me, ok(func(m map[string]any) {
			m["workLocationType"], m["timeOffDetails"] = "timeOff", map[string]any{"subject": strings.Repeat("s", 256)}
		}), 400, "invalidRequest", "255"},
		{"longer than 92 days", "POST", plan, me, ok(func(m map[string]any) { m["end"] = dtz("2027-03-01T00:00:00") }), 400, "invalidRequest", "92 days"},
		{"year out of range", "POST", plan, me, ok(func(m map[string]any) { m["end"] = dtz("99999-01-01T00:00:00") }), 400, "invalidRequest", "end"},
		{"id given on create", "POST", plan, me, ok(func(m map[string]any) { m["id"] = "mine" }), 400, "invalidRequest", "read-only"},
		{"recurrenceId given", "PUT", plan + "/" + id, me, ok(func(m map[string]any) { m["recurrenceId"] = "r1" }), 400, "invalidRequest", "recurrenceId"},
		{"request body over the size limit", "POST", plan, me, ok(func(m map[string]any) { m["placeId"] = strings.Repeat("x", 200<<10) }), 413, "requestEntityTooLarge", "limit"},
		{"PUT of an unknown occurrence", "PUT", plan + "/nothing", me, ok(func(map[string]any) {}), 404, "itemNotFound", "nothing"},
		{"PUT missing start", "PUT", plan + "/" + id, me, ok(func(m map[string]any) { delete(m, "start") }), 400, "invalidRequest", "start is required"},
		{"PATCH is not supported", "PATCH", plan + "/" + id, me, map[string]any{"workLocationType": "remote"}, 405, "", ""},
		{"GET an unknown occurrence", "GET", plan + "/nothing", me, nil, 404, "itemNotFound", "nothing"},
		{"DELETE an unknown occurrence", "DELETE", plan + "/nothing", me, nil, 404, "itemNotFound", "nothing"},
		{"occurrencesView without a window", "GET", "/beta/me/settings/workHoursAndLocations/occurrencesView()", me, nil, 400, "invalidRequest", ""},
		{"occurrencesView ending before it starts", "GET", "/beta/me/settings/workHoursAndLocations/" + url.PathEscape("occurrencesView(startDateTime='2026-11-26T00:00:00Z',endDateTime='2026-11-25T00:00:00Z')"), me, nil, 400, "invalidRequest", "after startDateTime"},
		{"list with half a window", "GET", plan + "?startDateTime=2026-11-25T00:00:00Z", me, nil, 400, "invalidRequest", "endDateTime"},
		{"unknown function", "GET", "/beta/me/settings/workHoursAndLocations/occurrencesNow()", me, nil, 404, "itemNotFound", "occurrencesNow"},
		{"delegated: another user's plan", "POST", "/beta/users/" + alex + "/settings/workHoursAndLocations/occurrences", me, ok(func(map[string]any) {}), 403, "accessDenied", "own user's work plan"},
		{"delegated: no calendar scope writes", "POST", plan, readOnly, ok(func(map[string]any) {}), 403, "accessDenied", "Calendars.ReadWrite"},
		{"delegated: no calendar scope reads", "GET", plan, presenceOnly, nil, 403, "accessDenied", "Calendars.Read"},
		{"application token", "POST", "/beta/users/" + adele + "/settings/workHoursAndLocations/occurrences", app, ok(func(map[string]any) {}), 403, "accessDenied", "Application permissions are not supported"},
		{"/me with an app token", "GET", plan, app, nil, 400, "invalidRequest", "signed-in user"},
		{"no token", "GET", plan, "", nil, 401, "InvalidAuthenticationToken", ""},
	}
	snapshot := func() string {
		return string(e.call("GET", plan+"?$top=100", me, nil).raw) + string(e.get(app, adele).raw)
	}
	want := snapshot()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.call(c.method, c.path, c.token, c.body)
			if r.status != c.status || (c.code != "" && r.errCode() != c.code) {
				t.Fatalf("got %d %q, want %d %q: %.300s", r.status, r.errCode(), c.status, c.code, r.raw)
			}
			if !strings.Contains(r.errMessage(), c.msg) {
				t.Errorf("message %q does not mention %q", r.errMessage(), c.msg)
			}
			if got := snapshot(); got != want {
				t.Fatalf("a rejected request changed the work plan:\nbefore %s\nafter  %s", want, got)
			}
		})
	}
}

// A weekly recurrence feeds the scheduled layer every week, expanded like
// an event series; an occurrence over one of its days takes precedence;
// the occurrences view lists the generated occurrences with their
// recurrenceId.
func TestWorkPlanRecurrence(t *testing.T) {
	e := start(t) // t0 is Wednesday 2026-11-25 09:00 UTC
	app := e.appToken()
	adele := e.user("adele")
	me := e.userToken("adele", "")
	base := "/v1.0/me/settings/workHoursAndLocations"
	weekly := map[string]any{"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []string{"wednesday", "thursday"}},
		"range": map[string]any{"type": "noEnd", "startDate": "2026-11-25", "recurrenceTimeZone": "Pacific Standard Time"}}
	// 01:00-10:00 in Los Angeles is 09:00-18:00 UTC in November.
	rec := map[string]any{"workLocationType": "office", "placeId": "hq", "recurrence": weekly,
		"start": map[string]any{"dateTime": "2026-11-25T01:00:00", "timeZone": "Pacific Standard Time"},
		"end":   map[string]any{"dateTime": "2026-11-25T10:00:00", "timeZone": "Pacific Standard Time"}}
	r := e.call("POST", base+"/recurrences", me, rec)
	if r.status != 201 || r.str("placeId") != "hq" {
		t.Fatalf("create recurrence: %d %s", r.status, r.raw)
	}
	rid := r.str("id")
	if got := workLocation(e.get(app, adele)); got != "office/scheduled/hq" {
		t.Fatalf("Wednesday 09:00 UTC: %s", got)
	}
	// Thursday is time off: the occurrence takes precedence over the
	// recurrence's Thursday.
	if r := e.call("POST", base+"/occurrences", me, occurrence("timeOff", "2026-11-26T00:00:00", "2026-11-27T00:00:00", nil)); r.status != 201 {
		t.Fatalf("time off: %d %s", r.status, r.raw)
	}
	view := e.call("GET", base+"/occurrencesView(startDateTime='2026-11-25T00:00:00Z',endDateTime='2026-12-03T00:00:00Z')?$top=20", me, nil)
	var got []string
	for _, v := range view.body["value"].([]any) {
		o := v.(map[string]any)
		rid, _ := o["recurrenceId"].(string)
		got = append(got, o["start"].(map[string]any)["dateTime"].(string)[:10]+" "+o["workLocationType"].(string)+" "+map[bool]string{true: "generated", false: "stored"}[rid != ""])
	}
	want := "2026-11-25 office generated|2026-11-26 timeOff stored|2026-12-02 office generated"
	if strings.Join(got, "|") != want {
		t.Errorf("occurrencesView:\n got %s\nwant %s", strings.Join(got, "|"), want)
	}

	before := e.get(app, adele)
	e.call("POST", "/dev/clock/advance?by=PT9H", "", nil) // 18:00 UTC: the Wednesday's ends
	app = e.appToken()
	after := e.get(app, adele)
	if got := workLocation(after); got != "unspecified/none/" || after.str("sequenceNumber") <= before.str("sequenceNumber") {
		t.Errorf("Wednesday 18:00 UTC: %s, sequenceNumber %s after %s", got, after.str("sequenceNumber"), before.str("sequenceNumber"))
	}
	e.call("POST", "/dev/clock/advance?by=PT15H", "", nil) // Thursday 09:00 UTC
	app = e.appToken()
	if got := workLocation(e.get(app, adele)); got != "timeOff/scheduled/" {
		t.Errorf("Thursday (time off over the recurrence): %s", got)
	}
	// A week later, past the first window: the refresher extends it. It
	// runs when the jump wakes it, beside the clock's answer, so the read
	// waits for it (as calWatch.to does) within a bound.
	e.call("POST", "/dev/clock/advance?by=P6D", "", nil) // Wednesday 2026-12-02 09:00 UTC
	app, me = e.appToken(), e.userToken("adele", "")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got := workLocation(e.get(app, adele))
		if got == "office/scheduled/hq" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the next Wednesday, 10 s after the jump: %s", got)
		}
	}
	// PUT replaces the recurrence: remote now; DELETE removes it.
	rec["workLocationType"], rec["placeId"] = "remote", nil
	if r := e.call("PUT", base+"/recurrences/"+rid, me, rec); r.status != 200 || r.str("workLocationType") != "remote" {
		t.Fatalf("put recurrence: %d %s", r.status, r.raw)
	}
	if got := workLocation(e.get(app, adele)); got != "remote/scheduled/" {
		t.Errorf("after PUT: %s", got)
	}
	if r := e.call("DELETE", base+"/recurrences/"+rid, me, nil); r.status != 204 {
		t.Fatalf("delete recurrence: %d %s", r.status, r.raw)
	}
	if got := workLocation(e.get(app, adele)); got != "unspecified/none/" {
		t.Errorf("after DELETE: %s", got)
	}
	if r := e.call("GET", base+"/recurrences", me, nil); r.status != 200 || len(r.body["value"].([]any)) != 0 {
		t.Errorf("list after delete: %d %s", r.status, r.raw)
	}

	// Bad recurrences: Graph's errors, nothing written.
	bad := func(mod func(map[string]any)) map[string]any {
		m := map[string]any{}
		for k, v := range rec {
			m[k] = v
		}
		m["workLocationType"] = "office"
		mod(m)
		return m
	}
	for _, c := range []struct {
		name string
		body map[string]any
		msg  string
	}{
		{"time off", bad(func(m map[string]any) { m["workLocationType"] = "timeOff" }), "Time off cannot recur"},
		{"daily", bad(func(m map[string]any) {
			m["recurrence"] = map[string]any{"pattern": map[string]any{"type": "daily", "interval": 1}, "range": map[string]any{"type": "noEnd", "startDate": "2026-11-25"}}
		}), "weekly"},
		{"weekly without days", bad(func(m map[string]any) {
			m["recurrence"] = map[string]any{"pattern": map[string]any{"type": "weekly", "interval": 1}, "range": map[string]any{"type": "noEnd", "startDate": "2026-11-25"}}
		}), "daysOfWeek"},
		{"missing recurrence", bad(func(m map[string]any) { delete(m, "recurrence") }), "recurrence is required"},
		{"longer than a day", bad(func(m map[string]any) {
			m["end"] = map[string]any{"dateTime": "2026-11-26T10:00:00", "timeZone": "Pacific Standard Time"}
		}), "24 hours"},
		{"unknown pattern property", bad(func(m map[string]any) {
			m["recurrence"] = map[string]any{"pattern": map[string]any{"type": "weekly", "interval": 1, "colour": "red"}, "range": map[string]any{"type": "noEnd", "startDate": "2026-11-25"}}
		}), "recurrence.pattern.colour"},
	} {
		if r := e.call("POST", base+"/recurrences", me, c.body); r.status != 400 || r.errCode() != "invalidRequest" || !strings.Contains(r.errMessage(), c.msg) {
			t.Errorf("%s: %d %s", c.name, r.status, r.raw)
		}
	}
	if r := e.call("POST", "/v1.0/users/"+adele+"/settings/workHoursAndLocations/recurrences", app, rec); r.status != 403 {
		t.Errorf("app token: %d %s", r.status, r.raw)
	}
	if r := e.call("PATCH", base+"/recurrences/nothing", me, rec); r.status != 405 {
		t.Errorf("PATCH: %d %s", r.status, r.raw)
	}
	if r := e.call("GET", base+"/recurrences", me, nil); r.status != 200 || len(r.body["value"].([]any)) != 0 {
		t.Errorf("a rejected recurrence was written: %s", r.raw)
	}
}
