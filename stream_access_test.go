package presenced_test

import (
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/directory"
)

// streamEnds waits for the stream's final event and its end.
func streamEnds(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	ev := nextEvent(t, ch)
	select {
	case extra, ok := <-ch:
		if ok {
			t.Fatalf("after %+v the stream went on: %+v", ev, extra)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the stream stayed open after %+v", ev)
	}
	return ev
}

// An open stream is held to what a new request would be allowed: when the
// directory stops the reader seeing a user (trust revoked), that user is
// dropped from the stream with event: removed and nothing more of theirs is
// sent, while the other users go on.
func TestStreamDropsAUserNoLongerVisible(t *testing.T) {
	e := startWith(t, demoWithTrust(t, true, true))
	srv := e.srv
	contosoApp := e.appToken()
	fabrikamApp := e.tokenAt(directory.DemoFabrikamTenantID, directory.DemoFabrikamDaemonClientID, directory.DemoFabrikamDaemonSecret)
	nestor, alex := directory.DemoFabrikamUserNestor, e.user("alex")
	ch, closeStream := e.openStream(t, contosoApp, "ids=nestor@fabrikam.dev,"+alex, "")
	defer closeStream()
	events(t, ch, 2)

	replaceDirectory(t, srv, demoWithTrust(t, true, false)) // Fabrikam blocks Contoso
	e.must("POST", "/v1.0/users/"+nestor+"/presence/setPresence", fabrikamApp, setBodyFor(directory.DemoFabrikamDaemonClientID, "DoNotDisturb", "Presenting"))
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", contosoApp, setBody("Busy", "InACall", "PT1H"))
	if got := events(t, ch, 2); got != "removed:"+nestor+" presence:InACall" {
		t.Fatalf("after trust was revoked: %s; want nestor removed and only alex's change", got)
	}
	// Trust restored: the stream does not take nestor back (a new one may).
	replaceDirectory(t, srv, demoWithTrust(t, true, true))
	e.must("POST", "/v1.0/users/"+nestor+"/presence/setPresence", fabrikamApp, setBodyFor(directory.DemoFabrikamDaemonClientID, "Away", "Away"))
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", contosoApp, setBody("Away", "Away", "PT1H"))
	if got := events(t, ch, 1); got != "presence:Away" {
		t.Fatalf("after trust came back: %s", got)
	}
}

func setBodyFor(session, avail, act string) map[string]any {
	b := setBody(avail, act, "PT1H")
	b["sessionId"] = session
	return b
}

// A stream whose reader no longer exists (its application, or its
// signed-in user, was removed from the directory) ends with event: end
// naming the reason.
func TestStreamEndsWhenItsReaderIsRemoved(t *testing.T) {
	without := func(t *testing.T, app, user string) *directory.File {
		tenants, users, apps := directory.DemoData()
		var keepU []directory.UserEntry
		for _, u := range users {
			if u.ID != user {
				keepU = append(keepU, u)
			}
		}
		var keepA []directory.App
		for _, a := range apps {
			if a.ClientID != app {
				keepA = append(keepA, a)
			}
		}
		return &directory.File{Tenants: tenants, Users: keepU, Applications: keepA}
	}
	for _, c := range []struct {
		name        string
		token       func(e *env) string
		app, user   string
		wantMessage string
	}{
		{"application removed", func(e *env) string { return e.appToken() }, directory.DemoDaemonClientID, "", directory.DemoDaemonClientID},
		{"signed-in user removed", func(e *env) string { return e.userToken("adele", "") }, "", directory.DemoUserAdele, directory.DemoUserAdele},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := start(t)
			ch, closeStream := e.openStream(t, c.token(e), "ids=alex@contoso.dev", "")
			defer closeStream()
			nextEvent(t, ch)
			replaceDirectory(t, e.srv, without(t, c.app, c.user))
			ev := streamEnds(t, ch)
			if ev.kind != "end" || ev.data["reason"] != "tokenInvalid" {
				t.Fatalf("final event %+v; want end, reason tokenInvalid", ev)
			}
			if msg, _ := ev.data["message"].(string); !strings.Contains(msg, c.wantMessage) {
				t.Fatalf("message %q does not name %s", msg, c.wantMessage)
			}
		})
	}
}

// An open stream ends when its token expires, with event: end naming the
// reason; a client that reconnects with a new token and its last event id
// misses nothing.
func TestStreamEndsWhenItsTokenExpires(t *testing.T) {
	e := start(t)
	alex := e.user("alex")
	ch, closeStream := e.openStream(t, e.appToken(), "ids="+alex, "")
	defer closeStream()
	last := nextEvent(t, ch).id
	e.fake.Add(61 * time.Minute) // tokens live an hour
	ev := streamEnds(t, ch)
	if ev.kind != "end" || ev.data["reason"] != "tokenExpired" {
		t.Fatalf("final event %+v; want end, reason tokenExpired", ev)
	}
	app := e.appToken()
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Busy", "InACall", "PT1H"))
	ch, closeStream = e.openStream(t, app, "ids="+alex, last)
	defer closeStream()
	if got := events(t, ch, 1); got != "presence:InACall" {
		t.Fatalf("after reconnecting: %s", got)
	}
}
