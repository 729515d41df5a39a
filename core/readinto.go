package core

import (
	"context"

	"github.com/presenced/presenced/presence"
)

// ReadInto is Read into *s: the user's presence now. On an error *s is
// left as it was. A GET reads through it so that no frame on its way holds
// a copy of the 528-byte snapshot (Read returns one by value, and its
// caller's frame held it twice): together those copies took a GET's stack
// past its first 8 KiB, and every collection shrank it back, so that each
// connection's next request paid for copying its stack to grow it again
// (docs/performance.md, branch getpath).
func (c *Core) ReadInto(ctx context.Context, u UserRef, s *Snapshot) error {
	var buf [256]byte // most entries fit: no allocation
	e, err := c.load(ctx, u, buf[:])
	if err != nil {
		return err
	}
	f, err := c.facts(e)
	if err != nil {
		return err
	}
	now := c.clock.Now()
	*s = Snapshot{}
	s.User, s.At, s.Facts = u, now, f
	s.View = presence.Aggregate(f, now)
	s.Seq = presence.Sequence(f, now)
	return nil
}
