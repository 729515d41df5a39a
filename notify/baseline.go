package notify

import (
	"context"

	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/notify/subscription"
	"github.com/presenced/presenced/presence"
)

// A subscription is told of its users' changes made after it, never of
// their presence as it already was. CreatedAt alone cannot say which is
// which: on a clock that stands still (dev mode's) a presence set before
// the subscription was made carries the same instant, and the hub logs it
// — its catch-up of a user nobody watched, made by the subscription's own
// watch or another's — after the subscription's feed opened. So the node
// that makes a subscription notes its users' sequenceNumbers then (after
// the feed opened), and the subscription's first worker here skips every
// change at or before them (deliver's lastByUser).
//
// The note is kept in memory only: a subscription delivered first by
// another node (its shard held elsewhere, or taken over before its
// first delivery) has CreatedAt alone, which is enough on a clock that
// moves.

// keepBaseline notes s's users' sequenceNumbers as the engine's cache
// holds them now; users who never had a presence are left out (nothing
// to skip).
func (m *Manager) keepBaseline(ctx context.Context, s subscription.Subscription) error {
	base := map[string]presence.Stamp{}
	if m.o.Hub != nil {
		err := m.o.Hub.core.ReadEach(ctx, users(s), func(sn *core.Snapshot) error {
			if sn.Seq != (presence.Stamp{}) {
				base[sn.User.UserID] = sn.Seq
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	m.mu.Lock()
	if m.baselines == nil {
		m.baselines = map[string]map[string]presence.Stamp{}
	}
	m.baselines[s.ID] = base
	m.mu.Unlock()
	return nil
}

// takeBaseline returns (and forgets) what keepBaseline noted for the
// subscription id: the start of its worker's lastByUser.
func (m *Manager) takeBaseline(id string) map[string]presence.Stamp {
	m.mu.Lock()
	defer m.mu.Unlock()
	base := m.baselines[id]
	delete(m.baselines, id)
	if base == nil {
		base = map[string]presence.Stamp{}
	}
	return base
}
