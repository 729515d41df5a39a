package presenced_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/directory"
)

// After the calendar's stream is lost and the start accepts it, presence
// follows what remains: automatic replies and meetings that are gone stop
// showing (a visible change, notified), and calendar writes take effect
// at once, the new stream numbering its revisions past the lost one's.
func TestLostCalendarIsRebuiltIntoPresence(t *testing.T) {
	if clusterPass {
		t.Skip("deletes a single node's stream files")
	}
	e := start(t)
	alex := e.user("alex")
	app := e.appToken()
	u := core.UserRef{TenantID: directory.DemoTenantID, UserID: alex}
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Available", "Available", "PT4H"))
	r := e.call("PATCH", "/v1.0/users/"+alex+"/mailboxSettings", app, map[string]any{"automaticRepliesSetting": map[string]any{
		"status": "alwaysEnabled", "internalReplyMessage": "Gone fishing"}})
	if r.status != 200 {
		t.Fatalf("PATCH mailboxSettings: %d %s", r.status, r.raw)
	}
	// A meeting now, and more calendar writes than the new stream will
	// have had when it is written again.
	for i := range 4 {
		e.createEvent(alex, event("Design review", "2026-11-25T08:30:00", "2026-11-25T11:00:00", "UTC", map[string]any{"showAs": "busy", "body": map[string]any{"content": string(rune('a' + i))}}))
	}
	before := e.get(app, alex)
	if is, msg := oof(before); !is || msg != "Gone fishing" || before.str("activity") == "Available" {
		t.Fatalf("before the loss: %s %v", pair(before), before.body["outOfOfficeSettings"])
	}
	s, err := e.srv.Core().Read(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	lostRev := s.Facts.CalendarRev
	rc := newReceiver(t)
	if sub := e.subscribe(e.userToken("adele", ""), subBody(rc.srv.URL, []string{alex}, t0.Add(time.Hour))); sub.status != 201 {
		t.Fatalf("subscribe: %d %s", sub.status, sub.raw)
	}
	for drained := false; !drained; { // what the subscription is told at once
		select {
		case <-rc.got:
		case <-time.After(300 * time.Millisecond):
			drained = true
		}
	}

	e.stop()
	if err := os.RemoveAll(streamDir(e.dir, "KV_calendar")); err != nil {
		t.Fatal(err)
	}
	rec := &levelLog{}
	e.log = slog.New(rec)
	e.cfg = func(c *presenced.Config) { c.AcceptDataLoss = true }
	e.boot()
	if len(rec.at(slog.LevelError, "engine data lost", "stream=KV_calendar")) != 1 {
		t.Fatalf("the loss was not reported: %q", rec.lines)
	}

	// The calendar is gone: so are the automatic replies and the meeting.
	app = e.appToken()
	deadline := time.Now().Add(15 * time.Second)
	var after resp
	for {
		after = e.get(app, alex)
		if is, _ := oof(after); !is && pair(after) == "Available/Available" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15 s after the accepted start presence still shows the lost calendar: %s %v", pair(after), after.body["outOfOfficeSettings"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !(after.str("sequenceNumber") > before.str("sequenceNumber")) {
		t.Fatalf("sequenceNumber did not move: %s → %s", before.str("sequenceNumber"), after.str("sequenceNumber"))
	}
	got := item(t, rc.next())
	if rd, _ := got["resourceData"].(map[string]any); rd == nil || rd["id"] != alex {
		t.Fatalf("notification %v, want alex's change", got)
	}
	if ev := e.call("GET", "/v1.0/users/"+alex+"/events", app, nil); ev.status != 200 || len(ev.body["value"].([]any)) != 0 {
		t.Fatalf("events after the loss: %d %s", ev.status, ev.raw)
	}

	// Calendar writes take effect on presence at once.
	r = e.call("PATCH", "/v1.0/users/"+alex+"/mailboxSettings", app, map[string]any{"automaticRepliesSetting": map[string]any{
		"status": "alwaysEnabled", "internalReplyMessage": "Back on Monday"}})
	if r.status != 200 {
		t.Fatalf("PATCH mailboxSettings: %d %s", r.status, r.raw)
	}
	if is, msg := oof(e.get(app, alex)); !is || msg != "Back on Monday" {
		t.Fatalf("automatic replies set after the loss do not show: %v", e.get(app, alex).body["outOfOfficeSettings"])
	}
	r = e.call("PATCH", "/v1.0/users/"+alex+"/mailboxSettings", app, map[string]any{"automaticRepliesSetting": map[string]any{"status": "disabled"}})
	if r.status != 200 {
		t.Fatalf("PATCH mailboxSettings: %d %s", r.status, r.raw)
	}
	if now := e.get(app, alex); pair(now) != "Available/Available" {
		t.Fatalf("automatic replies disabled after the loss still show: %s %v", pair(now), now.body["outOfOfficeSettings"])
	} else if is, _ := oof(now); is {
		t.Fatalf("automatic replies disabled after the loss still show: %v", now.body["outOfOfficeSettings"])
	}
	e.createEvent(alex, event("Stand-up", "2026-11-25T08:45:00", "2026-11-25T09:30:00", "UTC", map[string]any{"showAs": "busy"}))
	if now := e.get(app, alex); pair(now) != "Busy/InAMeeting" {
		t.Fatalf("a meeting created after the loss does not show: %s", pair(now))
	}
	// The new calendar stream numbers past the lost one.
	s, err = e.srv.Core().Read(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if s.Facts.CalendarRev <= lostRev {
		t.Fatalf("the calendar revision went back from %d to %d", lostRev, s.Facts.CalendarRev)
	}
}

// A lost change log, accepted at start, is created again numbered past the
// lost one: a webhook subscription, which remembers how far in the log it
// was delivered, is told the next change rather than taking the new log's
// first records for ones it delivered.
func TestLostChangeLogKeepsNotifying(t *testing.T) {
	if clusterPass {
		t.Skip("deletes a single node's stream files")
	}
	e := start(t)
	alex := e.user("alex")
	rc := newReceiver(t)
	if sub := e.subscribe(e.userToken("adele", ""), subBody(rc.srv.URL, []string{alex}, t0.Add(time.Hour))); sub.status != 201 {
		t.Fatalf("subscribe: %d %s", sub.status, sub.raw)
	}
	pairs := [][2]string{{"Available", "Available"}, {"Busy", "InACall"}, {"DoNotDisturb", "Presenting"}}
	for i := range 9 {
		p := pairs[i%len(pairs)]
		e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", e.appToken(), setBody(p[0], p[1], "PT4H"))
		rc.next()
	}

	e.stop()
	if err := os.RemoveAll(streamDir(e.dir, "CHANGES")); err != nil {
		t.Fatal(err)
	}
	e.cfg = func(c *presenced.Config) { c.AcceptDataLoss = true }
	e.boot()
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", e.appToken(), setBody("Away", "Away", "PT4H"))
	rd, _ := item(t, rc.next())["resourceData"].(map[string]any)
	if rd == nil || rd["id"] != alex {
		t.Fatalf("notification after the loss: %v", rd)
	}
}
