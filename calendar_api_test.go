package presenced_test

import (
	"strings"
	"testing"
)

// TestEventsAsGraphShowsThem checks the shapes: a series master in
// /events, its occurrences in /calendarView (type, seriesMasterId,
// occurrence ids), an edited occurrence as an exception, times in the
// Prefer: outlook.timezone zone, and paging with @odata.nextLink.
func TestEventsAsGraphShowsThem(t *testing.T) {
	e := start(t)
	app := e.appToken()
	alex := e.user("alex")
	base := "/v1.0/users/" + alex
	rec := map[string]any{"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []string{"monday", "wednesday"}},
		"range": map[string]any{"type": "numbered", "startDate": "2026-11-30", "numberOfOccurrences": 4}}
	master := e.createEvent(alex, event("Sync", "2026-11-30T09:00:00", "2026-11-30T09:30:00", "W. Europe Standard Time",
		map[string]any{"recurrence": rec, "attendees": []map[string]any{{"type": "required", "emailAddress": map[string]any{"address": "megan@contoso.dev", "name": "Megan"}}}}))
	id := master.str("id")
	if master.str("type") != "seriesMaster" || master.str("originalStartTimeZone") != "W. Europe Standard Time" || master.str("showAs") != "busy" {
		t.Fatalf("created: %s", master.raw)
	}
	if st := master.body["start"].(map[string]any); st["dateTime"] != "2026-11-30T08:00:00.0000000" || st["timeZone"] != "UTC" {
		t.Fatalf("start in UTC by default: %v", st)
	}
	e.createEvent(alex, event("Lunch", "2026-12-01T12:00:00", "2026-12-01T13:00:00", "UTC", nil))

	if r := e.call("PATCH", base+"/events/"+id+"_20261202", app, map[string]any{"subject": "Sync (moved)",
		"start": map[string]any{"dateTime": "2026-12-02T15:00:00", "timeZone": "UTC"}, "end": map[string]any{"dateTime": "2026-12-02T15:30:00", "timeZone": "UTC"}}); r.status != 200 || r.str("type") != "exception" {
		t.Fatalf("edit one occurrence: %d %s", r.status, r.raw)
	}

	r := e.call("GET", base+"/calendarView?startDateTime=2026-11-30T00:00:00Z&endDateTime=2026-12-10T00:00:00Z", app, nil, "Prefer", `outlook.timezone="Pacific Standard Time"`)
	if r.status != 200 || r.header.Get("Preference-Applied") != `outlook.timezone="Pacific Standard Time"` {
		t.Fatalf("calendarView: %d %s %v", r.status, r.raw, r.header)
	}
	var got []string
	for _, v := range r.body["value"].([]any) {
		ev := v.(map[string]any)
		st := ev["start"].(map[string]any)
		if st["timeZone"] != "Pacific Standard Time" {
			t.Fatalf("start not in the preferred zone: %v", st)
		}
		line := ev["type"].(string) + " " + ev["subject"].(string) + " " + st["dateTime"].(string)[:16]
		if ev["type"] != "singleInstance" {
			if ev["seriesMasterId"] != id || !strings.HasPrefix(ev["id"].(string), id+"_") || ev["recurrence"] != nil {
				t.Fatalf("occurrence %v", ev)
			}
		}
		got = append(got, line)
	}
	want := "occurrence Sync 2026-11-30T00:00|singleInstance Lunch 2026-12-01T04:00|exception Sync (moved) 2026-12-02T07:00|occurrence Sync 2026-12-07T00:00|occurrence Sync 2026-12-09T00:00"
	if strings.Join(got, "|") != want {
		t.Fatalf("calendarView:\n got %s\nwant %s", strings.Join(got, "|"), want)
	}

	// Paging: two at a time, following @odata.nextLink to the end.
	var paged []string
	next := base + "/calendarView?startDateTime=2026-11-30T00:00:00Z&endDateTime=2026-12-10T00:00:00Z&$top=2"
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		r := e.call("GET", next, app, nil)
		for _, v := range r.body["value"].([]any) {
			paged = append(paged, v.(map[string]any)["id"].(string))
		}
		next, _ = r.body["@odata.nextLink"].(string)
		next = strings.TrimPrefix(next, e.srv.URL())
	}
	if len(paged) != 5 {
		t.Fatalf("paged ids %v", paged)
	}

	if r := e.call("GET", base+"/events", app, nil); r.status != 200 || len(r.body["value"].([]any)) != 2 {
		t.Fatalf("/events lists the master and the single event: %s", r.raw)
	}
	if r := e.call("GET", base+"/calendar/events/"+id+"_20261207", app, nil); r.status != 200 || r.str("type") != "occurrence" || r.str("seriesMasterId") != id {
		t.Fatalf("an occurrence by id: %d %s", r.status, r.raw)
	}
	if r := e.call("GET", "/beta/me/mailboxSettings/automaticRepliesSetting", e.userToken("alex", ""), nil); r.status != 200 || r.str("status") != "disabled" {
		t.Fatalf("automaticRepliesSetting: %d %s", r.status, r.raw)
	}
	if r := e.call("DELETE", base+"/events/"+id, app, nil); r.status != 204 {
		t.Fatalf("delete the series: %d", r.status)
	}
	if r := e.call("GET", base+"/events/"+id+"_20261207", app, nil); r.status != 404 {
		t.Fatalf("an occurrence of a deleted series: %d", r.status)
	}
}
