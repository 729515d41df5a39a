package notify

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/presenced/presenced/store"
)

// Fanout reads the change log once for the whole server, decodes each
// change once, and hands it to every tap watching its user. Measured: one
// engine consumer per subscription made every write wait on the engine's
// bookkeeping of a thousand consumers (0.7 s per setPresence at 1,000
// subscriptions); one reader and in-memory queues cost the writer nothing.
type Fanout struct {
	log    store.Log
	logger *slog.Logger

	mu        sync.Mutex
	pos       uint64 // the last sequence handed out
	bySubject map[string]map[*Tap]struct{}
}

// Entry is a change with its position in the log.
type Entry struct {
	Seq    uint64
	Change *Change // shared by every tap: never modify
}

// Tap is one reader of changes (a subscription's worker, a stream): an
// in-memory queue of the changes of its users, in log order.
type Tap struct {
	subjects []string
	start    uint64 // the fanout's position when the tap was attached

	mu     sync.Mutex
	queue  []Entry
	signal chan struct{}
}

// MaxTapQueue bounds a tap's queue; beyond it the oldest changes are
// dropped (a receiver that far behind is dropped by its retry limit too).
const MaxTapQueue = 1 << 20

// NewFanout builds a fanout over log; Run starts it.
func NewFanout(log store.Log, logger *slog.Logger) *Fanout {
	if logger == nil {
		logger = slog.Default()
	}
	return &Fanout{log: log, logger: logger, bySubject: make(map[string]map[*Tap]struct{})}
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
	for _, s := range t.subjects {
		if m := f.bySubject[s]; m != nil {
			delete(m, t)
			if len(m) == 0 {
				delete(f.bySubject, s)
			}
		}
	}
	f.mu.Unlock()
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
	for ctx.Err() == nil {
		f.mu.Lock()
		next := f.pos + 1
		f.mu.Unlock()
		err := f.log.Follow(ctx, []string{"chg.>"}, next, f.dispatch)
		if ctx.Err() != nil {
			return
		}
		f.logger.Warn("following the change log; retrying", "err", err)
		if !sleep(ctx, time.Second) {
			return
		}
	}
}

func (f *Fanout) dispatch(r store.Record) error {
	var c Change
	if err := json.Unmarshal(r.Data, &c); err != nil {
		f.logger.Error("undecodable change in the log; skipped", "seq", r.Seq, "err", err)
		return nil
	}
	e := Entry{Seq: r.Seq, Change: &c}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Seq <= f.pos {
		return nil
	}
	f.pos = r.Seq
	for t := range f.bySubject[r.Subject] {
		t.push(e)
	}
	return nil
}

// Start is the fanout's position when the tap was attached: the tap gets
// every change after it; older ones are read from the log (Fanout.Replay).
func (t *Tap) Start() uint64 { return t.start }

func (t *Tap) push(e Entry) {
	t.mu.Lock()
	if len(t.queue) >= MaxTapQueue {
		t.queue = t.queue[1:]
	}
	t.queue = append(t.queue, e)
	t.mu.Unlock()
	select {
	case t.signal <- struct{}{}:
	default:
	}
}

// Next returns the next change, waiting for one until ctx ends.
func (t *Tap) Next(ctx context.Context) (Entry, error) {
	for {
		t.mu.Lock()
		if len(t.queue) > 0 {
			e := t.queue[0]
			t.queue[0] = Entry{}
			t.queue = t.queue[1:]
			if len(t.queue) == 0 {
				t.queue = nil // let the backing array go
			}
			t.mu.Unlock()
			return e, nil
		}
		t.mu.Unlock()
		select {
		case <-ctx.Done():
			return Entry{}, ctx.Err()
		case <-t.signal:
		}
	}
}

// Replay calls fn with the kept changes under subjects from position from
// through to, read from the log.
func (f *Fanout) Replay(ctx context.Context, subjects []string, from, to uint64, fn func(Entry) error) error {
	return f.log.Read(ctx, subjects, from, to, func(r store.Record) error {
		var c Change
		if err := json.Unmarshal(r.Data, &c); err != nil {
			f.logger.Error("undecodable change in the log; skipped", "seq", r.Seq, "err", err)
			return nil
		}
		return fn(Entry{Seq: r.Seq, Change: &c})
	})
}
