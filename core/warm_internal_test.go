package core

import (
	"context"
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/presence"
)

// With Options.Users, Warm caches users under the strings it returns (the
// directory's: no copy per user) and leaves out those it does not know;
// without it, under one copy of each tenant id and a copy of each user id
// (not the key, which would keep all of it).
func TestWarmUserStrings(t *testing.T) {
	ctx := context.Background()
	kv := openTestBucket(t)
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	const tenant = "a5036a1a-166f-4ed5-bf5a-e0ccc1602604"
	dir := map[string]UserRef{} // user id → the directory's UserRef
	w := New(Options{KV: kv, Clock: fake})
	for i := range 20 {
		u := UserRef{TenantID: tenant, UserID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)}
		if i%4 != 0 { // every fourth user has left the directory
			dir[u.UserID] = UserRef{TenantID: tenant, UserID: u.UserID}
		}
		if _, _, err := w.Do(ctx, u, presence.SetPresence{SessionID: "s", Pair: presence.Pair{Availability: "Busy", Activity: "InACall"}, Expiration: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}

	c := New(Options{KV: kv, Clock: fake, Users: func(tenantID, userID string) (UserRef, bool) {
		u, ok := dir[userID]
		return u, ok && tenantID == u.TenantID
	}})
	n, err := c.Warm(ctx)
	if err != nil || n != len(dir) {
		t.Fatalf("Warm: %d users, %v; want the %d in the directory", n, err, len(dir))
	}
	same := func(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }
	cached := 0
	for i := range c.shard {
		for u := range c.shard[i].users {
			cached++
			d, ok := dir[u.UserID]
			if !ok {
				t.Errorf("%s is cached, but not in the directory", u.UserID)
			} else if !same(u.UserID, d.UserID) || !same(u.TenantID, d.TenantID) {
				t.Errorf("%s is cached under other strings than the directory's", u.UserID)
			}
		}
	}
	if cached != len(dir) {
		t.Errorf("%d users cached, want %d", cached, len(dir))
	}

	c = New(Options{KV: kv, Clock: fake})
	if n, err := c.Warm(ctx); err != nil || n != 20 {
		t.Fatalf("Warm without Users: %d users, %v; want 20", n, err)
	}
	var tenantData *byte
	for i := range c.shard {
		for u := range c.shard[i].users {
			if tenantData == nil {
				tenantData = unsafe.StringData(u.TenantID)
			} else if unsafe.StringData(u.TenantID) != tenantData {
				t.Fatal("the tenant id is copied per user")
			}
			if u.TenantID != tenant || len(u.UserID) != 36 {
				t.Fatalf("cached as %+v", u)
			}
		}
	}
}
