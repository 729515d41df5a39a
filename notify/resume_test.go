package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/notify"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// A resume replays a user's changes for as long as each record names the
// one before it as its prev, and marks the user missing at the first that
// does not: one that names another, one that names none (a record from
// before records had prev), or one whose predecessor the log no longer
// has. A user never logged chains from zero.
func TestResumeFollowsEachUsersChain(t *testing.T) {
	e := enginetest.Open(t)
	ctx := context.Background()
	l, _, _, hub := hubOnEngine(t, ctx, e, 0)
	st := func(n int64) *presence.Stamp { return &presence.Stamp{At: n} }
	add := func(user string, seq int64, prev *presence.Stamp) {
		u := core.UserRef{TenantID: "t", UserID: user}
		b, _ := json.Marshal(notify.Change{TenantID: "t", UserID: user, Seq: presence.Stamp{At: seq}, Prev: prev})
		if _, err := l.Append(ctx, notify.Subject(u), b); err != nil {
			t.Fatal(err)
		}
	}
	add("chain", 10, st(0))   // 1
	add("other", 20, st(5))   // 2
	add("broken", 30, st(0))  // 3
	add("old", 40, nil)       // 4: written before records had prev
	add("chain", 11, st(10))  // 5
	add("broken", 31, st(29)) // 6: a change between 30 and 31 was never logged
	add("broken", 32, st(31)) // 7
	add("new", 50, st(0))     // 8: never logged before: chains from zero
	add("old", 41, st(40))    // 9
	add("chain", 12, st(11))  // 10
	add("other", 21, st(20))  // 11

	names := []string{"chain", "other", "broken", "old", "new", "silent"}
	users := make([]core.UserRef, len(names))
	for i, n := range names {
		users[i] = core.UserRef{TenantID: "t", UserID: n}
	}
	for _, tc := range []struct {
		after         uint64
		replayed, mis string
	}{
		// From 0: "other" starts with prev 5, not zero; "old" names none.
		{0, "chain:10 broken:30 chain:11 new:50 chain:12", "other broken old"},
		// From 4: each user's base is its last record at or before 4.
		{4, "chain:11 new:50 old:41 chain:12 other:21", "broken"},
		{7, "new:50 old:41 chain:12 other:21", ""},
		{11, "", ""},
		{12, "", "chain other broken old new silent"}, // beyond the end
	} {
		r, err := hub.Resume(ctx, users, tc.after)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		if err := r.Replay(ctx, func(e notify.Entry) error {
			got = append(got, fmt.Sprintf("%s:%d", e.Change.UserID, e.Change.Seq.At))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var missing []string
		for i, m := range r.Missing() {
			if m {
				missing = append(missing, names[i])
			}
		}
		if g, m := strings.Join(got, " "), strings.Join(missing, " "); g != tc.replayed || m != tc.mis || r.Head() != 11 {
			t.Errorf("after %d: replayed %q, missing %q, head %d; want %q, %q, 11", tc.after, g, m, r.Head(), tc.replayed, tc.mis)
		}
	}
}

// A write whose writer could not log it, while nobody watched its user
// (the log had no leader as a subscription changed hands), is logged by
// the next write that followed it: from the facts it made, without a
// prev (what it followed is unknown there), before the next write's own
// record — so a subscriber reading the log misses no change, and a stream
// resuming across it is told to start over for that user.
func TestTheNextWriteLogsAChangeItsWriterCouldNot(t *testing.T) {
	e := enginetest.Open(t)
	ctx := context.Background()
	_, c, fake, hub := hubOnEngine(t, ctx, e, 0)
	u := core.UserRef{TenantID: "t", UserID: "alex"}
	set := func(avail, act string) presence.Stamp {
		fake.Add(time.Second)
		s, _, err := c.Do(ctx, u, presence.SetPresence{SessionID: "app", Pair: presence.Pair{Availability: avail, Activity: act}, Expiration: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return s.Seq
	}
	release := hub.Keep([]core.UserRef{u})
	a := set("Busy", "InACall")
	release()
	b := set("Away", "Away") // not logged: as if its writer's append had failed
	hub.Keep([]core.UserRef{u})
	cs := set("Available", "Available")

	entries, err := hub.Recent(ctx, u, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		prev := "none"
		if p := e.Change.Prev; p != nil {
			prev = p.String()
		}
		got = append(got, fmt.Sprintf("%s %s after %s", e.Change.Seq, e.Change.View.Pair.Availability, prev))
	}
	want := []string{
		a.String() + " Busy after " + (presence.Stamp{}).String(),
		b.String() + " Away after none",
		cs.String() + " Available after " + b.String(),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the log holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// hubOnEngine is a hub over e's change log and presence bucket, with a core
// on a fake clock at 2026-11-25 09:00 UTC (linger 0: the hub's default).
func hubOnEngine(t *testing.T, ctx context.Context, e *natsstore.Engine, linger time.Duration) (store.Log, *core.Core, *clock.Fake, *notify.Hub) {
	t.Helper()
	l, err := e.Log(ctx, "CHANGES", natsstore.LogOptions{Subjects: []string{"chg.>"}, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := e.Bucket(ctx, "presence")
	if err != nil {
		t.Fatal(err)
	}
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	c := core.New(core.Options{KV: kv, Clock: fake})
	hub := notify.NewHub(notify.HubOptions{Core: c, Log: l, Fanout: notify.NewFanout(notify.FanoutOptions{Log: l}), Clock: fake, Linger: linger})
	return l, c, fake, hub
}
