package core

import (
	"context"
	"errors"

	"github.com/presenced/presenced/store"
)

// LockedFresh is Locked with the user's facts as the engine holds them
// now (in a cluster, the stream's leader), not as this node last cached
// them: the cache is updated first if the engine has a newer revision. A
// node that announces a change caused by time alone uses it, so that it
// never announces from a copy that does not have another node's write yet.
func (c *Core) LockedFresh(ctx context.Context, u UserRef, fn func(Snapshot) error) error {
	sh := c.shardOf(u)
	sh.write.Lock()
	defer sh.write.Unlock()
	got, err := c.kv.Get(ctx, u.Key())
	switch {
	case errors.Is(err, store.ErrNotFound):
		got = store.Entry{}
	case err != nil:
		return unavailable(err)
	}
	var buf [256]byte
	e, cached := c.cachedInto(u, buf[:0])
	if got.Revision > 0 && (!cached || inPlace(e).rev() < got.Revision) {
		f, err := decodeStored(got.Value)
		if err != nil {
			return err
		}
		c.remember(u, c.ids.newEntry(got.Revision, f))
	}
	return c.lockedLoaded(ctx, u, fn)
}
