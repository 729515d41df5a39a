package presenced

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/presenced/presenced/store"
)

// clockOffsetKey keeps dev mode's clock offset in the engine: facts written
// at a moved time must never end up in the future after a restart, and in
// a cluster every node runs on the one offset stored there.
const clockOffsetKey = "clock.offset"

// loadOffset is the clock offset stored in the engine (0: none).
func (s *Server) loadOffset(ctx context.Context) (time.Duration, error) {
	off, _, err := s.storedOffset(ctx)
	return off, err
}

// storedOffset is the stored clock offset and its revision (0: none).
func (s *Server) storedOffset(ctx context.Context) (time.Duration, uint64, error) {
	e, err := s.meta.Get(ctx, clockOffsetKey)
	if errors.Is(err, store.ErrNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("presenced: read clock offset: %w", err)
	}
	off, err := decodeOffset(e.Value)
	return off, e.Revision, err
}

func decodeOffset(v []byte) (time.Duration, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("presenced: stored clock offset is corrupt (%d bytes)", len(v))
	}
	return time.Duration(binary.BigEndian.Uint64(v)), nil
}

// devClock moves the server's clock durably: the new offset is stored
// before any rule sees it, and only a move the clock will take
// (clock.Offset.Check) is stored. In a cluster the stored offset is the
// cluster's: a move starts from it (another node may have moved it), and
// every node follows it (followClock).
type devClock struct{ s *Server }

func (d devClock) Now() time.Time        { return d.s.clock.Now() }
func (d devClock) Offset() time.Duration { return d.s.clock.Offset() }

func (d devClock) Advance(ctx context.Context, by time.Duration) (time.Duration, error) {
	d.s.offsetMu.Lock()
	defer d.s.offsetMu.Unlock()
	const attempts = 8 // each lost only to another node's move
	for range attempts {
		stored, rev, err := d.s.storedOffset(ctx)
		if err != nil {
			return 0, err
		}
		d.s.clock.AdvanceTo(stored) // what another node stored and this one has not heard yet
		if err := d.s.clock.Check(by); err != nil {
			return 0, err
		}
		next := d.s.clock.Offset() + by
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(next))
		_, err = d.s.meta.Put(ctx, clockOffsetKey, b[:], rev)
		if errors.Is(err, store.ErrConflict) {
			continue // another node moved it meanwhile: move from there
		}
		if err != nil {
			return 0, fmt.Errorf("presenced: store clock offset: %w", err)
		}
		return d.s.clock.AdvanceTo(next), nil
	}
	return 0, errors.New("presenced: the clock offset is being moved by other nodes at the same time; retry")
}

// followClock keeps this node's clock on the offset stored in the engine,
// in cluster mode: a move of the dev clock through any node moves every
// node's, within the Watch's latency. The offset only grows, so a node
// that hears of moves late or twice jumps to the newest. Started before
// anything reads the clock for a rule that matters (with the cache's
// follower), it first reads the offset once the watch is in place, which
// covers a move between loadOffset and the watch.
func (s *Server) followClock(ctx context.Context) error {
	w, err := s.meta.Watch(ctx, clockOffsetKey)
	if err != nil {
		return fmt.Errorf("presenced: engine: follow the clock offset: %w", err)
	}
	off, err := s.loadOffset(ctx)
	if err != nil {
		w.Stop()
		return err
	}
	s.clock.AdvanceTo(off)
	s.runDone.Add(1)
	go func() {
		defer s.runDone.Done()
		s.runFollowClock(s.runCtx, w)
	}()
	return nil
}

func (s *Server) runFollowClock(ctx context.Context, w store.Watcher) {
	for w != nil {
		err := s.applyOffsets(ctx, w)
		w.Stop()
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("following the clock offset: the engine's watch failed; following it again", "err", err)
		w = s.watchClockAgain(ctx)
	}
}

// applyOffsets moves the clock to each offset w delivers, until w fails.
func (s *Server) applyOffsets(ctx context.Context, w store.Watcher) error {
	for {
		ch, err := w.Next(ctx)
		if err != nil {
			return err
		}
		if ch.Key != clockOffsetKey || ch.Deleted {
			continue
		}
		off, err := decodeOffset(ch.Value)
		if err != nil {
			s.log.Error("the clock offset another node stored cannot be read; this node's clock keeps its offset", "err", err)
			continue
		}
		s.clock.AdvanceTo(off)
	}
}

// watchClockAgain starts a new watch of the offset and catches up with
// what was stored meanwhile, trying every second; nil once ctx ends.
func (s *Server) watchClockAgain(ctx context.Context) store.Watcher {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if w, err := s.meta.Watch(ctx, clockOffsetKey); err == nil {
			off, err := s.loadOffset(ctx)
			if err == nil {
				s.clock.AdvanceTo(off)
				return w
			}
			w.Stop()
		}
		t.Reset(time.Second)
	}
}
