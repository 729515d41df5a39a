package mailbox

import (
	"context"
	"errors"

	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/store"
)

// RemoveUser deletes everything the mailbox keeps of a user who left the
// directory: their events, calendar index and mailbox settings, and their
// place in the refresher's schedule.
func (m *Mailbox) RemoveUser(ctx context.Context, u core.UserRef) error {
	defer m.lock(u)()
	keys, err := m.kv.Keys(ctx, "e."+u.TenantID+"."+u.UserID+".")
	if err != nil {
		return unavailable(err)
	}
	for _, k := range append(keys, indexKey(u)) {
		if err := m.kv.Delete(ctx, k, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
			return unavailable(err)
		}
	}
	m.sched.mu.Lock()
	delete(m.sched.at, u) // its heap entry is passed over when it comes due
	m.sched.mu.Unlock()
	return nil
}
