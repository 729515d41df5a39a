package core

import (
	"testing"

	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/store"
)

// openTestBucket is a presence bucket on a real engine of the test's own.
func openTestBucket(t testing.TB) store.KV { return enginetest.Bucket(t, "presence") }

// OpenTestBucket is openTestBucket for the package's external tests.
var OpenTestBucket = openTestBucket

// Queued is the number of changes from the engine waiting for the write
// lock of u's lane.
func (c *Core) Queued(u UserRef) int {
	_, ln := c.placeOf(u)
	ln.q.mu.Lock()
	defer ln.q.mu.Unlock()
	return len(ln.q.items)
}

// SameLock reports whether u and v share a write lock (a lane).
func (c *Core) SameLock(u, v UserRef) bool {
	_, a := c.placeOf(u)
	_, b := c.placeOf(v)
	return a == b
}

// SameShard reports whether u and v share a cache shard.
func (c *Core) SameShard(u, v UserRef) bool { return c.shardOf(u) == c.shardOf(v) }
