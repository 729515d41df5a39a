package dirstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// A change of the directory is a transaction over the whole bucket: it
// starts from the revision up to which this node's directory reflects
// every change (applied), checks against that directory, and writes each
// key after the previous write (store.SerialKV). If anything else was
// written meanwhile — by another node, or the watch has not delivered it
// yet — the engine refuses the write; the change then waits for the watch
// to catch up and starts over, checking again. Nothing it refused was
// written.

// errRetry: a write met another writer's; start the change over.
var errRetry = errors.New("dirstore: written meanwhile; start over")

// attempts bounds how often a change starts over.
const attempts = 5

// catchUpWait bounds how long a change waits for the watch.
const catchUpWait = 5 * time.Second

// txn is one attempt of a change.
type txn struct {
	s     *Store
	ctx   context.Context
	after uint64 // the revision the next write goes after
	gone  []UsersGone
	// free: a write that met another is made again after catching up,
	// rather than the change starting over (an import's new generation
	// and the deletion of old ones, which nothing else checks against).
	free bool
}

// tx runs change until it commits or fails for a reason of its own; the
// OnUsersGone hooks then get who lost their access by it.
func (s *Store) tx(ctx context.Context, change func(t *txn) error) error {
	var gone []UsersGone
	err := func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		for range attempts {
			t := &txn{s: s, ctx: ctx, after: s.appliedNow()}
			err := change(t)
			if !errors.Is(err, errRetry) {
				gone = t.gone
				return err
			}
		}
		return presence.Errorf(presence.Unavailable, "", "The directory is being changed by other requests at the same time; send the request again.")
	}()
	for _, g := range gone {
		s.usersGone(g)
	}
	return err
}

func (s *Store) appliedNow() uint64 {
	s.st.Lock()
	defer s.st.Unlock()
	return s.applied
}

// write puts value under key (or deletes key) after the transaction's
// last write and, once stored, applies it in memory with apply (under st,
// unless the watch applied something newer of key already).
func (t *txn) write(key string, value []byte, del bool, apply func()) error {
	_, err := t.put(key, value, del, nil, apply)
	return err
}

// put is write, returning the revision written. With a guard it is made
// however many other writes come first, each time after catching up with
// them and only while guard (called under st, on the directory as of the
// bucket's newest write) holds: what it refuses is returned, unwritten.
// PutAfter makes the guard and the write one act: nothing is written in
// between.
func (t *txn) put(key string, value []byte, del bool, guard func() error, apply func()) (uint64, error) {
	s := t.s
	for {
		s.st.Lock()
		if guard != nil {
			if err := guard(); err != nil {
				s.st.Unlock()
				return 0, err
			}
			t.after = s.applied
		}
		s.inflight[key]++
		s.st.Unlock()
		var rev uint64
		var err error
		if del {
			rev, err = s.kv.DeleteAfter(t.ctx, key, t.after)
		} else {
			rev, err = s.kv.PutAfter(t.ctx, key, value, t.after)
		}
		s.st.Lock()
		if err == nil && rev > s.seen[key] {
			s.seen[key] = rev
			if apply != nil {
				apply()
			}
		}
		if err == nil {
			s.applied = max(s.applied, rev)
		}
		// What the watch applied to key meanwhile (this write, delivered
		// first, or another's) is reported with this change.
		if s.inflight[key]--; s.inflight[key] == 0 {
			delete(s.inflight, key)
			t.gone = append(t.gone, s.stash[key]...)
			delete(s.stash, key)
		}
		s.st.Unlock()
		if errors.Is(err, store.ErrConflict) {
			if cerr := s.catchUp(t.ctx); cerr != nil {
				return 0, cerr
			}
			if t.free || guard != nil {
				t.after = s.appliedNow()
				continue
			}
			return 0, errRetry
		}
		if err != nil {
			return 0, unavailable(err)
		}
		t.after = rev
		return rev, nil
	}
}

// catchUp waits until the watch has applied every change made so far;
// if it does not within catchUpWait, the directory is read again.
func (s *Store) catchUp(ctx context.Context) error {
	last, err := s.kv.LastRevision(ctx)
	if err != nil {
		return unavailable(err)
	}
	deadline := time.NewTimer(catchUpWait) // a bound on real waiting, not a reading of the clock
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for s.appliedNow() < last {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			s.log.Warn("directory: the watch did not catch up; reading the directory again")
			s.st.Lock()
			defer s.st.Unlock()
			if err := s.load(ctx); err != nil {
				return unavailable(err)
			}
			return nil
		case <-tick.C:
		}
	}
	return nil
}

// generation is the live generation.
func (s *Store) generation() uint64 {
	s.st.Lock()
	defer s.st.Unlock()
	return s.cur.Generation
}

// markChanged records, once after an import, that the directory is no
// longer what was imported (serve --directory then stops re-importing).
func (t *txn) markChanged() error {
	t.s.st.Lock()
	next := t.s.cur
	t.s.st.Unlock()
	if next.Source == nil || next.Changed {
		return nil
	}
	next.Changed = true
	return t.setCurrent(next)
}

// ensureGeneration makes a first generation current when the bucket has
// no directory yet, for a first change made without an import.
func (t *txn) ensureGeneration() error {
	if t.s.generation() > 0 {
		return nil
	}
	g, err := t.claim()
	if err != nil {
		return err
	}
	return t.setCurrent(current{Generation: g})
}

// claimKey is written to number a new generation: its revision is the
// generation's number. Revisions are never reused, so no two generations
// (two nodes importing at once) share a number and their keys, and a
// generation claimed later has a greater number.
const claimKey = "claim"

// claim numbers a new generation.
func (t *txn) claim() (uint64, error) {
	return t.put(claimKey, []byte("{}"), false, nil, nil)
}

func (t *txn) setCurrent(next current) error {
	b, _ := json.Marshal(next)
	return t.write(currentKey, b, false, func() { t.s.cur = next })
}
