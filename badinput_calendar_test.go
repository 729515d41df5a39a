package presenced_test

import (
	"strings"
	"testing"
)

// TestBadCalendarInputIsRejectedAndWritesNothing sends bad event and
// mailbox-settings requests and checks the Graph error, and that neither
// the calendar, the settings nor the presence changed.
func TestBadCalendarInputIsRejectedAndWritesNothing(t *testing.T) {
	e := start(t)
	app := e.appToken()
	adele, alex := e.user("adele"), e.user("alex")
	base := "/v1.0/users/" + adele
	rec := map[string]any{"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []string{"monday"}},
		"range": map[string]any{"type": "noEnd", "startDate": "2026-11-30"}}
	series := e.createEvent(adele, event("Sync", "2026-11-30T10:00:00", "2026-11-30T10:30:00", "UTC", map[string]any{"recurrence": rec})).str("id")
	if r := e.call("PATCH", base+"/mailboxSettings", app, map[string]any{"automaticRepliesSetting": map[string]any{"status": "alwaysEnabled", "internalReplyMessage": "away"}}); r.status != 200 {
		t.Fatalf("settings: %d %s", r.status, r.raw)
	}
	ev := func(mod func(map[string]any)) map[string]any {
		m := event("Review", "2026-11-25T10:00:00", "2026-11-25T10:30:00", "UTC", nil)
		mod(m)
		return m
	}
	dtz := func(dt, zone string) map[string]any { return map[string]any{"dateTime": dt, "timeZone": zone} }
	replies := func(m map[string]any) map[string]any { return map[string]any{"automaticRepliesSetting": m} }
	readOnly := e.userToken("adele", "Presence.Read")
	presenceOnly := e.userToken("adele", "Presence.ReadWrite")

	cases := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
		msg                       string
	}{
		{"end before start", "POST", base + "/events", app, ev(func(m map[string]any) { m["end"] = dtz("2026-11-25T09:00:00", "UTC") }), 400, "invalidRequest", "before start"},
		{"unknown time zone", "POST", base + "/events", app, ev(func(m map[string]any) { m["start"] = dtz("2026-11-25T10:00:00", "Mars Standard Time") }), 400, "invalidRequest", "Mars Standard Time"},
		{"bad showAs", "POST", base + "/events", app, ev(func(m map[string]any) { m["showAs"] = "sleeping" }), 400, "invalidRequest", "showAs 'sleeping'"},
		{"dateTime with an offset", "POST", base + "/events", app, ev(func(m map[string]any) { m["start"] = dtz("2026-11-25T10:00:00+01:00", "UTC") }), 400, "invalidRequest", "offset"},
		{"dateTime that does not exist", "POST", base + "/events", app, ev(func(m map[string]any) { m["start"] = dtz("2026-02-30T10:00:00", "UTC") }), 400, "invalidRequest", "start.dateTime"},
		{"missing start", "POST", base + "/events", app, ev(func(m map[string]any) { delete(m, "start") }), 400, "invalidRequest", "start is required"},
		{"all-day not at midnight", "POST", base + "/events", app, ev(func(m map[string]any) { m["isAllDay"] = true }), 400, "invalidRequest", "midnight"},
		{"pattern that does not fit its type", "POST", base + "/events", app, ev(func(m map[string]any) {
			m["recurrence"] = map[string]any{"pattern": map[string]any{"type": "daily", "interval": 1, "daysOfWeek": []string{"monday"}}, "range": map[string]any{"type": "noEnd", "startDate": "2026-11-25"}}
		}), 400, "invalidRequest", "daysOfWeek does not apply to a daily pattern"},
		{"weekly pattern without days", "POST", base + "/events", app, ev(func(m map[string]any) {
			m["recurrence"] = map[string]any{"pattern": map[string]any{"type": "weekly", "interval": 1}, "range": map[string]any{"type": "noEnd", "startDate": "2026-11-25"}}
		}), 400, "invalidRequest", "daysOfWeek"},
		{"numbered range without a count", "POST", base + "/events", app, ev(func(m map[string]any) {
			m["recurrence"] = map[string]any{"pattern": map[string]any{"type": "daily", "interval": 1}, "range": map[string]any{"type": "numbered", "startDate": "2026-11-25"}}
		}), 400, "invalidRequest", "numberOfOccurrences"},
		{"unknown nested property", "POST", base + "/events", app, ev(func(m map[string]any) {
			m["recurrence"] = map[string]any{"pattern": map[string]any{"type": "daily", "interval": 1, "colour": "red"}, "range": map[string]any{"type": "noEnd", "startDate": "2026-11-25"}}
		}), 400, "invalidRequest", "recurrence.pattern.colour"},
		{"unknown property", "POST", base + "/events", app, ev(func(m map[string]any) { m["subjekt"] = "x" }), 400, "invalidRequest", "subjekt"},
		{"duplicate property", "POST", base + "/events", app, `{"subject":"a","subject":"b","start":{"dateTime":"2026-11-25T10:00:00","timeZone":"UTC"},"end":{"dateTime":"2026-11-25T10:30:00","timeZone":"UTC"}}`, 400, "invalidRequest", "twice"},
		{"body content over its limit", "POST", base + "/events", app, ev(func(m map[string]any) {
			m["body"] = map[string]any{"contentType": "text", "content": strings.Repeat("x", 64<<10+1)}
		}), 400, "invalidRequest", "body.content"},
		{"request body over the size limit", "POST", base + "/events", app, ev(func(m map[string]any) { m["body"] = map[string]any{"content": strings.Repeat("x", 200<<10)} }), 413, "requestEntityTooLarge", "limit"},
		{"too many attendees", "POST", base + "/events", app, ev(func(m map[string]any) {
			as := make([]map[string]any, 501)
			for i := range as {
				as[i] = map[string]any{"emailAddress": map[string]any{"address": "a@contoso.dev"}}
			}
			m["attendees"] = as
		}), 400, "invalidRequest", "500 attendees"},
		{"PATCH end before start", "PATCH", base + "/events/" + series, app, map[string]any{"end": dtz("2026-11-30T09:00:00", "UTC")}, 400, "invalidRequest", "before start"},
		{"PATCH one occurrence's recurrence", "PATCH", base + "/events/" + series + "_20261207", app, map[string]any{"isAllDay": true}, 400, "invalidRequest", "one occurrence"},
		{"an occurrence that is not one", "DELETE", base + "/events/" + series + "_20261208", app, nil, 404, "itemNotFound", series + "_20261208"},
		{"unknown event", "GET", base + "/events/nothing", app, nil, 404, "itemNotFound", "nothing"},
		{"calendarView without a window", "GET", base + "/calendarView", app, nil, 400, "invalidRequest", "startDateTime and endDateTime"},
		{"calendarView ending before it starts", "GET", base + "/calendarView?startDateTime=2026-11-26T00:00:00Z&endDateTime=2026-11-25T00:00:00Z", app, nil, 400, "invalidRequest", "after startDateTime"},
		{"$top out of range", "GET", base + "/events?$top=0", app, nil, 400, "invalidRequest", "$top"},
		{"scheduled replies without a window", "PATCH", base + "/mailboxSettings", app, replies(map[string]any{"status": "scheduled"}), 400, "invalidRequest", "scheduledStartDateTime and scheduledEndDateTime"},
		{"scheduled replies ending before they start", "PATCH", base + "/mailboxSettings", app, replies(map[string]any{"status": "scheduled",
			"scheduledStartDateTime": dtz("2026-11-26T10:00:00", "UTC"), "scheduledEndDateTime": dtz("2026-11-26T09:00:00", "UTC")}), 400, "invalidRequest", "after scheduledStartDateTime"},
		{"unknown replies status", "PATCH", base + "/mailboxSettings", app, replies(map[string]any{"status": "sometimes"}), 400, "invalidRequest", "sometimes"},
		{"unknown audience", "PATCH", base + "/mailboxSettings", app, replies(map[string]any{"externalAudience": "everyone"}), 400, "invalidRequest", "everyone"},
		{"reply message over its limit", "PATCH", base + "/mailboxSettings", app, replies(map[string]any{"internalReplyMessage": strings.Repeat("x", 8<<10+1)}), 400, "invalidRequest", "internalReplyMessage"},
		{"unknown mailbox time zone", "PATCH", base + "/mailboxSettings", app, map[string]any{"timeZone": "Atlantis"}, 400, "invalidRequest", "Atlantis"},
		{"mailbox setting presenced does not keep", "PATCH", base + "/mailboxSettings", app, map[string]any{"language": map[string]any{"locale": "fr-FR"}}, 400, "invalidRequest", "language"},
		{"working hours ending before they start", "PATCH", base + "/mailboxSettings", app, map[string]any{"workingHours": map[string]any{"daysOfWeek": []string{"monday"}, "startTime": "17:00:00", "endTime": "08:00:00"}}, 400, "invalidRequest", "endTime"},
		{"delegated: another user's calendar", "GET", "/v1.0/users/" + alex + "/events", e.userToken("adele", ""), nil, 403, "accessDenied", "own user's calendar"},
		{"delegated: read-only scope writes", "POST", "/v1.0/me/events", readOnly, ev(func(map[string]any) {}), 403, "accessDenied", "Calendars.ReadWrite"},
		{"delegated: no calendar scope", "GET", "/v1.0/me/calendarView?startDateTime=2026-11-25T00:00:00Z&endDateTime=2026-11-26T00:00:00Z", presenceOnly, nil, 403, "accessDenied", "Calendars.Read"},
		{"delegated: no mailbox scope", "GET", "/v1.0/me/mailboxSettings", presenceOnly, nil, 403, "accessDenied", "MailboxSettings.Read"},
		{"/me with an app token", "GET", "/v1.0/me/events", app, nil, 400, "invalidRequest", "signed-in user"},
	}
	snapshot := func() string {
		return string(e.call("GET", base+"/events?$top=100", app, nil).raw) + string(e.call("GET", base+"/mailboxSettings", app, nil).raw) + string(e.get(app, adele).raw)
	}
	want := snapshot()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.call(c.method, c.path, c.token, c.body)
			if r.status != c.status || r.errCode() != c.code {
				t.Fatalf("got %d %q, want %d %q: %.300s", r.status, r.errCode(), c.status, c.code, r.raw)
			}
			if !strings.Contains(r.errMessage(), c.msg) {
				t.Errorf("message %q does not mention %q", r.errMessage(), c.msg)
			}
			if got := snapshot(); got != want {
				t.Fatalf("a rejected request changed the calendar:\nbefore %s\nafter  %s", want, got)
			}
		})
	}
}
