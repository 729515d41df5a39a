package presenced_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/directory"
)

// explainOf reads GET /presenced/v1/users/{id}/presence/explain.
func (e *env) explainOf(token, user string) resp {
	e.t.Helper()
	r := e.call("GET", "/presenced/v1/users/"+user+"/presence/explain", token, nil)
	if r.status != 200 {
		e.t.Fatalf("explain: %d %s", r.status, r.raw)
	}
	return r
}

func (e *env) advance(by string) {
	e.t.Helper()
	e.must("POST", "/dev/clock/advance", "", map[string]any{"by": by})
}

func decided(r resp) (int, string) {
	d, _ := r.body["decidedBy"].(map[string]any)
	n, _ := d["rule"].(float64)
	return int(n), d["description"].(string)
}

func sub(r resp, key string) map[string]any { m, _ := r.body[key].(map[string]any); return m }

func list(r resp, key string) []map[string]any {
	var out []map[string]any
	for _, x := range r.body[key].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

func presencePair(r resp) string {
	p := sub(r, "presence")
	return p["availability"].(string) + "/" + p["activity"].(string)
}

// TestExplainEveryRule walks one user through every rule of semantics §3
// with the dev clock and checks that the explanation names the rule that
// decided, the sessions, the preferred presence, the meeting and the
// automatic replies in force, and the next change by itself.
func TestExplainEveryRule(t *testing.T) {
	e := start(t)
	app := e.appToken()
	adele := e.user("adele")
	base := "/v1.0/users/" + adele + "/presence/"

	t.Run("rule 1: no session", func(t *testing.T) {
		r := e.explainOf(app, adele)
		if rule, why := decided(r); rule != 1 || !strings.Contains(why, "No session is live") || presencePair(r) != "Offline/Offline" ||
			len(list(r, "sessions")) != 0 || r.body["nextChange"] != nil {
			t.Fatalf("%s", r.raw)
		}
	})

	e.must("POST", base+"setPresence", app, setBody("Available", "Available", "PT1H"))
	t.Run("rule 3: the session, and its fade next", func(t *testing.T) {
		r := e.explainOf(app, adele)
		rule, why := decided(r)
		s := list(r, "sessions")
		next := sub(r, "nextChange")
		if rule != 3 || !strings.Contains(why, directory.DemoDaemonName) || len(s) != 1 || s[0]["decides"] != true ||
			s[0]["applicationName"] != directory.DemoDaemonName || s[0]["inactiveDateTime"] != "2026-11-25T09:05:00.0000000Z" ||
			next["dateTime"] != "2026-11-25T09:05:00.0000000Z" || next["activity"] != "AvailableInactive" || next["decidedBy"] != "session" {
			t.Fatalf("%s", r.raw)
		}
		if _, ok := s[0]["sessionId"]; ok {
			t.Fatal("an application reader sees the session id with its label")
		}
	})
	t.Run("rule 3 after 10 idle minutes: faded to Away", func(t *testing.T) {
		e.advance("PT10M")
		r := e.explainOf(app, adele)
		now := list(r, "sessions")[0]["now"].(map[string]any)
		if rule, why := decided(r); rule != 3 || now["availability"] != "Away" || presencePair(r) != "Away/Away" || !strings.Contains(why, "faded") {
			t.Fatalf("%s", r.raw)
		}
		if next := sub(r, "nextChange"); next["availability"] != "Offline" || next["decidedBy"] != "noSession" {
			t.Fatalf("next change: %v", next)
		}
	})

	e.must("POST", base+"setPresence", app, setBody("Available", "Available", "PT1H"))
	start := time.Date(2026, 11, 25, 9, 12, 0, 0, time.UTC)
	e.createEvent(adele, event("Design review", start.Format("2006-01-02T15:04:05"), start.Add(30*time.Minute).Format("2006-01-02T15:04:05"), "UTC", nil))
	t.Run("rule 4: a meeting, before and while it runs", func(t *testing.T) {
		r := e.explainOf(app, adele)
		m := list(r, "meetings")
		next := sub(r, "nextChange")
		if rule, _ := decided(r); rule != 3 || len(m) != 1 || m[0]["inProgress"] != false || next["dateTime"] != "2026-11-25T09:12:00.0000000Z" ||
			next["activity"] != "InAMeeting" || next["decidedBy"] != "meeting" {
			t.Fatalf("%s", r.raw)
		}
		e.advance("PT2M")
		r = e.explainOf(app, adele)
		if rule, why := decided(r); rule != 4 || presencePair(r) != "Busy/InAMeeting" || list(r, "meetings")[0]["inProgress"] != true || !strings.Contains(why, "meeting") {
			t.Fatalf("%s", r.raw)
		}
	})
	t.Run("rule 3: a call beats the meeting", func(t *testing.T) {
		e.must("POST", base+"setPresence", app, setBody("Busy", "InACall", "PT1H"))
		r := e.explainOf(app, adele)
		if rule, why := decided(r); rule != 3 || presencePair(r) != "Busy/InACall" || !strings.Contains(why, "InACall beats it") {
			t.Fatalf("%s", r.raw)
		}
	})
	t.Run("rule 2: the preferred presence", func(t *testing.T) {
		e.must("POST", base+"setUserPreferredPresence", app, map[string]any{"availability": "DoNotDisturb", "activity": "DoNotDisturb", "expirationDuration": "PT1H"})
		r := e.explainOf(app, adele)
		pp := sub(r, "preferredPresence")
		if rule, _ := decided(r); rule != 2 || presencePair(r) != "DoNotDisturb/DoNotDisturb" || pp["inForce"] != true || pp["setDateTime"] != nil {
			t.Fatalf("%s", r.raw)
		}
	})
	t.Run("rule 5: automatic replies", func(t *testing.T) {
		e.must("POST", base+"clearUserPreferredPresence", app, map[string]any{})
		e.must("POST", base+"setPresence", app, setBody("Available", "Available", "PT1H"))
		e.advance("PT30M") // the meeting is over
		e.must("PATCH", "/v1.0/users/"+adele+"/mailboxSettings", app, map[string]any{"automaticRepliesSetting": map[string]any{"status": "alwaysEnabled", "internalReplyMessage": "On leave"}})
		r := e.explainOf(app, adele)
		o, ar := sub(r, "outOfOffice"), sub(r, "automaticReplies")
		if rule, _ := decided(r); rule != 3 || o["isOutOfOffice"] != true || o["automaticReplies"] != true || o["activityReplaced"] != true ||
			!strings.HasSuffix(presencePair(r), "/OutOfOffice") || ar["inForce"] != true || ar["message"] != "On leave" {
			t.Fatalf("%s", r.raw)
		}
	})
	t.Run("the owner sees more", func(t *testing.T) {
		own := e.explainOf(e.userToken("adele", ""), adele)
		other := e.explainOf(e.userToken("alex", ""), adele)
		if list(own, "sessions")[0]["sessionId"] != directory.DemoDaemonClientID {
			t.Errorf("owner: %s", own.raw)
		}
		if _, ok := list(other, "sessions")[0]["sessionId"]; ok {
			t.Errorf("another user sees the session id: %s", other.raw)
		}
		if me := e.call("GET", "/presenced/v1/me/presence/explain", e.userToken("adele", ""), nil); me.status != 200 || me.str("id") != adele {
			t.Errorf("/me: %d %s", me.status, me.raw)
		}
	})
	t.Run("same permissions as reading the presence", func(t *testing.T) {
		if r := e.call("GET", "/presenced/v1/users/"+adele+"/presence/explain", e.userToken("alex", "Presence.Read"), nil); r.status != 403 {
			t.Errorf("Presence.Read reads another user's explanation: %d", r.status)
		}
		if r := e.call("GET", "/presenced/v1/users/ADELE@contoso.dev/presence/explain", app, nil); r.status != 200 || r.str("id") != adele {
			t.Errorf("by userPrincipalName: %d %s", r.status, r.raw)
		}
		if r := e.call("GET", "/presenced/v1/users/nobody@contoso.dev/presence/explain", app, nil); r.status != 404 || r.errCode() != "itemNotFound" {
			t.Errorf("unknown user: %d %s", r.status, r.raw)
		}
		if r := e.call("GET", "/presenced/v1/users/"+directory.DemoFabrikamUserNestor+"/presence/explain", app, nil); r.status != 404 {
			t.Errorf("a user of an untrusted tenant: %d %s", r.status, r.raw)
		}
		if r := e.call("GET", "/presenced/v1/users/"+adele+"/presence/explain", "", nil); r.status != 401 {
			t.Errorf("no token: %d", r.status)
		}
	})
}

// TestExplainRecentChanges: the explanation lists a watched user's recent
// changes from the change log, newest first, with the sequenceNumbers
// readers saw — a time-caused change too.
func TestExplainRecentChanges(t *testing.T) {
	e := start(t)
	app := e.appToken()
	adele := e.user("adele")
	events, stop := e.openStream(t, app, "ids="+adele, "")
	defer stop()
	nextEvent(t, events) // the state now
	e.must("POST", "/v1.0/users/"+adele+"/presence/setPresence", app, setBody("Available", "Available", "PT1H"))
	nextEvent(t, events)
	e.advance("PT5M")
	faded := nextEvent(t, events)
	r := e.explainOf(app, adele)
	ch := list(r, "recentChanges")
	if len(ch) < 2 || ch[0]["activity"] != "AvailableInactive" || ch[0]["sequenceNumber"] != faded.data["sequenceNumber"] ||
		ch[0]["sequenceNumber"] != sub(r, "presence")["sequenceNumber"] || ch[1]["activity"] != "Available" || ch[0]["id"].(float64) <= ch[1]["id"].(float64) {
		t.Fatalf("recent changes: %v", ch)
	}
}

// TestExplainRuleEdges: the cases of semantics §3 beside the main path —
// a preferred presence without a session (rule 1 still decides), two
// sessions ranked by availability and then by the more specific activity
// (decides marks the winner), "appear offline" as rule 2, and an
// out-of-office event over a call (out of office, the activity stays).
func TestExplainRuleEdges(t *testing.T) {
	e := start(t)
	app := e.appToken()
	adele := e.user("adele")
	base := "/v1.0/users/" + adele + "/presence/"
	desk, phone := directory.DemoDaemonClientID+":desk", directory.DemoDaemonClientID+":phone"

	t.Run("rule 1 though a preferred presence is set", func(t *testing.T) {
		e.must("POST", base+"setUserPreferredPresence", app, map[string]any{"availability": "Busy", "activity": "Busy", "expirationDuration": "PT1H"})
		r := e.explainOf(app, adele)
		pp := sub(r, "preferredPresence")
		if rule, why := decided(r); rule != 1 || presencePair(r) != "Offline/Offline" || pp["inForce"] != false ||
			!strings.Contains(why, "preferred presence is shown only while at least one session is live") {
			t.Fatalf("%s", r.raw)
		}
		e.must("POST", base+"clearUserPreferredPresence", app, map[string]any{})
	})
	decides := func(r resp) []string {
		var out []string
		for _, s := range list(r, "sessions") {
			set := s["set"].(map[string]any)
			out = append(out, fmt.Sprintf("%s/%s:%v", set["availability"], set["activity"], s["decides"]))
		}
		return out
	}
	t.Run("rule 3: the higher availability decides", func(t *testing.T) {
		e.must("POST", base+"setPresence", app, setBodyFor(desk, "Available", "Available"))
		e.must("POST", base+"setPresence", app, setBodyFor(phone, "Busy", "InACall"))
		r := e.explainOf(app, adele)
		if rule, _ := decided(r); rule != 3 || presencePair(r) != "Busy/InACall" || !slices.Equal(decides(r), []string{"Available/Available:false", "Busy/InACall:true"}) {
			t.Fatalf("%v %s", decides(r), r.raw)
		}
	})
	t.Run("rule 3: on a tie, the more specific activity decides", func(t *testing.T) {
		e.must("POST", base+"setPresence", app, setBodyFor(desk, "Busy", "InAConferenceCall"))
		r := e.explainOf(app, adele)
		if rule, _ := decided(r); rule != 3 || presencePair(r) != "Busy/InAConferenceCall" || !slices.Equal(decides(r), []string{"Busy/InAConferenceCall:true", "Busy/InACall:false"}) {
			t.Fatalf("%v %s", decides(r), r.raw)
		}
	})
	t.Run("rule 2: appear offline", func(t *testing.T) {
		e.must("POST", base+"setUserPreferredPresence", app, map[string]any{"availability": "Offline", "activity": "OffWork", "expirationDuration": "PT1H"})
		r := e.explainOf(app, adele)
		if rule, _ := decided(r); rule != 2 || presencePair(r) != "Offline/OffWork" || sub(r, "preferredPresence")["inForce"] != true ||
			!slices.Equal(decides(r), []string{"Busy/InAConferenceCall:false", "Busy/InACall:false"}) {
			t.Fatalf("%v %s", decides(r), r.raw)
		}
		e.must("POST", base+"clearUserPreferredPresence", app, map[string]any{})
	})
	t.Run("rule 5: an out-of-office event over a call", func(t *testing.T) {
		e.createEvent(adele, event("Away at a conference", "2026-11-25T08:00:00", "2026-11-25T18:00:00", "UTC", map[string]any{"showAs": "oof"}))
		r := e.explainOf(app, adele)
		o, m := sub(r, "outOfOffice"), list(r, "meetings")
		if rule, _ := decided(r); rule != 3 || presencePair(r) != "Busy/InAConferenceCall" || o["isOutOfOffice"] != true || o["oofEvent"] != true ||
			o["automaticReplies"] != false || o["activityReplaced"] != false || !strings.Contains(o["description"].(string), "stays") ||
			len(m) != 1 || m[0]["showAs"] != "oof" || m[0]["inProgress"] != true {
			t.Fatalf("%s", r.raw)
		}
		if p := sub(r, "presence"); p["outOfOfficeSettings"].(map[string]any)["isOutOfOffice"] != true {
			t.Fatalf("the presence itself is not out of office: %v", p)
		}
	})
}
