package notify

import (
	"context"
	"runtime"
	"time"
)

// Sink takes a direct feed's changes on one of the fanout's writer
// goroutines instead of its reader's own (Feed.TryDirect). Measured at
// 10,000 streams, waking each stream's goroutine for each change (the
// tap's signal, the select, parking again) was ~15 % of the server's CPU
// per event, and net/http's write path beside the system call ~6 %: a few
// writers, one per core, going through the ready feeds one after another
// cost neither (docs/performance.md).
type Sink interface {
	// Deliver is called on a writer goroutine when the feed has changes
	// waiting; it takes them with Feed.TakeDirect. It must never block
	// (a slow client's socket, a lock held long): every other direct feed
	// behind it waits. What it cannot do at once it leaves to its
	// reader's goroutine (Feed.Signal, Feed.Undirect).
	Deliver()
}

// writerBatch is how many ready sinks a writer takes at a time: few enough
// that the writers share a change's feeds evenly, enough that handing them
// over costs nothing beside the writes.
const writerBatch = 128

// runWriters starts the fanout's writers (one per core) until ctx ends.
func (f *Fanout) runWriters(ctx context.Context) {
	n := runtime.GOMAXPROCS(0)
	for range n {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case batch := <-f.work:
					for _, s := range batch {
						s.Deliver()
					}
				}
			}
		}()
	}
}

// handOut gives the sinks ready for a change to the writers, in batches.
func (f *Fanout) handOut(ctx context.Context, ready []Sink) {
	for len(ready) > 0 {
		n := min(len(ready), writerBatch)
		select {
		case f.work <- ready[:n:n]:
		case <-ctx.Done():
			return
		}
		ready = ready[n:]
	}
}

// TryDirect hands the feed's changes to s, called on the fanout's writers,
// from the next change on, and reports whether it did: only a feed that
// has caught up (nothing left to read from the log, nothing queued) and
// was not dropped goes direct. While direct, Next must not be called; the
// reader waits with Wait instead.
func (fd *Feed) TryDirect(s Sink) bool {
	if len(fd.page) > 0 || fd.next <= fd.tap.start {
		return false
	}
	t := fd.tap
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.head < len(t.queue) || t.lagged {
		return false
	}
	t.sink, t.direct, t.scheduled = s, true, false
	return true
}

// Direct reports whether the feed's changes go to its sink (TryDirect). A
// feed stops being direct when Undirect is called, and when it falls too
// far behind (then Next returns ErrLagged).
func (fd *Feed) Direct() bool {
	fd.tap.mu.Lock()
	defer fd.tap.mu.Unlock()
	return fd.tap.direct
}

// Undirect gives the feed back to its reader's goroutine (Next), and wakes
// it if it waits (Wait).
func (fd *Feed) Undirect() {
	t := fd.tap
	t.mu.Lock()
	t.direct, t.scheduled = false, false
	t.mu.Unlock()
	fd.Signal()
}

// Signal wakes the feed's reader if it waits (Wait): a sink that could not
// take its changes at once leaves them to it.
func (fd *Feed) Signal() {
	select {
	case fd.tap.signal <- struct{}{}:
	default:
	}
}

// TakeDirect returns the next change of a direct feed, for its sink (or
// its reader, holding whatever the sink holds while taking). false: none
// waits, and the next change calls Deliver again; or the feed is no
// longer direct.
func (fd *Feed) TakeDirect() (Entry, bool) {
	t := fd.tap
	for {
		t.mu.Lock()
		if !t.direct {
			t.mu.Unlock()
			return Entry{}, false
		}
		if t.head == len(t.queue) {
			t.scheduled = false
			t.mu.Unlock()
			return Entry{}, false
		}
		e := t.take()
		t.mu.Unlock()
		if e.Seq >= fd.from {
			return e, true
		}
	}
}

// Wait is what a direct feed's reader does instead of Next: it returns nil
// when signalled (Signal, Undirect, the feed dropped for falling behind),
// ErrIdle after idle (> 0), or ctx's error.
func (fd *Feed) Wait(ctx context.Context, idle time.Duration) error {
	timeout := fd.idleAfter(idle)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-fd.tap.signal:
		return nil
	case <-timeout:
		return ErrIdle
	}
}
