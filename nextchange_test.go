package presenced_test

import (
	"testing"
	"time"
)

// A write that changes nothing visible can still bring the next
// time-caused change earlier; the notification must come at that instant,
// not at the one queued before the write.
func TestEarlierTimeCausedChangeAfterAnInvisibleWrite(t *testing.T) {
	e := start(t)
	app := e.appToken()
	alex := e.user("alex")
	rc := newReceiver(t)
	if r := e.subscribe(e.userToken("adele", ""), subBody(rc.srv.URL, []string{alex}, t0.Add(45*time.Minute))); r.status != 201 {
		t.Fatalf("subscribe: %d %s", r.status, r.raw)
	}
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Busy", "InACall", "PT1H"))
	rc.next()
	// The same pair, expiring in 5 minutes instead of an hour: invisible now.
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Busy", "InACall", "PT5M"))
	rc.none("a refresh that changes nothing visible")
	e.must("POST", "/dev/clock/advance?by=PT5M", "", nil)
	if r := rc.next(); r == nil {
		t.Fatal("no notification when the session expired")
	}
	if got := pair(e.get(app, alex)); got != "Offline/Offline" {
		t.Fatalf("after the expiry: %s", got)
	}
}
