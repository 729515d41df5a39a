package notify

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/clock"
)

// ErrIdle is what Feed.Next returns when no change came within the idle
// time it was given: the reader's chance to do its periodic work.
var ErrIdle = errors.New("notify: no change within the idle time")

// Feed is one reader's view of its users' changes from a position on, in
// log order: what is already in the log is read from it a page at a time,
// what comes after from an in-memory tap of the fanout. A stream and a
// subscription's worker each read one. Not safe for concurrent use.
type Feed struct {
	fan      *Fanout
	subjects []string
	tap      *Tap
	from     uint64 // the first position wanted
	next     uint64 // the next position to read from the log, while next <= tap.start
	page     []Entry

	// Next waits on one channel, the tap's signal: the context's end and
	// the idle timer wake the tap too. Measured at 10,000 streams, a
	// select on the three channels was ~2.7 µs of the server's ~16 µs per
	// event, and resetting the idle timer at every change more
	// (docs/performance.md). The timer is not moved at every change: it
	// fires at the latest when the idle time since the last change is up,
	// and is set again for the rest of it when it fired early.
	ctx     context.Context // the context whose end wakes the tap
	stopCtx func() bool
	idle    *time.Timer   // wakes the tap; fired is set when it did
	idleFor time.Duration // the idle time idle was set for
	idleAt  time.Time     // when, without a change, Next gives ErrIdle (the wall clock)
	fired   atomic.Bool
}

// Open returns a feed of the changes under subjects at and after position
// from (0: those logged from now on). Close it when done.
func (f *Fanout) Open(subjects []string, from uint64) *Feed {
	fd := &Feed{fan: f, subjects: subjects, tap: f.Attach(subjects), from: from, next: from}
	if from == 0 {
		fd.next = fd.tap.start + 1
	}
	return fd
}

// OpenAfter is Open(subjects, 0) that also skips every change at or
// before position pos, which the fanout may not have handed out yet.
func (f *Fanout) OpenAfter(subjects []string, pos uint64) *Feed {
	fd := f.Open(subjects, 0)
	if pos >= fd.next {
		fd.from, fd.next = pos+1, pos+1
	}
	return fd
}

// Start is the fanout's position when the feed was opened: what came
// after it reaches the feed through memory, what came before from the log.
func (fd *Feed) Start() uint64 { return fd.tap.start }

// Next returns the next change. It waits until one comes, ctx ends, or —
// with idle > 0 — idle passed without a change (ErrIdle). ErrLagged means
// the reader fell more than the fanout's MaxQueue changes behind and the
// changes queued in memory were dropped: close the feed and open another
// from the position after the last change taken (the log still has them).
func (fd *Feed) Next(ctx context.Context, idle time.Duration) (Entry, error) {
	for {
		if len(fd.page) > 0 {
			e := fd.page[0]
			fd.page[0] = Entry{}
			fd.page = fd.page[1:]
			return e, nil
		}
		if fd.next <= fd.tap.start {
			page, last, full, err := fd.fan.page(ctx, fd.subjects, fd.next, fd.tap.start)
			if err != nil {
				return Entry{}, err
			}
			fd.page, fd.next = page, fd.tap.start+1
			if full {
				fd.next = last + 1
			}
			continue
		}
		e, err := fd.wait(ctx, idle)
		if err != nil {
			return Entry{}, err
		}
		if e.Seq >= fd.from {
			return e, nil
		}
	}
}

// wait takes the tap's next change, waiting until one comes, ctx ends or
// (idle > 0) idle passed without a change (ErrIdle).
func (fd *Feed) wait(ctx context.Context, idle time.Duration) (Entry, error) {
	if ctx != fd.ctx {
		if fd.stopCtx != nil {
			fd.stopCtx()
		}
		fd.ctx, fd.stopCtx = ctx, context.AfterFunc(ctx, fd.tap.wake)
	}
	if idle > 0 {
		fd.setIdle(idle)
	}
	done := ctx.Done()
	for {
		if e, ok, err := fd.tap.take(); ok || err != nil {
			return e, err
		}
		select {
		case <-done:
			return Entry{}, ctx.Err()
		default:
		}
		if idle > 0 && fd.fired.Load() {
			left := fd.idleAt.Sub(clock.Real{}.Now())
			if left <= 0 {
				return Entry{}, ErrIdle // fired stays set: the next call sets the timer again
			}
			fd.fired.Store(false)
			fd.idle.Reset(left)
		}
		<-fd.tap.signal
	}
}

// setIdle moves the idle deadline to idle from now. The timer is touched
// only when it is not running (it fired) or ran for another idle time: a
// running one fires before the new deadline, and wait sets it again then.
// A firing seen late (after a Stop) only makes wait look at the time.
func (fd *Feed) setIdle(idle time.Duration) {
	fd.idleAt = clock.Real{}.Now().Add(idle)
	switch {
	case fd.idle == nil:
		fd.idle = time.AfterFunc(idle, func() {
			fd.fired.Store(true)
			fd.tap.wake()
		})
	case idle != fd.idleFor:
		fd.idle.Stop()
		fd.fired.Store(false)
		fd.idle.Reset(idle)
	case fd.fired.Load():
		fd.fired.Store(false)
		fd.idle.Reset(idle)
	}
	fd.idleFor = idle
}

// Close stops the feed.
func (fd *Feed) Close() {
	fd.fan.Detach(fd.tap)
	if fd.idle != nil {
		fd.idle.Stop()
	}
	if fd.stopCtx != nil {
		fd.stopCtx()
	}
}
