package notify

import "time"

// Observer is told of webhook deliveries as they happen (the server's
// metrics). Its methods must not block.
type Observer interface {
	// Delivered: the receiver took a notification, delay after the change.
	Delivered(delay time.Duration)
	// Retried: an attempt was not taken; the notification is tried again.
	Retried()
	// Dropped: the notification was given up after the retry period.
	Dropped()
}

type noObserver struct{}

func (noObserver) Delivered(time.Duration) {}
func (noObserver) Retried()                {}
func (noObserver) Dropped()                {}

// Count is how many subscriptions this node delivers.
func (m *Manager) Count() int { return len(m.all()) }

// QueueDepth is how many changes wait in memory for their readers
// (webhook subscriptions and live streams), summed over every reader.
func (f *Fanout) QueueDepth() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := make(map[*Tap]struct{})
	n := 0
	for _, taps := range f.bySubject {
		for t := range taps {
			if _, ok := seen[t]; ok {
				continue
			}
			seen[t] = struct{}{}
			n += t.Len()
		}
	}
	return n
}

// Len is how many changes wait in the tap's queue.
func (t *Tap) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.queue) - t.head
}

// Delivers reports whether this node delivers subscription id now.
func (m *Manager) Delivers(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	rs := m.subs[id]
	return rs != nil && rs.active
}
