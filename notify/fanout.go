package notify

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/store"
)

// Fanout reads the change log once for the whole server, decodes each
// change once, and hands it to every tap watching its user. Measured: one
// engine consumer per subscription made every write wait on the engine's
// bookkeeping of a thousand consumers (0.7 s per setPresence at 1,000
// subscriptions); one reader and in-memory queues cost the writer nothing.
type Fanout struct {
	log      store.Log
	logger   *slog.Logger
	maxQueue int

	mu        sync.Mutex
	pos       uint64 // the last sequence handed out
	bySubject map[string]map[*Tap]struct{}

	work chan []Sink // ready direct feeds, to the writers (direct.go)
}

// Entry is a change with its position in the log.
type Entry struct {
	Seq    uint64
	Change *Change // shared by every tap: never modify
	shared *shared // the encodings its readers share (Encoded); nil: none
}

// Tap is one reader of changes (a subscription's worker, a stream): an
// in-memory queue of the changes of its users, in log order, at most the
// fanout's MaxQueue long. A tap that would grow past it is dropped: its
// queue is let go at once and its reader gets ErrLagged, then reads what
// it missed from the log (which keeps everything) or tells its client.
type Tap struct {
	subjects []string
	start    uint64 // the fanout's position when the tap was attached

	mu     sync.Mutex
	queue  []Entry // queue[head:] wait to be taken
	head   int
	lagged bool // the queue overflowed and was dropped
	signal chan struct{}

	// A direct tap's changes go to sink on the fanout's writers
	// (Feed.TryDirect); scheduled: the sink was handed out and has not
	// yet found the queue empty.
	sink      Sink
	direct    bool
	scheduled bool
}

// keptQueue is the capacity up to which a drained tap keeps its queue's
// array for the next change. Letting it go every time it drained cost an
// allocation per change and reader (10,000 per change at 10,000 streams);
// a tap that once held more lets its array go, so a backlog's memory does
// not stay with it.
const keptQueue = 16

// ErrLagged is what a tap's reader gets once it fell more than the
// fanout's MaxQueue changes behind: the changes it had not taken were
// dropped from memory (not from the log).
var ErrLagged = errors.New("notify: the reader fell too far behind; its queued changes were dropped")

// DefaultMaxQueue is how many changes a tap holds by default: a stream or
// a subscription that far behind its users' changes reads from the log
// instead. 1,024 entries are 16 KiB of queue plus the decoded changes
// (shared with every other tap of the same user), so a thousand stuck
// readers cost tens of megabytes at most, not a copy of the whole log each.
const DefaultMaxQueue = 1024

// FanoutOptions configure a Fanout. Log is required.
type FanoutOptions struct {
	Log    store.Log
	Logger *slog.Logger
	// MaxQueue bounds each tap's queue (default DefaultMaxQueue).
	MaxQueue int
}

// NewFanout builds a fanout; Run starts it.
func NewFanout(o FanoutOptions) *Fanout {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = DefaultMaxQueue
	}
	return &Fanout{log: o.Log, logger: o.Logger, maxQueue: o.MaxQueue, bySubject: make(map[string]map[*Tap]struct{}),
		work: make(chan []Sink, 256)}
}

// Attach returns a tap that receives every change under subjects logged
// after the fanout's current position (Tap.Start).
func (f *Fanout) Attach(subjects []string) *Tap {
	t := &Tap{subjects: subjects, signal: make(chan struct{}, 1)}
	f.mu.Lock()
	t.start = f.pos
	for _, s := range subjects {
		m := f.bySubject[s]
		if m == nil {
			m = make(map[*Tap]struct{})
			f.bySubject[s] = m
		}
		m[t] = struct{}{}
	}
	f.mu.Unlock()
	return t
}

// Detach stops feeding t.
func (f *Fanout) Detach(t *Tap) {
	f.mu.Lock()
	f.detachLocked(t)
	f.mu.Unlock()
}

func (f *Fanout) detachLocked(t *Tap) {
	for _, s := range t.subjects {
		if m := f.bySubject[s]; m != nil {
			delete(m, t)
			if len(m) == 0 {
				delete(f.bySubject, s)
			}
		}
	}
}

// SetPosition sets where Run starts: after sequence pos. Call it before Run.
func (f *Fanout) SetPosition(pos uint64) {
	f.mu.Lock()
	f.pos = pos
	f.mu.Unlock()
}

// Run follows the log after the position until ctx ends, retrying on
// engine errors.
func (f *Fanout) Run(ctx context.Context) {
	f.runWriters(ctx)
	for ctx.Err() == nil {
		f.mu.Lock()
		next := f.pos + 1
		f.mu.Unlock()
		err := f.log.Follow(ctx, []string{"chg.>"}, next, func(r store.Record) error { return f.dispatch(ctx, r) })
		if ctx.Err() != nil {
			return
		}
		f.logger.Warn("following the change log; retrying", "err", err)
		if !clock.Sleep(ctx, time.Second) {
			return
		}
	}
}

func (f *Fanout) dispatch(ctx context.Context, r store.Record) error {
	var c Change
	if err := json.Unmarshal(r.Data, &c); err != nil {
		f.logger.Error("undecodable change in the log; skipped", "seq", r.Seq, "err", err)
		return nil
	}
	e := Entry{Seq: r.Seq, Change: &c, shared: &shared{}}
	var ready []Sink
	f.mu.Lock()
	if r.Seq <= f.pos {
		f.mu.Unlock()
		return nil
	}
	f.pos = r.Seq
	taps := f.bySubject[r.Subject]
	for t := range taps {
		ok, sink := t.push(e, f.maxQueue)
		if !ok {
			f.detachLocked(t)
		}
		if sink != nil {
			if ready == nil {
				ready = make([]Sink, 0, len(taps))
			}
			ready = append(ready, sink)
		}
	}
	f.mu.Unlock()
	f.handOut(ctx, ready)
	return nil
}

// Start is the fanout's position when the tap was attached: the tap gets
// every change after it; older ones are read from the log (Fanout.Replay).
func (t *Tap) Start() uint64 { return t.start }

// push queues e; false means the queue was full, and has been dropped.
// A direct tap's sink is returned when it is to be handed to the writers;
// any other tap's reader is woken.
func (t *Tap) push(e Entry, max int) (bool, Sink) {
	t.mu.Lock()
	ok := len(t.queue)-t.head < max
	if ok {
		if t.head > 0 && len(t.queue) == cap(t.queue) {
			// Move what waits to the front rather than grow past it.
			n := copy(t.queue, t.queue[t.head:])
			clear(t.queue[n:])
			t.queue, t.head = t.queue[:n], 0
		}
		t.queue = append(t.queue, e)
	} else {
		// Dropped: a direct tap's reader takes it back (ErrLagged).
		t.queue, t.head, t.lagged = nil, 0, true
		t.direct, t.scheduled = false, false
	}
	var sink Sink
	if t.direct && !t.scheduled {
		t.scheduled, sink = true, t.sink
	}
	direct := t.direct
	t.mu.Unlock()
	if direct {
		return ok, sink
	}
	select {
	case t.signal <- struct{}{}:
	default:
	}
	return ok, nil
}

// take removes the first queued change; t.mu held, the queue not empty.
func (t *Tap) take() Entry {
	e := t.queue[t.head]
	t.queue[t.head] = Entry{}
	if t.head++; t.head == len(t.queue) {
		t.head = 0
		if t.queue = t.queue[:0]; cap(t.queue) > keptQueue {
			t.queue = nil // let a backlog's array go
		}
	}
	return e
}

// Next returns the next change, waiting for one until ctx ends, or
// ErrLagged once the tap was dropped for falling too far behind.
func (t *Tap) Next(ctx context.Context) (Entry, error) {
	return t.next(ctx, nil)
}

// next is Next that also gives up with errIdle when idle fires first.
func (t *Tap) next(ctx context.Context, idle <-chan time.Time) (Entry, error) {
	for {
		t.mu.Lock()
		if t.head < len(t.queue) {
			e := t.take()
			t.mu.Unlock()
			return e, nil
		}
		lagged := t.lagged
		t.mu.Unlock()
		if lagged {
			return Entry{}, ErrLagged
		}
		select {
		case <-ctx.Done():
			return Entry{}, ctx.Err()
		case <-t.signal:
		case <-idle:
			return Entry{}, ErrIdle
		}
	}
}

// replayPage is how many changes are read from the log at a time. A
// reader's callback runs between pages, never while the engine's consumer
// is open, so a slow reader holds one page at most, and no consumer.
const replayPage = 256

var errPageFull = errors.New("notify: page full")

// Replay calls fn with the kept changes under subjects from position from
// through to, read from the log a page at a time.
func (f *Fanout) Replay(ctx context.Context, subjects []string, from, to uint64, fn func(Entry) error) error {
	for from <= to {
		page, last, full, err := f.page(ctx, subjects, from, to)
		if err != nil {
			return err
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if !full {
			return nil
		}
		from = last + 1
	}
	return nil
}

// page reads up to replayPage changes under subjects from position from
// through to; full says there may be more after last, the position of the
// last one read.
func (f *Fanout) page(ctx context.Context, subjects []string, from, to uint64) (page []Entry, last uint64, full bool, err error) {
	n := 0
	err = f.log.Read(ctx, subjects, from, to, func(r store.Record) error {
		n++
		last = r.Seq
		var c Change
		if err := json.Unmarshal(r.Data, &c); err != nil {
			f.logger.Error("undecodable change in the log; skipped", "seq", r.Seq, "err", err)
		} else {
			page = append(page, Entry{Seq: r.Seq, Change: &c})
		}
		if n == replayPage {
			return errPageFull
		}
		return nil
	})
	if errors.Is(err, errPageFull) {
		return page, last, true, nil
	}
	return page, last, false, err
}
