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
// lock of u's shard.
func (c *Core) Queued(u UserRef) int {
	sh := c.shardOf(u)
	sh.q.mu.Lock()
	defer sh.q.mu.Unlock()
	return len(sh.q.items)
}

// SameShard reports whether u and v share a shard (and so its write lock).
func (c *Core) SameShard(u, v UserRef) bool { return c.shardOf(u) == c.shardOf(v) }
