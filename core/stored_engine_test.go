package core_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/presence"
)

// Users stored by an earlier version (JSON values) are read as they were,
// by Read and by ReadMany, and their next write stores the binary form,
// which a fresh core (a restart) reads back the same.
func TestOldJSONValuesLoad(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	fake := clock.NewFake(t0)
	ctx := context.Background()
	kv := bucket(t)
	old := presence.Facts{
		Sessions: []presence.Session{
			{ID: app + ":a", Pair: presence.Pair{Availability: presence.Available, Activity: presence.Available}, RefreshedAt: t0.Add(-time.Minute), ExpiresAt: t0.Add(time.Hour)},
			{ID: app + ":b", Pair: presence.Pair{Availability: presence.Busy, Activity: presence.InACall}, RefreshedAt: t0.Add(-2 * time.Minute), ExpiresAt: t0.Add(4 * time.Hour)},
		},
		Status:    &presence.StatusMessage{Content: "in Lisbon", ContentType: "text", Expiry: &presence.DateTimeTimeZone{DateTime: "2026-12-01T10:00:00", TimeZone: "GMT Standard Time"}, ExpiresAt: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), PublishedAt: t0.Add(-time.Hour)},
		Seq:       presence.Stamp{At: t0.Add(-time.Minute).UnixNano(), N: 1},
		LastWrite: t0.Add(-time.Minute),
	}
	users := []core.UserRef{alice, user(1)}
	for _, u := range users {
		v, err := json.Marshal(old) // as earlier versions stored facts
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Put(ctx, u.Key(), v, 0); err != nil {
			t.Fatal(err)
		}
	}
	c := core.New(core.Options{KV: kv, Clock: fake})
	got, err := c.Read(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Facts, old) {
		t.Fatalf("Read of a JSON value:\n%+v\nwant\n%+v", got.Facts, old)
	}
	many, err := core.New(core.Options{KV: kv, Clock: fake}).ReadMany(ctx, users)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range many {
		if !reflect.DeepEqual(s.Facts, old) {
			t.Fatalf("ReadMany of a JSON value (%v):\n%+v\nwant\n%+v", s.User, s.Facts, old)
		}
	}

	snap, _, err := c.Do(ctx, alice, set("a", "Away", "Away"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, alice.Key())
	if err != nil {
		t.Fatal(err)
	}
	if e.Value[0] != 1 {
		t.Fatalf("rewritten as %.40q, want the binary form (version 1)", e.Value)
	}
	again, err := core.New(core.Options{KV: kv, Clock: fake}).Read(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Facts, snap.Facts) || len(again.Facts.Sessions) != 2 || again.Facts.Status == nil {
		t.Fatalf("after a restart:\n%+v\nthe write answered\n%+v", again.Facts, snap.Facts)
	}
}
