package presence

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const otherApp = "1f35b044-4304-4eb5-af8d-a25642c64040"

// label is setPresence of session "<client>:<n>" for an hour.
func label(client string, n int) SetPresence {
	return SetPresence{SessionID: fmt.Sprintf("%s:%d", client, n), Pair: pInACall, Expiration: time.Hour}
}

// fill applies setPresence for sessions 0..n-1 of client at t0+at.
func fill(t *testing.T, f Facts, client string, n int, at_ time.Duration, l SessionLimits) Facts {
	t.Helper()
	for i := range n {
		c := label(client, i)
		c.Limits = l
		next, _, err := Apply(f, c, at(at_))
		if err != nil {
			t.Fatalf("session %d of %s: %v", i, client, err)
		}
		f = next
	}
	return f
}

func TestSessionLimits(t *testing.T) {
	over := func(client string, n int, l SessionLimits) SetPresence { c := label(client, n); c.Limits = l; return c }
	t.Run("an application holds at most 16 live sessions per user; the 17th is a conflict naming the limit", func(t *testing.T) {
		f := fill(t, Facts{}, app, 16, 0, SessionLimits{})
		runSteps(t, f, []step{{at: time.Minute, cmd: label(app, 16), err: Conflict,
			msg: "already has 16 live presence sessions of application " + app + "; 16 is the limit per application per user"}})
	})
	t.Run("refreshing a session at the cap is allowed", func(t *testing.T) {
		f := fill(t, Facts{}, app, 16, 0, SessionLimits{})
		runSteps(t, f, []step{{at: time.Minute, cmd: SetPresence{SessionID: app + ":3", Pair: pPresenting, Expiration: time.Hour}, changed: true, pair: pPresenting}})
	})
	t.Run("another application still writes when one is at its cap", func(t *testing.T) {
		f := fill(t, Facts{}, app, 16, 0, SessionLimits{})
		f = fill(t, f, otherApp, 16, time.Minute, SessionLimits{})
		if len(f.Sessions) != 32 {
			t.Fatalf("%d sessions", len(f.Sessions))
		}
	})
	t.Run("the client id is compared case-insensitively", func(t *testing.T) {
		f := fill(t, Facts{}, app, 16, 0, SessionLimits{})
		runSteps(t, f, []step{{at: time.Minute, cmd: SetPresence{SessionID: strings.ToUpper(app), Pair: pInACall}, err: Conflict, msg: "limit per application"}})
	})
	t.Run("the cap per user counts every application's sessions", func(t *testing.T) {
		l := SessionLimits{PerApp: 3, PerUser: 5}
		f := fill(t, Facts{}, app, 3, 0, l)
		f = fill(t, f, otherApp, 2, 0, l)
		runSteps(t, f, []step{
			{at: time.Minute, cmd: over(otherApp, 2, l), err: Conflict, msg: "already has 5 live presence sessions; 5 is the limit per user, for all applications together"},
			{at: time.Minute, cmd: over(app, 3, l), err: Conflict, msg: "3 is the limit per application per user"},
		})
	})
	t.Run("expired sessions do not count, and are dropped by the write", func(t *testing.T) {
		f := fill(t, Facts{}, app, 16, 0, SessionLimits{})
		runSteps(t, f, []step{{at: time.Hour, cmd: label(app, 99), changed: true, check: func(t *testing.T, f Facts) {
			if len(f.Sessions) != 1 {
				t.Fatalf("%d sessions after all expired", len(f.Sessions))
			}
		}}})
	})
	t.Run("zero or negative caps are the defaults", func(t *testing.T) {
		f := fill(t, Facts{}, app, 16, 0, SessionLimits{PerApp: -1, PerUser: -1})
		runSteps(t, f, []step{{at: 0, cmd: over(app, 16, SessionLimits{PerApp: -1}), err: Conflict, msg: "16 is the limit"}})
	})
	t.Run("an application adding 15,000 labels stops at its cap", func(t *testing.T) {
		var f Facts
		refused := 0
		for i := range 15000 {
			next, _, err := Apply(f, label(app, i), at(time.Duration(i)*time.Millisecond))
			if ErrorCode(err) == Conflict {
				refused++
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			f = next
		}
		if len(f.Sessions) != DefaultSessionsPerApp || refused != 15000-DefaultSessionsPerApp {
			t.Fatalf("%d sessions kept, %d writes refused", len(f.Sessions), refused)
		}
		if _, _, err := Apply(f, SetPresence{SessionID: otherApp, Pair: pAvailable}, at(time.Minute)); err != nil {
			t.Fatalf("another application after the attack: %v", err)
		}
	})
}

func TestSessionLimitsValidate(t *testing.T) {
	for _, l := range []SessionLimits{{}, {1, 1}, {16, 64}, {MaxSessionLimit, MaxSessionLimit}} {
		if err := l.Validate(); err != nil {
			t.Errorf("%+v: %v", l, err)
		}
	}
	for _, l := range []SessionLimits{{-1, 0}, {0, -1}, {MaxSessionLimit + 1, 0}, {0, MaxSessionLimit + 1}} {
		if err := l.Validate(); err == nil {
			t.Errorf("%+v accepted", l)
		}
	}
}

// BenchmarkSetPresenceAtTheCap: what a write costs a user whose
// application is at its cap: refused (a new label) or taken (a refresh).
// Without the cap an application grew the user to 15,000 sessions, and
// each write cost more than the last.
func BenchmarkSetPresenceAtTheCap(b *testing.B) {
	var f Facts
	for i := range DefaultSessionsPerApp {
		f, _, _ = Apply(f, label(app, i), at(0))
	}
	for _, c := range []struct {
		name string
		cmd  SetPresence
	}{{"refused", label(app, 99)}, {"refresh", label(app, 3)}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				_, _, _ = Apply(f, c.cmd, at(time.Minute))
			}
		})
	}
}
