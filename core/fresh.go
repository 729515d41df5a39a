package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/presenced/presenced/store"
)

// LockedFresh is Locked with the user's facts as the engine holds them
// now (in a cluster, the stream's leader), not as this node last cached
// them: the cache is brought up to the engine's revision first. A node
// that announces a change caused by time alone uses it, so that it never
// announces from a copy that does not have another node's write yet (the
// Watch brings it within milliseconds, but a fade announced in between
// would be logged as if it had happened).
func (c *Core) LockedFresh(ctx context.Context, u UserRef, fn func(Snapshot) error) error {
	sh, ln := c.placeOf(u)
	c.lock(ln, u)
	defer c.unlock(ln)
	if err := c.fetch(ctx, u, sh); err != nil {
		return err
	}
	return c.lockedLoaded(ctx, u, fn)
}

// fetch reads u's entry from the engine's leader (store.KV.Get) and
// applies it by follow.go's rule (write lock held): cached if newer than
// what is cached, and then reported as a change learned from the engine,
// without Snapshot.Before (revisions in between may never have reached
// this node); its Watch copy is then skipped. A key deleted meanwhile is
// forgotten: the next load reads it as never written.
func (c *Core) fetch(ctx context.Context, u UserRef, sh *shard) error {
	got, err := c.kv.Get(ctx, u.Key())
	switch {
	case errors.Is(err, store.ErrNotFound):
		if rev, _ := c.cachedRev(u); rev > 0 {
			c.forget(u)
		}
		return nil
	case err != nil:
		return unavailable(err)
	}
	x, err := c.decodeChange(u, got.Revision, got.Value, false, true)
	if err != nil {
		return fmt.Errorf("core: %w", err)
	}
	c.applyLocked(sh, &x)
	return nil
}
