package presenced_test

import (
	"net/url"
	"testing"

	"github.com/presenced/presenced/graphapi"
)

// A user deleted while a stream's client was away: the client comes back
// with the same ids and its Last-Event-ID (EventSource does both by
// itself). The resumed stream tells it the user was removed — as the open
// stream would have — and goes on with the others; before, it was refused
// as a whole (404) at every try, and the board stayed "Reconnecting…" for
// good. A new stream naming an unknown user is still refused, and a bad id
// still is one on a resumed stream too.
func TestStreamResumedAfterAUserWasDeleted(t *testing.T) {
	e := startWith(t, orgFile())
	alex, megan := e.user("alex"), e.user("megan")
	app := e.appToken()
	ch, closeStream := e.openStream(t, app, "ids="+alex+","+megan, "")
	events(t, ch, 2)
	e.must("POST", "/v1.0/users/"+megan+"/presence/setPresence", app, setBody("Busy", "InACall", "PT4H"))
	last := nextEvent(t, ch).id
	closeStream()

	if r := e.call("DELETE", "/v1.0/users/"+alex, e.adminToken(), nil); r.status != 204 {
		t.Fatalf("DELETE alex: %d %s", r.status, r.raw)
	}
	e.must("POST", "/v1.0/users/"+megan+"/presence/setPresence", app, setBody("Away", "Away", "PT4H"))

	t.Run("resumed: removed, then the others go on", func(t *testing.T) {
		ch, closeStream := e.openStream(t, app, "ids="+alex+","+megan, last)
		defer closeStream()
		if got := events(t, ch, 2); got != "removed:"+alex+" presence:Away" {
			t.Fatalf("resumed: %s; want alex removed, then megan's change while away", got)
		}
		e.must("POST", "/v1.0/users/"+megan+"/presence/setPresence", app, setBody("Busy", "InACall", "PT4H"))
		if got := events(t, ch, 1); got != "presence:InACall" {
			t.Fatalf("then: %s", got)
		}
	})
	t.Run("resumed with nobody left: removed, then end", func(t *testing.T) {
		ch, closeStream := e.openStream(t, app, "ids="+alex, last)
		defer closeStream()
		if got := events(t, ch, 2); got != "removed:"+alex+" end:" {
			t.Fatalf("resumed: %s; want alex removed, then end", got)
		}
	})

	for _, c := range []struct {
		name, ids, last string
		status          int
	}{
		{"new stream naming a deleted user", alex + "," + megan, "", 404},
		{"resumed with a malformed id", "not an id!," + megan, last, 400},
		{"resumed with a malformed Last-Event-ID", megan, "x", 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := url.Values{"ids": {c.ids}}
			r := e.call("GET", graphapi.StreamPath+"?"+q.Encode(), app, nil, "Last-Event-ID", c.last)
			if r.status != c.status {
				t.Fatalf("%d %s; want %d", r.status, r.raw, c.status)
			}
		})
	}
}
