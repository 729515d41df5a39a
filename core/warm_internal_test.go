package core

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/presence"
)

// With Options.Users, Warm caches the users it knows and leaves out those
// it does not (they have left the directory); without it, every stored user.
func TestWarmKnownUsers(t *testing.T) {
	ctx := context.Background()
	kv := openTestBucket(t)
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	const tenant = "a5036a1a-166f-4ed5-bf5a-e0ccc1602604"
	var all []UserRef
	known := map[string]bool{} // user id → still in the directory
	w := New(Options{KV: kv, Clock: fake})
	for i := range 20 {
		u := UserRef{TenantID: tenant, UserID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)}
		all = append(all, u)
		known[u.UserID] = i%4 != 0 // every fourth user has left the directory
		if _, _, err := w.Do(ctx, u, presence.SetPresence{SessionID: "s", Pair: presence.Pair{Availability: "Busy", Activity: "InACall"}, Expiration: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}

	c := New(Options{KV: kv, Clock: fake, Users: func(tenantID, userID string) bool {
		return tenantID == tenant && known[userID]
	}})
	if n, err := c.Warm(ctx); err != nil || n != 15 {
		t.Fatalf("Warm: %d users, %v; want the 15 in the directory", n, err)
	}
	for _, u := range all {
		if c.isCached(u) != known[u.UserID] {
			t.Errorf("%s: cached %v, in the directory %v", u.UserID, c.isCached(u), known[u.UserID])
		}
	}

	c = New(Options{KV: kv, Clock: fake})
	if n, err := c.Warm(ctx); err != nil || n != 20 {
		t.Fatalf("Warm without Users: %d users, %v; want 20", n, err)
	}
	for _, u := range all {
		if !c.isCached(u) {
			t.Errorf("%s not cached", u.UserID)
		}
	}
}
