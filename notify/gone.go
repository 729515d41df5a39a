package notify

import (
	"context"
	"slices"

	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/notify/subscription"
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
	m.prune(ctx, func(s subscription.Subscription) bool {
		return s.TenantID == tenantID && (slices.Contains(removed, s.CreatorID) || slices.Contains(disabled, s.CreatorID)) || !m.anyLeft(s, gone)
	})
}

// Prune removes, as UsersGone does, the subscriptions whose creator or
// every user left the directory while the server was not running (an
// offline import).
func (m *Manager) Prune(ctx context.Context) {
	if m.o.Known == nil {
		return
	}
	m.prune(ctx, func(s subscription.Subscription) bool {
		return s.CreatorID != "" && !m.o.Known(core.UserRef{TenantID: s.TenantID, UserID: s.CreatorID}) || !m.anyLeft(s, nil)
	})
}

// anyLeft reports whether s watches a user still in the directory.
func (m *Manager) anyLeft(s subscription.Subscription, gone map[core.UserRef]bool) bool {
	for _, u := range users(s) {
		if !gone[u] && (m.o.Known == nil || m.o.Known(u)) {
			return true
		}
	}
	return false
}

// prune removes the subscriptions ended says are, with subscriptionRemoved.
func (m *Manager) prune(ctx context.Context, ended func(subscription.Subscription) bool) {
	for _, rs := range m.all() {
		s := rs.get()
		if !ended(s) {
			continue
		}
		if !m.forget(s.ID) {
			continue
		}
		m.remove(ctx, s)
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
