package mailbox

import (
	"context"

	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/presence"
)

// Rebuild builds every stored user's presence window anew from their
// calendar as it is now, whatever calendar revision the window was built
// from. It is for a start after the calendar's stream lost data (an
// accepted loss, docs/durability.md): presence records keep the windows
// and automatic replies of calendars that are gone, or older than the
// window, and their revisions no longer compare with the stream's. A user
// whose calendar is gone has the calendar's part of presence cleared; one
// whose calendar remains gets the window of what remains. A visible change
// is a write like any other: its sequenceNumber moves and it is notified.
// It returns how many users it rewrote; a user it could not rewrite is
// logged and the rest go on.
func (m *Mailbox) Rebuild(ctx context.Context) (users int, err error) {
	var todo []core.UserRef
	err = m.core.EachStored(ctx, func(u core.UserRef, f *presence.Facts) error {
		if f.Events != nil || f.AutoReplies != nil || f.CalendarRev != 0 || !f.CalendarUntil.IsZero() {
			todo = append(todo, u)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, u := range todo {
		if err := m.rebuild(ctx, u); err != nil {
			if ctx.Err() != nil {
				return users, ctx.Err()
			}
			m.log.Error("calendar rebuild: a user's presence window could not be rebuilt; it is rebuilt at their next calendar write", "user", u.UserID, "err", err)
			continue
		}
		users++
	}
	return users, nil
}

func (m *Mailbox) rebuild(ctx context.Context, u core.UserRef) error {
	defer m.lock(u)()
	idx, rev, err := m.loadIndex(ctx, u)
	if err != nil {
		return err
	}
	if rev == 0 {
		_, _, err := m.core.Do(ctx, u, presence.SetWindow{Reset: true})
		return err
	}
	return m.write(ctx, u, idx, rev, true)
}
