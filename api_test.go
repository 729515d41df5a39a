package presenced_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/directory"
)

func TestFreshUserIsOfflineAtEveryPath(t *testing.T) {
	e := start(t)
	adele := e.user("adele")
	app, me := e.appToken(), e.userToken("adele", "")
	cases := []struct {
		name, path, token, context string
	}{
		{"me", "/v1.0/me/presence", me, "/v1.0/$metadata#users('" + adele + "')/presence/$entity"},
		{"users by id", "/v1.0/users/" + adele + "/presence", app, "/v1.0/$metadata#users('" + adele + "')/presence/$entity"},
		{"users by UPN", "/v1.0/users/adele@contoso.dev/presence", app, "/v1.0/$metadata#users('" + adele + "')/presence/$entity"},
		{"users by upper-case id", "/v1.0/users/" + strings.ToUpper(adele) + "/presence", app, "/v1.0/$metadata#users('" + adele + "')/presence/$entity"},
		{"communications", "/v1.0/communications/presences/" + adele, app, "/v1.0/$metadata#communications/presences/$entity"},
		{"beta", "/beta/users/" + adele + "/presence", app, "/beta/$metadata#users('" + adele + "')/presence/$entity"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.call("GET", c.path, c.token, nil, "client-request-id", "my-request-42")
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			if got := pair(r); got != "Offline/Offline" {
				t.Errorf("pair = %s, want Offline/Offline", got)
			}
			if r.str("id") != adele || r.str("@odata.context") != e.srv.URL()+c.context {
				t.Errorf("id %q context %q", r.str("id"), r.str("@odata.context"))
			}
			if oof, _ := r.body["outOfOfficeSettings"].(map[string]any); oof == nil || oof["isOutOfOffice"] != false {
				t.Errorf("outOfOfficeSettings = %v", r.body["outOfOfficeSettings"])
			}
			if v, ok := r.body["statusMessage"]; !ok || v != nil {
				t.Errorf("statusMessage = %v, want null", v)
			}
			if r.str("sequenceNumber") == "" {
				t.Error("no sequenceNumber")
			}
			if wl, _ := r.body["workLocation"].(map[string]any); wl["workLocationType"] != "unspecified" || wl["source"] != "none" {
				t.Errorf("workLocation = %v", r.body["workLocation"])
			}
			if r.header.Get("request-id") == "" || r.header.Get("client-request-id") != "my-request-42" {
				t.Errorf("request-id %q client-request-id %q", r.header.Get("request-id"), r.header.Get("client-request-id"))
			}
		})
	}
}

// seq reads a user's sequenceNumber.
func (e *env) seq(token, id string) string { return e.get(token, id).str("sequenceNumber") }

func TestSessionsFadeExpireAndAggregate(t *testing.T) {
	e := start(t)
	app := e.appToken()
	id := e.user("alex")
	set := "/v1.0/users/" + id + "/presence/setPresence"
	clear := "/v1.0/users/" + id + "/presence/clearPresence"
	type step struct {
		rule string
		do   func()
		want string
		seq  string // "same" or "new"
	}
	phone := directory.DemoDaemonClientID + ":phone"
	steps := []step{
		{"§3.1 no session: Offline", func() {}, "Offline/Offline", "same"},
		{"setPresence Available", func() { e.must("POST", set, app, setBody("Available", "Available", "PT1H")) }, "Available/Available", "new"},
		{"§4 the same write again changes nothing visible", func() { e.must("POST", set, app, setBody("Available", "Available", "PT1H")) }, "Available/Available", "same"},
		{"§2 4m59s idle: still Available", func() { e.fake.Add(4*time.Minute + 59*time.Second) }, "Available/Available", "same"},
		{"§2 5m idle: AvailableInactive", func() { e.fake.Add(time.Second) }, "Available/AvailableInactive", "new"},
		{"§2 10m idle: Away", func() { e.fake.Add(5 * time.Minute) }, "Away/Away", "new"},
		{"refresh brings it back", func() { e.must("POST", set, app, setBody("Available", "Available", "PT1H")) }, "Available/Available", "new"},
		{"dev clock: 10 minutes in one request", func() { e.must("POST", "/dev/clock/advance?by=PT10M", "", nil) }, "Away/Away", "new"},
		{"§3.3 a Busy session beats an Away one", func() {
			b := setBody("Busy", "InACall", "PT5M")
			b["sessionId"] = phone
			e.must("POST", set, app, b)
		}, "Busy/InACall", "new"},
		{"§3.3 DoNotDisturb beats Busy", func() { e.must("POST", set, app, setBody("DoNotDisturb", "Presenting", "PT1H")) }, "DoNotDisturb/Presenting", "new"},
		{"clearPresence of one session shows the next", func() {
			e.must("POST", clear, app, map[string]any{"sessionId": directory.DemoDaemonClientID})
		}, "Busy/InACall", "new"},
		{"§2 expiry after expirationDuration", func() { e.fake.Add(5 * time.Minute) }, "Offline/Offline", "new"},
		{"new session", func() { e.must("POST", set, app, setBody("Away", "Away", "")) }, "Away/Away", "new"},
		{"clearPresence of the last session: Offline", func() {
			e.must("POST", clear, app, map[string]any{"sessionId": directory.DemoDaemonClientID})
		}, "Offline/Offline", "new"},
	}
	prev := e.seq(app, id)
	for _, s := range steps {
		s.do()
		r := e.get(app, id)
		if got := pair(r); got != s.want {
			t.Fatalf("%s: pair = %s, want %s", s.rule, got, s.want)
		}
		cur := r.str("sequenceNumber")
		switch {
		case s.seq == "same" && cur != prev:
			t.Fatalf("%s: sequenceNumber changed %s -> %s, but the visible presence did not", s.rule, prev, cur)
		case s.seq == "new" && !(cur > prev):
			t.Fatalf("%s: sequenceNumber %s is not after %s", s.rule, cur, prev)
		}
		prev = cur
	}
}

func TestPreferredPresenceOverridesSessions(t *testing.T) {
	e := start(t)
	app := e.appToken()
	id := e.user("megan")
	me := e.userToken("megan", "")
	setPref := func(avail, act, exp string) {
		b := map[string]any{"availability": avail, "activity": act}
		if exp != "" {
			b["expirationDuration"] = exp
		}
		e.must("POST", "/v1.0/me/presence/setUserPreferredPresence", me, b)
	}
	setPref("Busy", "Busy", "")
	if got := pair(e.get(app, id)); got != "Offline/Offline" {
		t.Fatalf("§3.1 preferred without a session: %s, want Offline/Offline", got)
	}
	e.must("POST", "/v1.0/users/"+id+"/presence/setPresence", app, setBody("DoNotDisturb", "Presenting", "PT4H"))
	if got := pair(e.get(app, id)); got != "Busy/Busy" {
		t.Fatalf("§3.2 preferred beats every session: %s", got)
	}
	setPref("Offline", "OffWork", "PT1H")
	if got := pair(e.get(app, id)); got != "Offline/OffWork" {
		t.Fatalf("appear offline: %s", got)
	}
	e.fake.Add(time.Hour)
	app, me = e.appToken(), e.userToken("megan", "") // tokens live an hour, on the same clock
	if got := pair(e.get(app, id)); got != "DoNotDisturb/Presenting" {
		t.Fatalf("preferred expired after its expirationDuration: %s", got)
	}
	setPref("Away", "Away", "")
	e.must("POST", "/v1.0/users/"+id+"/presence/clearUserPreferredPresence", me, map[string]any{})
	if got := pair(e.get(app, id)); got != "DoNotDisturb/Presenting" {
		t.Fatalf("after clearUserPreferredPresence: %s", got)
	}
	// Clearing again with nothing set is fine, as on Graph; an app may too,
	// and with no body at all.
	e.must("POST", "/v1.0/users/"+id+"/presence/clearUserPreferredPresence", app, nil)
}

func TestStatusMessageVisibility(t *testing.T) {
	e := start(t)
	app := e.appToken()
	id := e.user("lynne")
	me := e.userToken("lynne", "")
	e.must("POST", "/v1.0/me/presence/setStatusMessage", me, map[string]any{"statusMessage": map[string]any{
		"message":        map[string]any{"content": "In a workshop", "contentType": "text"},
		"expiryDateTime": map[string]any{"dateTime": "2026-11-25T10:00:00.0000000", "timeZone": "UTC"},
	}})
	own := e.call("GET", "/v1.0/me/presence", me, nil)
	sm, _ := own.body["statusMessage"].(map[string]any)
	if msg, _ := sm["message"].(map[string]any); msg["content"] != "In a workshop" || msg["contentType"] != "text" {
		t.Fatalf("owner statusMessage = %v", sm)
	}
	if exp, _ := sm["expiryDateTime"].(map[string]any); exp["timeZone"] != "UTC" || sm["publishedDateTime"] != "2026-11-25T09:00:00.0000000Z" {
		t.Fatalf("§3.6 the owner sees expiry and publication: %v", sm)
	}
	other := e.get(app, id)
	sm, _ = other.body["statusMessage"].(map[string]any)
	if _, ok := sm["expiryDateTime"]; ok || sm["message"] == nil {
		t.Fatalf("§3.6 another reader sees only the message: %v", sm)
	}
	if _, ok := sm["publishedDateTime"]; ok {
		t.Fatalf("§3.6 another reader sees only the message: %v", sm)
	}
	before := other.str("sequenceNumber")
	e.fake.Add(time.Hour)
	app, me = e.appToken(), e.userToken("lynne", "") // tokens live an hour, on the same clock
	after := e.get(app, id)
	if after.body["statusMessage"] != nil || !(after.str("sequenceNumber") > before) {
		t.Fatalf("§3.6/§4 an expired status message disappears with a new sequenceNumber: %s", after.raw)
	}
	e.must("POST", "/v1.0/users/"+id+"/presence/setStatusMessage", app, map[string]any{"statusMessage": map[string]any{
		"message":        map[string]any{"content": "Back soon", "contentType": "text"},
		"expiryDateTime": map[string]any{"dateTime": "2026-11-25T03:00:00", "timeZone": "Pacific Standard Time"}}})
	e.fake.Add(59 * time.Minute)
	if e.get(app, id).body["statusMessage"] == nil {
		t.Fatal("a Pacific-time expiry of 03:00 is 11:00 UTC; at 10:59 the message is still there")
	}
	e.fake.Add(time.Minute)
	app, me = e.appToken(), e.userToken("lynne", "")
	if e.get(app, id).body["statusMessage"] != nil {
		t.Fatal("at 11:00 UTC the message expired")
	}
	e.must("POST", "/v1.0/me/presence/setStatusMessage", me, map[string]any{"statusMessage": map[string]any{"message": map[string]any{"content": "Hello"}}})
	e.must("POST", "/v1.0/me/presence/setStatusMessage", me, map[string]any{"statusMessage": map[string]any{"message": map[string]any{"content": ""}}})
	if e.get(app, id).body["statusMessage"] != nil {
		t.Fatal("an empty content clears the status message")
	}
}

func TestGetPresencesByUserID(t *testing.T) {
	e := start(t)
	app := e.appToken()
	adele, alex := e.user("adele"), e.user("alex")
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Busy", "InACall", "PT1H"))
	unknown := "00000000-0000-0000-0000-00000000abcd"
	fabrikam := "" // a user of another tenant is reported as unknown
	for _, u := range e.srv.Directory().Tenants() {
		if u.ID != directory.DemoTenantID {
			if us := e.srv.Directory().Users(u.ID); len(us) > 0 {
				fabrikam = us[0].ID
			}
		}
	}
	ids := []string{adele, "alex@contoso.dev", unknown, adele}
	if fabrikam != "" {
		ids = append(ids, fabrikam)
	}
	r := e.call("POST", "/v1.0/communications/getPresencesByUserId", app, map[string]any{"ids": ids})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	vals, _ := r.body["value"].([]any)
	var got []string
	for _, v := range vals {
		m := v.(map[string]any)
		got = append(got, fmt.Sprint(m["id"], "=", m["availability"], "/", m["activity"]))
	}
	want := []string{adele + "=Offline/Offline", alex + "=Busy/InACall"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("value = %v, want %v (unknown, other-tenant and duplicate ids left out)", got, want)
	}
	many := make([]string, 650)
	for i := range many {
		many[i] = fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
	}
	many[0] = adele
	if r := e.call("POST", "/v1.0/communications/getPresencesByUserId", app, map[string]any{"ids": many}); r.status != 200 || len(r.body["value"].([]any)) != 1 {
		t.Fatalf("650 ids: %d %s", r.status, r.raw)
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	e := start(t)
	app := e.appToken()
	id := e.user("diego")
	e.must("POST", "/v1.0/users/"+id+"/presence/setPresence", app, setBody("Available", "Available", "PT1H"))
	e.must("POST", "/dev/clock/advance?by=PT6M", "", nil)
	before := e.get(app, id)
	if pair(before) != "Available/AvailableInactive" {
		t.Fatalf("before restart: %s", pair(before))
	}
	e.restart()
	after := e.get(app, id) // the old token still works: the signing key is kept
	if pair(after) != pair(before) || after.str("sequenceNumber") != before.str("sequenceNumber") {
		t.Fatalf("after restart %s %s, before %s %s", pair(after), after.str("sequenceNumber"), pair(before), before.str("sequenceNumber"))
	}
	e.fake.Add(4 * time.Minute)
	if got := pair(e.get(app, id)); got != "Away/Away" {
		t.Fatalf("the moved clock survives a restart: at 10 idle minutes %s, want Away/Away", got)
	}
}

// Outside dev mode there is no way to move time: /dev does not exist.
func TestNoDevClockOutsideDevMode(t *testing.T) {
	srv, err := presenced.New(presenced.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Directory: directory.DemoFile(0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	for _, req := range [][2]string{{"GET", "/dev/clock"}, {"POST", "/dev/clock/advance?by=PT10M"}} {
		r, err := http.NewRequest(req[0], srv.URL()+req[1], nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s outside dev mode: %d, want 404", req[0], req[1], resp.StatusCode)
		}
	}
}
