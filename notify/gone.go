package notify

import (
	"context"
	"slices"

	"github.com/presenced/presenced/core"
)

// UsersGone ends the subscriptions that users of a tenant who lost their
// access leave behind: those they created (the users removed from the
// directory or disabled), and those none of whose users is left in the
// directory. Each is removed at once and, when it has a
// lifecycleNotificationUrl, its receiver gets Graph's subscriptionRemoved
// lifecycle notification (sent in the background, retried as deliveries
// are). A subscription that still has users keeps them; the removed ones
// are no longer delivered (Visible).
func (m *Manager) UsersGone(ctx context.Context, tenantID string, removed, disabled []string) {
	gone := map[core.UserRef]bool{}
	for _, id := range removed {
		gone[core.UserRef{TenantID: tenantID, UserID: id}] = true
	}
	for _, rs := range m.all() {
		s := rs.get()
		creatorGone := s.TenantID == tenantID && (slices.Contains(removed, s.CreatorID) || slices.Contains(disabled, s.CreatorID))
		left := false
		for _, u := range users(s) {
			if !gone[u] && (m.o.Known == nil || m.o.Known(u)) {
				left = true
				break
			}
		}
		if !creatorGone && left {
			continue
		}
		if !m.stop(rs) {
			continue
		}
		m.remove(ctx, s.ID)
		m.log.Info("subscription removed: its users or its creator left the directory", "subscription", s.ID)
		if s.LifecycleNotificationURL != "" {
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				m.sendLifecycle(m.ctx, s, "subscriptionRemoved")
			}()
		}
	}
}
