package presenced_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/directory"
)

// TestNoApplicationCanLockAUserOut: one application used to add 15,000
// session labels to a user, until the user's record outgrew what the
// engine takes and every other application's write failed with 503. An
// application may hold 16 live sessions per user (and all together 64), a
// write over the cap is refused with 409 naming the limit, and another
// application still writes.
func TestNoApplicationCanLockAUserOut(t *testing.T) {
	e := start(t)
	attacker := e.appToken() // the demo daemon
	adele := e.user("adele")
	other := e.userToken("adele", "") // adele through the demo client: another application
	path := "/v1.0/users/" + adele + "/presence/setPresence"
	label := func(i int) map[string]any {
		return map[string]any{"sessionId": fmt.Sprintf("%s:device-%d", directory.DemoDaemonClientID, i), "availability": "Available", "activity": "Available", "expirationDuration": "PT4H"}
	}
	for i := range 16 {
		e.must("POST", path, attacker, label(i))
	}
	refused, began := 0, time.Now()
	for i := 16; i < 1000; i++ {
		r := e.call("POST", path, attacker, label(i))
		if r.status != 409 || r.errCode() != "conflict" ||
			!strings.Contains(r.errMessage(), "already has 16 live presence sessions of application "+directory.DemoDaemonClientID+"; 16 is the limit per application per user") {
			t.Fatalf("label %d over the cap: %d %s", i, r.status, r.raw)
		}
		refused++
	}
	took := time.Since(began) // measured, not asserted
	// Refreshing a session it has is always allowed.
	e.must("POST", path, attacker, label(3))
	// Another application writes, and is seen.
	e.must("POST", "/v1.0/me/presence/setPresence", other, map[string]any{"sessionId": directory.DemoClientID, "availability": "DoNotDisturb", "activity": "Presenting"})
	if got := pair(e.get(attacker, adele)); got != "DoNotDisturb/Presenting" {
		t.Fatalf("after the other application's write: %s", got)
	}
	// Expired sessions do not count: four hours later the attacker's are
	// gone, and it may write again.
	e.fake.Add(4*time.Hour + time.Second)
	attacker = e.appToken()
	e.must("POST", path, attacker, label(999))
	t.Logf("%d writes over the cap refused, %v each (the whole HTTP request, one client)", refused, took/time.Duration(refused))
}

// TestSessionCapsAreConfigurable: the caps come from presenced.Config
// (serve's --sessions-per-app and --sessions-per-user), and the cap per
// user counts every application's sessions.
func TestSessionCapsAreConfigurable(t *testing.T) {
	e := startWithConfig(t, func(c *presenced.Config) { c.SessionsPerApp, c.SessionsPerUser = 2, 3 })
	daemon, client := e.appToken(), e.userToken("adele", "")
	adele := e.user("adele")
	body := func(sid string) map[string]any {
		return map[string]any{"sessionId": sid, "availability": "Busy", "activity": "InACall"}
	}
	path := "/v1.0/users/" + adele + "/presence/setPresence"
	e.must("POST", path, daemon, body(directory.DemoDaemonClientID+":a"))
	e.must("POST", path, daemon, body(directory.DemoDaemonClientID+":b"))
	if r := e.call("POST", path, daemon, body(directory.DemoDaemonClientID)); r.status != 409 || !strings.Contains(r.errMessage(), "2 is the limit per application per user") {
		t.Fatalf("a third session of one application: %d %s", r.status, r.raw)
	}
	e.must("POST", path, client, body(directory.DemoClientID))
	if r := e.call("POST", path, client, body(directory.DemoClientID+":x")); r.status != 409 || !strings.Contains(r.errMessage(), "already has 3 live presence sessions; 3 is the limit per user") {
		t.Fatalf("a fourth session of the user: %d %s", r.status, r.raw)
	}
	for _, bad := range []presenced.Config{{SessionsPerApp: -1}, {SessionsPerUser: 100000}} {
		bad.DataDir = t.TempDir()
		bad.Dev = true
		if _, err := presenced.New(bad); err == nil || !strings.Contains(err.Error(), "sessions") {
			t.Errorf("New(%+v) = %v, want an error about the session caps", bad, err)
		}
	}
}
