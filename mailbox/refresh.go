package mailbox

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/internal/due"
	"github.com/presenced/presenced/store"
)

func unmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("mailbox: decode: %w", err)
	}
	return nil
}

// schedule is when each user's window is due for a refresh: one heap entry
// per user with a calendar, the earliest instant kept.
type schedule struct {
	mu   sync.Mutex
	at   map[core.UserRef]time.Time
	due  due.Heap
	wake chan struct{}
}

func (s *schedule) init() {
	s.at = make(map[core.UserRef]time.Time)
	s.wake = make(chan struct{}, 1)
}

func (s *schedule) nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// add schedules u at t (replacing a later instant; an earlier one stays).
func (s *schedule) add(u core.UserRef, t time.Time) {
	s.mu.Lock()
	if cur, ok := s.at[u]; ok && !t.Before(cur) {
		s.mu.Unlock()
		return
	}
	s.at[u] = t
	s.due.Push(t, u)
	s.mu.Unlock()
	s.nudge()
}

// pop returns the users due by now (and forgets them) and the wait until
// the next one.
func (s *schedule) pop(now time.Time, max int) ([]core.UserRef, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []core.UserRef
	for s.due.Len() > 0 && !s.due.Next().At.After(now) && len(out) < max {
		it := s.due.Pop()
		if cur, ok := s.at[it.User]; !ok || !cur.Equal(it.At) {
			continue // replaced by an earlier instant, already done
		}
		delete(s.at, it.User)
		out = append(out, it.User)
	}
	wait := time.Second
	if s.due.Len() > 0 {
		wait = min(wait, s.due.Next().At.Sub(now))
	}
	return out, wait
}

// Scheduled is the number of users whose window is scheduled for a refresh.
func (m *Mailbox) Scheduled() int {
	m.sched.mu.Lock()
	defer m.sched.mu.Unlock()
	return len(m.sched.at)
}

// Run refreshes windows as they come due until ctx ends. It first walks
// every user's calendar index: a user whose presence window was built from
// an older index revision (the process stopped between the two writes) is
// refreshed at once, every other one when its window is due. With
// Options.Rebuild it rebuilds every stored window before (Rebuild).
func (m *Mailbox) Run(ctx context.Context) {
	if m.reb {
		n, err := m.Rebuild(ctx)
		if err != nil && ctx.Err() == nil {
			m.log.Error("calendar rebuild after the loss of calendar data: reading the stored users", "err", err, "users_rebuilt", n)
		} else if err == nil {
			m.log.Info("presence rebuilt from the calendar after the loss of calendar data", "users", n)
		}
	}
	if err := m.load(ctx); err != nil && ctx.Err() == nil {
		m.log.Error("calendar refresher: reading the calendar indexes", "err", err)
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	for {
		ready, wait := m.sched.pop(m.clock.Now(), 256)
		for _, u := range ready {
			if err := m.refresh(ctx, u, false); err != nil && ctx.Err() == nil {
				m.log.Warn("calendar refresher: extending a window; retried in a minute", "user", u.UserID, "err", err)
				m.sched.add(u, m.clock.Now().Add(time.Minute))
			}
		}
		if len(ready) > 0 {
			continue
		}
		t.Reset(max(wait, time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.sched.wake:
		}
	}
}

// load schedules every user with a calendar index.
func (m *Mailbox) load(ctx context.Context) error {
	return m.kv.Walk(ctx, "c.", func(e store.Entry) error {
		rest := strings.TrimPrefix(e.Key, "c.")
		tenant, user, ok := strings.Cut(rest, ".")
		if !ok || tenant == "" || user == "" || (m.users != nil && !m.users(tenant, user)) {
			return nil
		}
		u := core.UserRef{TenantID: tenant, UserID: user}
		snap, err := m.core.Read(ctx, u)
		if err != nil {
			m.sched.add(u, m.clock.Now())
			return nil
		}
		if snap.Facts.CalendarRev != e.Revision || snap.Facts.CalendarUntil.IsZero() {
			m.sched.add(u, m.clock.Now())
			return nil
		}
		m.sched.add(u, m.refreshAt(u, snap.Facts.CalendarUntil))
		return nil
	})
}

// Refresh builds the user's presence window anew from their calendar
// index, from now. Two nodes refreshing one user write the same window;
// one built from an older index is never applied over a newer one.
func (m *Mailbox) Refresh(ctx context.Context, u core.UserRef) error { return m.refresh(ctx, u, true) }

// refresh is Refresh; unless always, a window that another node has
// extended since this node scheduled it (built from the current index, and
// not due yet) is only rescheduled: in a cluster every node schedules
// every calendar user, and the first one due refreshes for all.
func (m *Mailbox) refresh(ctx context.Context, u core.UserRef, always bool) error {
	defer m.lock(u)()
	idx, rev, err := m.loadIndex(ctx, u)
	if err != nil {
		return err
	}
	if rev == 0 {
		return nil // the calendar was emptied: nothing to keep
	}
	if !always {
		s, err := m.core.Read(ctx, u)
		if err == nil && s.Facts.CalendarRev == rev && !s.Facts.CalendarUntil.IsZero() {
			if at := m.refreshAt(u, s.Facts.CalendarUntil); at.After(m.clock.Now()) {
				m.sched.add(u, at)
				return nil
			}
		}
	}
	return m.project(ctx, u, idx, rev)
}
