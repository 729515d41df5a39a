// Package due is a min-heap of (instant, user): a schedule of time-caused
// work. The hub's announcements of changes caused by time and the calendar
// refresher each keep one, instead of a timer per user.
package due

import (
	"container/heap"
	"time"

	"github.com/presenced/presenced/core"
)

// Item is one user due at an instant.
type Item struct {
	At   time.Time
	User core.UserRef
}

// Heap is a schedule, earliest first. The zero value is empty and ready.
// It is not safe for concurrent use.
type Heap struct{ items items }

// Push schedules u at at.
func (h *Heap) Push(at time.Time, u core.UserRef) { heap.Push(&h.items, Item{At: at, User: u}) }

// Len is the number of scheduled items.
func (h *Heap) Len() int { return len(h.items) }

// Next is the earliest item; Len must be > 0.
func (h *Heap) Next() Item { return h.items[0] }

// Pop removes and returns the earliest item; Len must be > 0.
func (h *Heap) Pop() Item { return heap.Pop(&h.items).(Item) }

type items []Item

func (d items) Len() int           { return len(d) }
func (d items) Less(i, j int) bool { return d[i].At.Before(d[j].At) }
func (d items) Swap(i, j int)      { d[i], d[j] = d[j], d[i] }
func (d *items) Push(x any)        { *d = append(*d, x.(Item)) }
func (d *items) Pop() any {
	old := *d
	it := old[len(old)-1]
	old[len(old)-1] = Item{} // keep no user's strings alive
	*d = old[:len(old)-1]
	return it
}
