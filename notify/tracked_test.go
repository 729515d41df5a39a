package notify_test

import (
	"context"
	"testing"
	"time"

	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/presence"
)

// A write is logged exactly while its user is watched or kept — the hub's
// shortcut for a server where nobody watches or keeps anyone (its count
// of both at 0) must not skip one that is: each Watch and Keep counts
// from the first user, and the count goes back to 0 when the last
// release (and a watch's linger) is over.
func TestHubLogsWhileWatchedOrKept(t *testing.T) {
	e := enginetest.Open(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, c, fake, hub := hubOnEngine(t, ctx, e, time.Minute)
	go hub.Run(ctx)
	u := core.UserRef{TenantID: "t", UserID: "ursula"}
	v := core.UserRef{TenantID: "t", UserID: "victor"}
	pairs := []presence.Pair{{Availability: "Busy", Activity: "InACall"}, {Availability: "Away", Activity: "Away"}}
	n := map[core.UserRef]int{}
	write := func(who core.UserRef) { // a change, every time
		t.Helper()
		fake.Add(time.Second)
		n[who]++
		if _, _, err := c.Do(ctx, who, presence.SetPresence{SessionID: "app", Pair: pairs[n[who]%2], Expiration: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	logged := func(who core.UserRef) int {
		t.Helper()
		es, err := hub.Recent(ctx, who, 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	expect := func(step string, who core.UserRef, want int) {
		t.Helper()
		if got := logged(who); got != want {
			t.Fatalf("%s: %s has %d records, want %d", step, who.UserID, got, want)
		}
	}

	write(u)
	write(v)
	expect("nobody watches", u, 0)
	expect("nobody watches", v, 0)

	release, err := hub.Watch(ctx, []core.UserRef{u})
	if err != nil {
		t.Fatal(err)
	}
	expect("watched: its presence then", u, 1)
	write(u)
	write(v)
	expect("a watched user's write", u, 2)
	expect("another user's write", v, 0)
	release()
	write(u)
	expect("released, lingering", u, 3)
	fake.Add(2 * time.Minute) // the linger is over (Run drops the watch)
	write(u)
	expect("the linger over", u, 3)

	releaseKeep := hub.Keep([]core.UserRef{v})
	write(v)
	expect("kept", v, 1)
	releaseKeep()
	write(v)
	expect("no longer kept", v, 1)
	write(u)
	expect("nobody watches again", u, 3)
}
