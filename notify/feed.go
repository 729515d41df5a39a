package notify

import (
	"context"
	"errors"
	"time"
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
	idle     *time.Timer
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
		timeout := fd.idleAfter(idle)
		e, err := fd.tap.next(ctx, timeout)
		if err != nil {
			return Entry{}, err
		}
		if e.Seq >= fd.from {
			return e, nil
		}
	}
}

// Close stops the feed.
func (fd *Feed) Close() {
	fd.fan.Detach(fd.tap)
	if fd.idle != nil {
		fd.idle.Stop()
	}
}

// idleAfter is the feed's idle timer armed for idle, or nil (never fires)
// when idle is not positive; Next and Wait share the one timer.
func (fd *Feed) idleAfter(idle time.Duration) <-chan time.Time {
	if idle <= 0 {
		return nil
	}
	if fd.idle == nil {
		fd.idle = time.NewTimer(idle)
	} else {
		fd.idle.Reset(idle)
	}
	return fd.idle.C
}
