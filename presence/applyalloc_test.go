package presence

import (
	"testing"
	"time"
)

// A setPresence that adds a session copies the user's sessions once, with
// room for the new one: Clone's copy, exactly as long, was copied again by
// the append (two allocations where one does). One that updates a session
// copies them once, without room to spare.
func TestApplyCopiesTheSessionsOnce(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	const app = "6dcddc99-5a7f-430c-a555-551d652a37b1"
	f := Facts{Sessions: []Session{{ID: app + ":a", Pair: Pair{Availability: "Available", Activity: "Available"},
		RefreshedAt: now, ExpiresAt: now.Add(time.Hour)}}}
	add := &SetPresence{SessionID: app + ":b", Pair: Pair{Availability: "Busy", Activity: "InACall"}, Expiration: time.Hour}
	update := &SetPresence{SessionID: app + ":a", Pair: Pair{Availability: "Busy", Activity: "InACall"}, Expiration: time.Hour}
	for _, c := range []struct {
		name  string
		cmd   *SetPresence
		total int // sessions after
		room  int // cap of next's sessions
	}{{"add", add, 2, 2}, {"update", update, 1, 1}} {
		next, _, err := Apply(f, c.cmd, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(next.Sessions) != c.total || cap(next.Sessions) != c.room {
			t.Errorf("%s: %d sessions in room for %d, want %d in %d", c.name, len(next.Sessions), cap(next.Sessions), c.total, c.room)
		}
		if &next.Sessions[0] == &f.Sessions[0] {
			t.Errorf("%s: next shares f's sessions", c.name)
		}
		if n := testing.AllocsPerRun(100, func() { _, _, _ = Apply(f, c.cmd, now) }); n != 1 {
			t.Errorf("%s: %v allocations, want 1 (the sessions' copy)", c.name, n)
		}
	}
	if f.Sessions[0].Pair.Availability != "Available" || len(f.Sessions) != 1 {
		t.Errorf("Apply changed f: %+v", f.Sessions)
	}
}
