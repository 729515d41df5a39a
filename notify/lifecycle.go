package notify

import (
	"context"
	"encoding/json"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/notify/subscription"
	"github.com/presenced/presenced/presence"
)

// lifecycleLoop starts delivering the subscriptions of the shards held
// here that are not delivered yet (new ones, those whose start failed),
// sends reauthorizationRequired before expiry and removes expired
// subscriptions, for the subscriptions this node delivers, every second
// and whenever the clock jumps or a subscription changes.
func (m *Manager) lifecycleLoop(ctx context.Context) {
	defer m.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if err := m.reconcile(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("starting a subscription's delivery; retrying", "err", err)
		}
		now := m.o.Clock.Now()
		for _, rs := range m.all() {
			s := rs.get()
			if s.Expired(now) {
				m.forget(s.ID)
				m.remove(ctx, s)
				m.log.Info("subscription expired", "subscription", s.ID)
				continue
			}
			rs.mu.Lock()
			due := s.LifecycleNotificationURL != "" && !rs.reauthSent && !now.Before(s.ReauthorizeAt())
			if due {
				rs.reauthSent = true
			}
			rs.mu.Unlock()
			if due {
				m.wg.Add(1)
				go func() {
					defer m.wg.Done()
					m.sendLifecycle(ctx, s, "reauthorizationRequired")
				}()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.wake:
		}
	}
}

// lifecycleNotification is one item of a lifecycle notification collection.
type lifecycleNotification struct {
	SubscriptionID                 string `json:"subscriptionId"`
	SubscriptionExpirationDateTime string `json:"subscriptionExpirationDateTime"`
	TenantID                       string `json:"tenantId"`
	ClientState                    string `json:"clientState,omitempty"`
	LifecycleEvent                 string `json:"lifecycleEvent"`
}

// sendLifecycle sends a lifecycle notification of event
// (reauthorizationRequired, subscriptionRemoved) to s's
// lifecycleNotificationUrl, retrying as a delivery is retried.
func (m *Manager) sendLifecycle(ctx context.Context, s subscription.Subscription, event string) {
	body, _ := json.Marshal(map[string]any{"value": []lifecycleNotification{{
		SubscriptionID: s.ID, SubscriptionExpirationDateTime: presence.FormatDateTime(s.ExpirationDateTime),
		TenantID: s.TenantID, ClientState: s.ClientState, LifecycleEvent: event,
	}}})
	wait := m.o.Backoff
	for attempt := 0; attempt < 8; attempt++ {
		if err := m.post(ctx, s.LifecycleNotificationURL, body); err == nil {
			return
		} else if ctx.Err() != nil {
			return
		} else {
			m.log.Info("lifecycle notification failed; retrying", "subscription", s.ID, "err", err)
		}
		if !clock.Sleep(ctx, wait) {
			return
		}
		wait = min(2*wait, m.o.MaxBackoff)
	}
}
