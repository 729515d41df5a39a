package presenced_test

import (
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/presence"
)

// TestDevClockStopsAtItsHorizon: P15000W twice used to wrap the clock's
// offset negative and run time backwards. A move past the horizon is
// refused with a Graph error that names the limit and how far the clock
// may still move, and changes nothing; a move to the horizon exactly is
// taken, and kept across a restart.
func TestDevClockStopsAtItsHorizon(t *testing.T) {
	e := start(t)
	app := e.appToken()
	adele := e.user("adele")
	e.must("POST", "/v1.0/users/"+adele+"/presence/setPresence", app, setBody("Busy", "InACall", "PT1H"))
	seq := e.get(app, adele).str("sequenceNumber")
	room := clock.Horizon.Sub(t0)
	for range 2 {
		r := e.call("POST", "/dev/clock/advance?by=P15000W", "", nil)
		want := "P15000W would take the clock past " + horizonText + ", the latest time it may show"
		if r.status != 400 || r.errCode() != "invalidRequest" || !strings.Contains(r.errMessage(), want) ||
			!strings.Contains(r.errMessage(), "by at most "+presence.FormatDuration(room)) {
			t.Fatalf("advance by P15000W: %d %s; want 400 saying %q and the room left", r.status, r.raw, want)
		}
		if now := e.call("GET", "/dev/clock", "", nil).str("now"); now != presence.FormatDateTime(t0) {
			t.Fatalf("a refused move moved the clock to %s", now)
		}
	}
	if got := e.get(app, adele).str("sequenceNumber"); got != seq {
		t.Fatalf("sequenceNumber %s after refused moves, was %s", got, seq)
	}

	// To the horizon exactly: taken (and, an hour being long past, the
	// session has expired).
	r := e.call("POST", "/dev/clock/advance", "", map[string]any{"by": presence.FormatDuration(room)})
	if r.status != 200 || r.str("now") != presence.FormatDateTime(clock.Horizon) {
		t.Fatalf("advance to the horizon: %d %s", r.status, r.raw)
	}
	app = e.appToken() // the old one expired some 235 years ago
	after := e.get(app, adele)
	if pair(after) != "Offline/Offline" || after.str("sequenceNumber") <= seq {
		t.Fatalf("at the horizon: %s, sequenceNumber %s after %s", pair(after), after.str("sequenceNumber"), seq)
	}
	r = e.call("POST", "/dev/clock/advance?by=PT1S", "", nil)
	if r.status != 400 || !strings.Contains(r.errMessage(), "by at most PT0S") {
		t.Fatalf("a second past the horizon: %d %s", r.status, r.raw)
	}
	e.restart()
	if now := e.srv.Clock().Now(); !now.Equal(clock.Horizon) {
		t.Fatalf("after a restart the clock reads %v, want %v", now, clock.Horizon)
	}
	app = e.appToken()
	e.must("POST", "/v1.0/users/"+adele+"/presence/setPresence", app, setBody("Away", "Away", "PT1H"))
	if got := e.get(app, adele); pair(got) != "Away/Away" || got.str("sequenceNumber") <= after.str("sequenceNumber") {
		t.Fatalf("a write at the horizon: %s, sequenceNumber %s after %s", pair(got), got.str("sequenceNumber"), after.str("sequenceNumber"))
	}
}

// horizonText is clock.Horizon as the error message writes it.
var horizonText = clock.Horizon.UTC().Format(time.RFC3339)
