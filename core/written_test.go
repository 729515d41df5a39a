package core_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/presence"
)

// A write's snapshot (OnWrite's, OnChange's and Do's) carries the view
// after it and the sequenceNumber before it as ApplyView computed them:
// they must be what Aggregate and Sequence give at the write's instant —
// across time-caused changes between writes (a session faded, one
// expired: the sequenceNumber before a write is then not the stored one)
// and after the clock stepped back behind the user's last write.
func TestWriteSnapshotAsComputed(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	c := core.New(core.Options{KV: bucket(t), Clock: fake})
	var got int
	check := func(where string, s core.Snapshot) {
		t.Helper()
		if want := presence.Aggregate(s.Facts, s.At); !s.View.Equal(want) {
			t.Errorf("%s: view %+v, want %+v", where, s.View, want)
		}
		if want := presence.Sequence(s.Facts, s.At); s.Seq != want {
			t.Errorf("%s: seq %+v, want %+v", where, s.Seq, want)
		}
		if want := presence.Sequence(s.BeforeFacts, s.BeforeAt); !s.HasBefore || s.Before != want {
			t.Errorf("%s: before %+v (known %v), want %+v", where, s.Before, s.HasBefore, want)
		}
	}
	c.OnWrite(func(s core.Snapshot) { got++; check("OnWrite", s) })
	ctx := context.Background()
	steps := []struct {
		advance time.Duration // the clock moves first (negative: back)
		cmd     presence.Command
	}{
		{0, set("a", "Available", "Available")},
		{time.Minute, set("b", "Busy", "InACall")},
		{time.Minute, set("b", "Available", "Available")},
		{10 * time.Minute, set("c", "Away", "Away")}, // a and b faded to Away before it
		{time.Minute, set("a", "Busy", "InACall")},
		{-30 * time.Minute, set("c", "Available", "Available")}, // before the last write
		{-time.Minute, set("a", "DoNotDisturb", "Presenting")},
		{2 * time.Hour, set("d", "Available", "Available")}, // every other session expired
		{time.Second, presence.ClearPresence{SessionID: app + ":d"}},
		{time.Second, set("e", "Busy", "InACall")},
	}
	for i, st := range steps {
		fake.Add(st.advance)
		snap, _, err := c.Do(ctx, alice, st.cmd)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if want := presence.Aggregate(snap.Facts, snap.At); !snap.View.Equal(want) {
			t.Errorf("step %d: Do's view %+v, want %+v", i, snap.View, want)
		}
	}
	if got != len(steps) {
		t.Fatalf("OnWrite called %d times, want %d", got, len(steps))
	}
}

// Callbacks registered while writes run: each write calls every callback
// registered before it began, and a registration never changes the list
// a running write is calling (run with -race).
func TestHooksRegisteredWhileWriting(t *testing.T) {
	c := core.New(core.Options{KV: bucket(t), Clock: clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))})
	ctx := context.Background()
	var mu sync.Mutex
	calls := map[int]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := core.UserRef{TenantID: alice.TenantID, UserID: fmt.Sprintf("writer-%d", g)}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.Write(ctx, u, set("a", []string{"Busy", "Away"}[i%2], []string{"InACall", "Away"}[i%2])); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for k := range 20 {
		c.OnWrite(func(core.Snapshot) { mu.Lock(); calls[k]++; mu.Unlock() })
		c.OnChange(func(core.Snapshot) {})
	}
	mu.Lock()
	before := calls[19]
	mu.Unlock()
	if _, err := c.Write(ctx, alice, set("a", "Busy", "InACall")); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if calls[19] <= before {
		t.Fatalf("the last callback registered was not called by a later write (%d calls, %d before)", calls[19], before)
	}
	for k := range 19 {
		if calls[k] < calls[19] {
			t.Errorf("callback %d called %d times, fewer than the one registered after it (%d)", k, calls[k], calls[19])
		}
	}
}

// TestDoSnapshotOwnsItsFacts: a write builds its facts' sessions in a
// buffer the next write reuses; Do's snapshot must not share it. Each
// Do's snapshot, kept, still holds its own sessions after many more
// writes (of other users and the same one), and each callback saw the
// facts of its own write.
func TestDoSnapshotOwnsItsFacts(t *testing.T) {
	c := core.New(core.Options{KV: bucket(t), Clock: clock.Real{}})
	ctx := context.Background()
	c.OnWrite(func(s core.Snapshot) {
		if i := sessionIndex(s.Facts, app+":"+s.User.UserID[:1]); i < 0 {
			t.Errorf("OnWrite of %s: no session %s in %+v", s.User.UserID, app+":"+s.User.UserID[:1], s.Facts.Sessions)
		}
	})
	type kept struct {
		snap core.Snapshot
		want []presence.Session
	}
	var keep []kept
	for i := range 40 {
		u := core.UserRef{TenantID: alice.TenantID, UserID: fmt.Sprintf("%c-user", 'a'+i%8)}
		pair := [][2]string{{"Available", "Available"}, {"Busy", "InACall"}, {"Away", "Away"}}[i%3]
		snap, _, err := c.Do(ctx, u, presence.SetPresence{SessionID: app + ":" + u.UserID[:1], Pair: presence.Pair{Availability: pair[0], Activity: pair[1]}, Expiration: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		keep = append(keep, kept{snap, []presence.Session{{ID: app + ":" + u.UserID[:1], Pair: presence.Pair{Availability: pair[0], Activity: pair[1]}}}})
	}
	for i, k := range keep {
		if ss := k.snap.Facts.Sessions; len(ss) != 1 || ss[0].ID != k.want[0].ID || ss[0].Pair != k.want[0].Pair || ss[0].RefreshedAt.IsZero() {
			t.Errorf("Do %d's snapshot, after later writes: %v, want %v", i, ss, k.want)
		}
	}
}

func sessionIndex(f presence.Facts, id string) int {
	for i, s := range f.Sessions {
		if s.ID == id {
			return i
		}
	}
	return -1
}
