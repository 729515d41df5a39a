package presenced_test

import (
	"context"
	"testing"
	"time"

	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/directory"
)

// calWatch follows one user's presence across calendar boundaries: each
// step moves the clock to just before a boundary, keeps the user's session
// Available, watches (a webhook subscription and the live stream), checks
// that nothing is announced before the boundary, then crosses it.
type calWatch struct {
	t    *testing.T
	e    *env
	user string
	rc   *receiver
}

func (e *env) calWatch(t *testing.T, user string) *calWatch {
	return &calWatch{t: t, e: e, user: user, rc: newReceiver(t)}
}

// to moves the server clock to at (forward) and waits until the user's
// calendar window reaches a day past it (the refresher extends it when a
// jump left it short).
func (w *calWatch) to(at time.Time) {
	w.t.Helper()
	if d := at.Sub(w.e.srv.Clock().Now()); d > 0 {
		w.e.fake.Add(d)
	}
	u := core.UserRef{TenantID: directory.DemoTenantID, UserID: w.user}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := w.e.srv.Core().Read(context.Background(), u)
		if err != nil {
			w.t.Fatal(err)
		}
		if s.Facts.CalendarUntil.IsZero() || s.Facts.CalendarUntil.After(at.Add(24*time.Hour)) {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("the calendar window of %s still ends at %v at %v", w.user, s.Facts.CalendarUntil, at)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// available refreshes the user's session as Available/Available.
func (w *calWatch) available() {
	w.e.must("POST", "/v1.0/users/"+w.user+"/presence/setPresence", w.e.appToken(), setBody("Available", "Available", "PT1H"))
}

// step crosses boundary b and returns the presence read just after it:
// want is the pair announced at b ("" when nothing may change at b).
func (w *calWatch) step(b time.Time, want string) resp {
	w.t.Helper()
	w.to(b.Add(-time.Minute))
	w.available()
	app := w.e.appToken()
	sub := w.e.subscribe(w.e.userToken("adele", ""), subBody(w.rc.srv.URL, []string{w.user}, b.Add(30*time.Minute)))
	if sub.status != 201 {
		w.t.Fatalf("subscribe: %d %s", sub.status, sub.raw)
	}
	defer w.e.call("DELETE", "/v1.0/subscriptions/"+sub.str("id"), w.e.userToken("adele", ""), nil)
	ch, closeStream := w.e.openStream(w.t, app, "ids="+w.user, "")
	defer closeStream()
	before := nextEvent(w.t, ch) // the stream's first event: the presence now
	// A new subscription is not told of the change made before it (the
	// session set Available a moment ago); whatever else came to the
	// receiver before the boundary is not the boundary's: drained.
	for drained := false; !drained; {
		select {
		case <-w.rc.got:
		case <-time.After(300 * time.Millisecond):
			drained = true
		}
	}
	w.e.fake.Add(time.Minute - time.Millisecond)
	w.rc.none("a millisecond before the boundary")
	select {
	case ev := <-ch:
		w.t.Fatalf("a millisecond before %v the stream said %+v", b, ev.data)
	default:
	}
	w.e.fake.Add(time.Millisecond)
	got := w.e.get(app, w.user)
	if want == "" {
		w.rc.none("nothing changes at this boundary")
		if got.str("sequenceNumber") != before.data["sequenceNumber"] {
			w.t.Fatalf("at %v the sequenceNumber moved: %v → %s", b, before.data["sequenceNumber"], got.str("sequenceNumber"))
		}
		return got
	}
	ev := nextEvent(w.t, ch)
	w.rc.next()
	if p := ev.data["availability"].(string) + "/" + ev.data["activity"].(string); p != want {
		w.t.Fatalf("at %v the stream said %s, want %s", b, p, want)
	}
	if pair(got) != want || got.str("sequenceNumber") != ev.data["sequenceNumber"] {
		w.t.Fatalf("at %v: GET %s %s, stream %v", b, pair(got), got.str("sequenceNumber"), ev.data["sequenceNumber"])
	}
	if !(got.str("sequenceNumber") > before.data["sequenceNumber"].(string)) {
		w.t.Fatalf("sequenceNumber did not grow at %v: %v → %s", b, before.data["sequenceNumber"], got.str("sequenceNumber"))
	}
	return got
}

func event(subject, start, end, zone string, extra map[string]any) map[string]any {
	ev := map[string]any{"subject": subject,
		"start": map[string]any{"dateTime": start, "timeZone": zone}, "end": map[string]any{"dateTime": end, "timeZone": zone}}
	for k, v := range extra {
		ev[k] = v
	}
	return ev
}

func (e *env) createEvent(user string, ev map[string]any) resp {
	e.t.Helper()
	r := e.call("POST", "/v1.0/users/"+user+"/events", e.appToken(), ev)
	if r.status != 201 {
		e.t.Fatalf("create event: %d %s", r.status, r.raw)
	}
	return r
}

func oof(r resp) (bool, any) {
	o, _ := r.body["outOfOfficeSettings"].(map[string]any)
	return o["isOutOfOffice"] == true, o["message"]
}

func TestMeetingBoundaries(t *testing.T) {
	e := start(t)
	alex := e.user("alex")
	e.createEvent(alex, event("Design review", "2026-11-25T10:00:00", "2026-11-25T10:30:00", "UTC", map[string]any{"showAs": "busy"}))
	w := e.calWatch(t, alex)
	w.to(t0.Add(58 * time.Minute))
	w.available()
	s0 := e.get(e.appToken(), alex)
	if pair(s0) != "Available/Available" {
		t.Fatalf("before the meeting: %s", pair(s0))
	}
	s1 := w.step(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), "Busy/InAMeeting")
	s2 := w.step(time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC), "Available/Available")
	a, b, c := s0.str("sequenceNumber"), s1.str("sequenceNumber"), s2.str("sequenceNumber")
	if !(a < b && b < c) {
		t.Fatalf("sequenceNumbers %s, %s, %s: want three, increasing", a, b, c)
	}
}

func TestAutomaticRepliesWindow(t *testing.T) {
	e := start(t)
	alex := e.user("alex")
	r := e.call("PATCH", "/v1.0/users/"+alex+"/mailboxSettings", e.appToken(), map[string]any{"automaticRepliesSetting": map[string]any{
		"status": "scheduled", "internalReplyMessage": "Back at noon",
		"scheduledStartDateTime": map[string]any{"dateTime": "2026-11-25T12:00:00", "timeZone": "W. Europe Standard Time"},
		"scheduledEndDateTime":   map[string]any{"dateTime": "2026-11-25T13:00:00", "timeZone": "W. Europe Standard Time"},
	}})
	if r.status != 200 {
		t.Fatalf("PATCH mailboxSettings: %d %s", r.status, r.raw)
	}
	w := e.calWatch(t, alex)
	in := w.step(time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC), "Available/OutOfOffice")
	if is, msg := oof(in); !is || msg != "Back at noon" {
		t.Fatalf("in the window: outOfOfficeSettings %v", in.body["outOfOfficeSettings"])
	}
	out := w.step(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), "Available/Available")
	if is, _ := oof(out); is {
		t.Fatalf("after the window: %v", out.body["outOfOfficeSettings"])
	}
}

func TestAllDayOOFEvent(t *testing.T) {
	e := start(t)
	alex := e.user("alex")
	e.createEvent(alex, event("Vacation", "2026-11-26T00:00:00", "2026-11-27T00:00:00", "UTC", map[string]any{"showAs": "oof", "isAllDay": true}))
	w := e.calWatch(t, alex)
	in := w.step(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), "Available/OutOfOffice")
	if is, msg := oof(in); !is || msg != nil {
		t.Fatalf("on the day: outOfOfficeSettings %v (an oof event has no message)", in.body["outOfOfficeSettings"])
	}
	w.step(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), "Available/Available")
}

func TestWeeklySeriesWithACancelledOccurrence(t *testing.T) {
	e := start(t)
	alex := e.user("alex")
	rec := map[string]any{"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []string{"monday"}},
		"range": map[string]any{"type": "noEnd", "startDate": "2026-11-30"}}
	r := e.createEvent(alex, event("Weekly sync", "2026-11-30T10:00:00", "2026-11-30T10:30:00", "UTC", map[string]any{"recurrence": rec}))
	id := r.str("id")
	if d := e.call("DELETE", "/v1.0/users/"+alex+"/events/"+id+"_20261130", e.appToken(), nil); d.status != 204 {
		t.Fatalf("delete one occurrence: %d %s", d.status, d.raw)
	}
	w := e.calWatch(t, alex)
	w.step(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC), "")
	w.step(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC), "Busy/InAMeeting")
	w.step(time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC), "Available/Available")
}

func TestWindowsZoneAcrossDaylightSaving(t *testing.T) {
	e := start(t)
	alex := e.user("alex")
	// 09:00 Pacific every day: 17:00Z in standard time, 16:00Z from
	// 2027-03-14, when Pacific time moves to daylight saving.
	rec := map[string]any{"pattern": map[string]any{"type": "daily", "interval": 1},
		"range": map[string]any{"type": "endDate", "startDate": "2027-03-12", "endDate": "2027-03-20"}}
	e.createEvent(alex, event("Stand-up", "2027-03-12T09:00:00", "2027-03-12T09:15:00", "Pacific Standard Time", map[string]any{"recurrence": rec}))
	w := e.calWatch(t, alex)
	w.step(time.Date(2027, 3, 13, 17, 0, 0, 0, time.UTC), "Busy/InAMeeting")
	w.step(time.Date(2027, 3, 13, 17, 15, 0, 0, time.UTC), "Available/Available")
	w.step(time.Date(2027, 3, 15, 16, 0, 0, 0, time.UTC), "Busy/InAMeeting")
	w.step(time.Date(2027, 3, 15, 16, 15, 0, 0, time.UTC), "Available/Available")
}
