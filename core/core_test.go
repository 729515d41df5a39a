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
	"github.com/presenced/presenced/store"
)

const app = "6dcddc99-5a7f-430c-a555-551d652a37b1"

var alice = core.UserRef{TenantID: "a5036a1a-166f-4ed5-bf5a-e0ccc1602604", UserID: "3c16299b-70fb-4ef1-ac29-a2c2738ae1e3"}

func bucket(t testing.TB) store.KV { return core.OpenTestBucket(t) }

// set is setPresence of one of app's sessions. The caps on sessions are
// the domain's business; these tests write up to 200 sessions to one user
// to check concurrency, so they raise the caps.
func set(label string, avail, act string) presence.SetPresence {
	return presence.SetPresence{SessionID: app + ":" + label, Pair: presence.Pair{Availability: avail, Activity: act}, Expiration: time.Hour,
		Limits: presence.SessionLimits{PerApp: presence.MaxSessionLimit, PerUser: presence.MaxSessionLimit}}
}

// Concurrent writes to one user from many goroutines: none is lost (each
// creates its own session, so all must be there at the end).
func TestConcurrentWritesToOneUserAreAllKept(t *testing.T) {
	kv := bucket(t)
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	c := core.New(core.Options{KV: kv, Clock: fake})
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				if _, _, err := c.Do(ctx, alice, set(fmt.Sprintf("g%d-%d", g, i), "Available", "Available")); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	snap, err := c.Read(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(snap.Facts.Sessions); n != 200 {
		t.Fatalf("%d sessions, want 200", n)
	}
}

// Two cores over one bucket stand for two nodes: each write is applied to
// what is really stored (the revision check catches the stale cache), so
// neither node's write is lost.
func TestTwoNodesNeverOverwriteEachOther(t *testing.T) {
	kv := bucket(t)
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	a := core.New(core.Options{KV: kv, Clock: fake})
	b := core.New(core.Options{KV: kv, Clock: fake})
	ctx := context.Background()
	if _, _, err := a.Do(ctx, alice, set("desk", "Available", "Available")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Read(ctx, alice); err != nil { // b caches the one-session state
		t.Fatal(err)
	}
	if _, _, err := a.Do(ctx, alice, set("phone", "Busy", "InACall")); err != nil {
		t.Fatal(err)
	}
	// b's cache is stale; its write must still keep a's phone session.
	if _, _, err := b.Do(ctx, alice, set("laptop", "DoNotDisturb", "Presenting")); err != nil {
		t.Fatal(err)
	}
	fresh := core.New(core.Options{KV: kv, Clock: fake})
	snap, err := fresh.Read(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range snap.Facts.Sessions {
		ids = append(ids, s.ID[len(app)+1:])
	}
	if fmt.Sprint(ids) != "[desk laptop phone]" {
		t.Fatalf("sessions %v, want [desk laptop phone]", ids)
	}
	if snap.View.Pair.String() != "DoNotDisturb/Presenting" {
		t.Fatalf("view %s", snap.View.Pair)
	}
}

// A rejected command writes nothing: the stored revision does not move.
func TestRejectedCommandWritesNothing(t *testing.T) {
	kv := bucket(t)
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	c := core.New(core.Options{KV: kv, Clock: fake})
	ctx := context.Background()
	if _, _, err := c.Do(ctx, alice, set("desk", "Available", "Available")); err != nil {
		t.Fatal(err)
	}
	before, _ := kv.Get(ctx, alice.Key())
	for _, cmd := range []presence.Command{
		set("desk", "Busy", "Busy"),
		presence.ClearPresence{SessionID: app + ":nothing"},
		presence.SetPreferred{Pair: presence.Pair{Availability: "Away", Activity: "Away"}, Expiration: time.Minute},
	} {
		if _, _, err := c.Do(ctx, alice, cmd); presence.ErrorCode(err) != presence.Invalid && presence.ErrorCode(err) != presence.NotFound {
			t.Fatalf("%T: err %v", cmd, err)
		}
	}
	after, _ := kv.Get(ctx, alice.Key())
	if after.Revision != before.Revision {
		t.Fatalf("revision moved %d -> %d", before.Revision, after.Revision)
	}
}

// OnChange hears exactly the writes that change the visible presence.
func TestOnChangeOnlyForVisibleChanges(t *testing.T) {
	kv := bucket(t)
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	c := core.New(core.Options{KV: kv, Clock: fake})
	var mu sync.Mutex
	var heard []string
	c.OnChange(func(s core.Snapshot) {
		mu.Lock()
		heard = append(heard, s.View.Pair.String()+"@"+s.Seq.String())
		mu.Unlock()
	})
	ctx := context.Background()
	for _, cmd := range []presence.Command{
		set("desk", "Available", "Available"),
		set("desk", "Available", "Available"), // refresh: nothing visible changes
		set("phone", "Away", "Away"),          // Available still wins
		set("phone", "Busy", "InACall"),
	} {
		if _, _, err := c.Do(ctx, alice, cmd); err != nil {
			t.Fatal(err)
		}
	}
	if len(heard) != 2 {
		t.Fatalf("heard %v, want two changes", heard)
	}
}

// ReadMany of users not in memory reads them from the engine (in one batch)
// and answers in the order asked, unknown users as never written.
func TestReadManyCold(t *testing.T) {
	kv := bucket(t)
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	ctx := context.Background()
	writer := core.New(core.Options{KV: kv, Clock: fake})
	var refs []core.UserRef
	for i := range 100 {
		u := core.UserRef{TenantID: alice.TenantID, UserID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)}
		refs = append(refs, u)
		if i%3 == 0 {
			continue // never written
		}
		if _, _, err := writer.Do(ctx, u, set("x", "Busy", "InACall")); err != nil {
			t.Fatal(err)
		}
	}
	cold := core.New(core.Options{KV: kv, Clock: fake})
	snaps, err := cold.ReadMany(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range snaps {
		want := "Busy/InACall"
		if i%3 == 0 {
			want = "Offline/Offline"
		}
		if s.User != refs[i] || s.View.Pair.String() != want {
			t.Fatalf("snapshot %d: %v %s, want %v %s", i, s.User, s.View.Pair, refs[i], want)
		}
	}
}

// A write of one user does not wait for another user's write that holds
// its lock, even when the two users share a cache shard: each shard's
// users are spread over several write locks (lanes), so 64 writers over
// 1,000 users rarely queue behind each other's engine round trip.
func TestAWriteDoesNotWaitForAnotherUserOfItsShard(t *testing.T) {
	kv := bucket(t)
	fake := clock.NewFake(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
	c := core.New(core.Options{KV: kv, Clock: fake})
	ctx := context.Background()
	var other core.UserRef
	for i := 0; ; i++ {
		if i == 100000 {
			t.Fatal("no user shares alice's shard without sharing her write lock")
		}
		other = core.UserRef{TenantID: alice.TenantID, UserID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)}
		if c.SameShard(alice, other) && !c.SameLock(alice, other) {
			break
		}
	}
	err := c.Locked(ctx, alice, func(core.Snapshot) error {
		done := make(chan error, 1)
		go func() {
			_, _, err := c.Do(ctx, other, set("desk", "Busy", "InACall"))
			done <- err
		}()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return fmt.Errorf("a write of another user of the shard waited for alice's lock")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if snap, err := c.Read(ctx, other); err != nil || snap.View.Pair.String() != "Busy/InACall" {
		t.Fatalf("the other user reads %v, %v", snap.View.Pair, err)
	}
}
