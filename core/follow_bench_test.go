package core

import (
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// BenchmarkFollowChange is what a node spends on one change another node
// made, once the engine's Watch has delivered it: read the user's key,
// compare revisions, decode the stored value once, build the cache entry,
// queue it, take the write lock, cache it and tell the subscribers (here
// one OnWrite, as the hub's, that does nothing with an unwatched user;
// "remote-unwatched" as the hub has it, not asking for what the change
// replaced, "remote" asking for it). A
// node's own write comes back from the Watch too and costs the "own"
// case: the revision comparison, nothing decoded. Run with
//
//	go test -run '^$' -bench FollowChange -count 5 ./core/
func BenchmarkFollowChange(b *testing.B) {
	c, u, f := followFixture(b)
	value, key := encodeStored(f), u.Key()
	heard := 0
	c.OnWrite(func(Snapshot) { heard++ })
	// run follows the user's change, at a new revision each time (another
	// node's) or at the cached one (this node's own, coming back).
	run := func(name string, remote bool) {
		b.Run(name, func(b *testing.B) {
			rev, _ := c.cachedRev(u)
			b.ReportAllocs()
			for b.Loop() {
				if remote {
					rev++
				}
				c.follow(store.Change{Key: key, Value: value, Revision: rev})
			}
		})
	}
	run("remote", true)
	// As a node runs: the hub needs what a change replaced for the users
	// it watches only (Core.NeedsBefore).
	c.NeedsBefore(func(UserRef) bool { return false })
	run("remote-unwatched", true)
	run("own", false)
	if heard == 0 {
		b.Fatal("no change reported")
	}
}

// followFixture is a core over a test bucket with one user cached (at
// revision 1), and the facts cached for them.
func followFixture(tb testing.TB) (*Core, UserRef, presence.Facts) {
	f := benchFacts()
	u := UserRef{TenantID: "a5036a1a-166f-4ed5-bf5a-e0ccc1602604", UserID: "3c16299b-70fb-4ef1-ac29-a2c2738ae1e3"}
	c := New(Options{KV: openTestBucket(tb), Clock: clock.NewFake(time.Date(2026, 11, 25, 9, 0, 5, 0, time.UTC))})
	c.remember(u, c.ids.newEntry(1, f))
	return c, u, f
}
