package presenced_test

import (
	"net/http"
	"testing"
)

func workLocation(r resp) string {
	w, _ := r.body["workLocation"].(map[string]any)
	p, _ := w["placeId"].(string)
	return w["workLocationType"].(string) + "/" + w["source"].(string) + "/" + p
}

// Work location end to end, with the dev clock: set where Graph binds the
// actions, read in the presence resource, a visible change (the
// sequenceNumber moves and watchers hear it), and gone at the end of the
// user's day (UTC without mailbox settings) by time alone.
func TestWorkLocationEndToEnd(t *testing.T) {
	e := start(t) // t0 is 2026-11-25 09:00 UTC
	app := e.appToken()
	adele, alex := e.user("adele"), e.user("alex")
	me := e.userToken("adele", "")
	ch, closeStream := e.openStream(t, app, "ids="+adele, "")
	defer closeStream()
	nextEvent(t, ch) // the initial state

	before := e.get(app, adele)
	if got := workLocation(before); got != "unspecified/none/" {
		t.Fatalf("nothing set: %s", got)
	}
	e.must("POST", "/v1.0/me/presence/setManualLocation", me, map[string]any{"workLocationType": "office", "placeId": "eb706f15-137e-4722-b4d1-b601481d9251"})
	after := e.get(app, adele)
	if got := workLocation(after); got != "office/manual/eb706f15-137e-4722-b4d1-b601481d9251" {
		t.Fatalf("after setManualLocation: %s", got)
	}
	if after.str("sequenceNumber") <= before.str("sequenceNumber") {
		t.Errorf("sequenceNumber %s after %s", after.str("sequenceNumber"), before.str("sequenceNumber"))
	}
	if ev := nextEvent(t, ch); ev.data["workLocation"].(map[string]any)["source"] != "manual" {
		t.Errorf("stream event %+v", ev)
	}

	// An application sets the automatic layer, at every path Graph binds
	// the actions to; the manual one still wins.
	e.must("POST", "/v1.0/users/"+adele+"/presence/setAutomaticLocation", app, map[string]any{"workLocationType": "remote"})
	if got := workLocation(e.get(app, adele)); got != "office/manual/eb706f15-137e-4722-b4d1-b601481d9251" {
		t.Errorf("manual beats automatic: %s", got)
	}
	e.must("POST", "/beta/communications/presences/"+alex+"/setAutomaticLocation", app, map[string]any{"workLocationType": "TIMEOFF"})
	if got := workLocation(e.get(app, alex)); got != "timeOff/automatic/" {
		t.Errorf("automatic on the communications path: %s", got)
	}
	// clearLocation takes no body and answers 200; clearAutomaticLocation
	// answers 204.
	if r := e.call("POST", "/v1.0/me/presence/clearLocation", me, nil); r.status != 200 {
		t.Fatalf("clearLocation: %d %s", r.status, r.raw)
	}
	if got := workLocation(e.get(app, adele)); got != "unspecified/none/" {
		t.Errorf("after clearLocation: %s", got)
	}
	if r := e.call("POST", "/v1.0/users/"+alex+"/presence/clearAutomaticLocation", app, nil); r.status != http.StatusNoContent {
		t.Errorf("clearAutomaticLocation: %d %s", r.status, r.raw)
	}

	// The day boundary: a signal set at 23:30 is gone at midnight, by
	// time alone, and watchers hear it then.
	e.call("POST", "/dev/clock/advance?by=PT14H30M", "", nil) // 23:30
	closeStream()                                             // its token has expired: the stream ended
	app = e.appToken()
	me = e.userToken("adele", "")
	ch, closeStream = e.openStream(t, app, "ids="+adele, "")
	defer closeStream()
	nextEvent(t, ch) // the state now
	e.must("POST", "/v1.0/me/presence/setManualLocation", me, map[string]any{"workLocationType": "remote"})
	if ev := nextEvent(t, ch); ev.data["workLocation"].(map[string]any)["workLocationType"] != "remote" {
		t.Fatalf("stream event %+v", ev)
	}
	set := e.get(app, adele)
	e.call("POST", "/dev/clock/advance?by=PT29M59S", "", nil)
	if got := workLocation(e.get(app, adele)); got != "remote/manual/" {
		t.Errorf("a second before midnight: %s", got)
	}
	e.call("POST", "/dev/clock/advance?by=PT1S", "", nil)
	midnight := e.get(app, adele)
	if got := workLocation(midnight); got != "unspecified/none/" || midnight.str("sequenceNumber") <= set.str("sequenceNumber") {
		t.Errorf("at midnight: %s, sequenceNumber %s after %s", got, midnight.str("sequenceNumber"), set.str("sequenceNumber"))
	}
	if ev := nextEvent(t, ch); ev.data["workLocation"].(map[string]any)["source"] != "none" {
		t.Errorf("no event at midnight: %+v", ev)
	}
}

// The actions' bad input and permissions: Graph's errors, nothing written.
func TestWorkLocationRejects(t *testing.T) {
	e := start(t)
	app := e.appToken()
	adele, alex := e.user("adele"), e.user("alex")
	me := e.userToken("adele", "")
	readOnly := e.userToken("adele", "Presence.Read")
	tests := []struct {
		name, path, token string
		body              any
		status            int
		code              string
	}{
		{"no workLocationType", "/v1.0/me/presence/setManualLocation", me, map[string]any{"placeId": "x"}, 400, "invalidRequest"},
		{"unspecified", "/v1.0/me/presence/setManualLocation", me, map[string]any{"workLocationType": "unspecified"}, 400, "invalidRequest"},
		{"an unknown type", "/v1.0/me/presence/setAutomaticLocation", me, map[string]any{"workLocationType": "beach"}, 400, "invalidRequest"},
		{"an unknown property", "/v1.0/me/presence/setManualLocation", me, map[string]any{"workLocationType": "office", "building": "1"}, 400, "invalidRequest"},
		{"a body on clearLocation that is not empty", "/v1.0/me/presence/clearLocation", me, map[string]any{"all": true}, 400, "invalidRequest"},
		{"another user's, delegated", "/v1.0/users/" + alex + "/presence/setManualLocation", me, map[string]any{"workLocationType": "office"}, 403, "accessDenied"},
		{"without Presence.ReadWrite", "/v1.0/me/presence/setManualLocation", readOnly, map[string]any{"workLocationType": "office"}, 403, "accessDenied"},
		{"/me with an app token", "/v1.0/me/presence/setManualLocation", app, map[string]any{"workLocationType": "office"}, 400, "invalidRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := e.call("POST", tt.path, tt.token, tt.body); r.status != tt.status || r.errCode() != tt.code {
				t.Errorf("%d %s, want %d %s", r.status, r.raw, tt.status, tt.code)
			}
		})
	}
	for _, u := range []string{adele, alex} {
		if got := workLocation(e.get(app, u)); got != "unspecified/none/" {
			t.Errorf("a refused request wrote: %s", got)
		}
	}
}

// The user's day ends at midnight in the time zone of their mailbox
// settings: set at 09:00 UTC (01:00 in Los Angeles), a signal lasts until
// 08:00 UTC the next day, not until midnight UTC.
func TestWorkLocationDayEndsInTheMailboxTimeZone(t *testing.T) {
	e := start(t) // t0 is 2026-11-25 09:00 UTC
	me := e.userToken("adele", "")
	if r := e.call("PATCH", "/v1.0/me/mailboxSettings", me, map[string]any{"timeZone": "Pacific Standard Time"}); r.status != 200 {
		t.Fatalf("mailboxSettings: %d %s", r.status, r.raw)
	}
	e.must("POST", "/v1.0/me/presence/setManualLocation", me, map[string]any{"workLocationType": "remote"})
	e.call("POST", "/dev/clock/advance?by=PT15H", "", nil) // midnight UTC
	app := e.appToken()
	if got := workLocation(e.get(app, e.user("adele"))); got != "remote/manual/" {
		t.Errorf("at midnight UTC (16:00 in Los Angeles): %s", got)
	}
	e.call("POST", "/dev/clock/advance?by=PT8H", "", nil) // midnight in Los Angeles
	app = e.appToken()
	if got := workLocation(e.get(app, e.user("adele"))); got != "unspecified/none/" {
		t.Errorf("at midnight in Los Angeles: %s", got)
	}
}
