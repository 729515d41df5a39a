package core

import (
	"fmt"
	"testing"

	"github.com/presenced/presenced/internal/guid"
)

// Every process puts a user in the same shard, so that the cache a
// process saved shard by shard is the next one's shards in order; and
// ids spread evenly over the shards, random ones and regular ones alike.
func TestShardStableAcrossCores(t *testing.T) {
	a, b := New(Options{}), New(Options{})
	const n = 256 * 400
	counts := make([]int, len(a.shard))
	for i := range n {
		var g [16]byte
		for j := range g {
			g[j] = byte(mix64(uint64(i*16+j)) >> 56)
		}
		u := UserRef{TenantID: "t", UserID: guid.Format(g)}
		sa, sb := shardNo(a, u), shardNo(b, u)
		if sa != sb {
			t.Fatalf("user %s: shard %d in one core, %d in another", u.UserID, sa, sb)
		}
		counts[sa]++
	}
	even(t, "random ids", counts, n)
	// Ids that differ in a few digits only.
	clear(counts)
	for i := range n {
		counts[shardNo(a, UserRef{UserID: fmt.Sprintf("%08x-5ca1-4000-8000-%012x", i, i)})]++
	}
	even(t, "regular ids", counts, n)
}

func even(t *testing.T, what string, counts []int, n int) {
	t.Helper()
	mean := n / len(counts)
	for s, c := range counts {
		if c < mean*3/4 || c > mean*5/4 {
			t.Fatalf("%s: shard %d holds %d users, the mean is %d", what, s, c, mean)
		}
	}
}

func shardNo(c *Core, u UserRef) int {
	sh := c.shardOf(u)
	for i := range c.shard {
		if &c.shard[i] == sh {
			return i
		}
	}
	panic("no such shard")
}
