package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/presenced/presenced/core/cachefile"
)

// Preloaded is a saved cache loaded into a cache of its own before the
// engine is open (Preload), so that a start spends the load (at a million
// users ~0.5 s of CPU) while the engine recovers instead of after it. The
// Core over the engine adopts it once the engine is open (Adopt), if the
// snapshot is of that engine as it is; otherwise it is dropped whole and
// the server starts as without a saved cache. Until then nothing reads or
// writes it: its positions are what it must be checked against, and the
// changes after them are read by CatchUp, as after Restore.
type Preloaded struct {
	c         *Core // nil once adopted or refused
	positions []cachefile.Position
	users     int
}

// Preload loads s (cachefile.Decode of the whole file, which must not
// change meanwhile; nothing of it is kept, entries are copied) into a
// cache of its own. It checks the entry layout (a snapshot of another
// build's is refused); the engine is checked by Adopt.
func Preload(s *cachefile.Snapshot) (*Preloaded, error) {
	if err := checkFormat(s); err != nil {
		return nil, err
	}
	c := New(Options{})
	n, err := c.fill(s)
	if err != nil {
		return nil, err
	}
	return &Preloaded{c: c, positions: s.Positions, users: n}, nil
}

// Users is how many users the preloaded cache holds.
func (p *Preloaded) Users() int { return p.users }

// Adopt returns a Core over o.KV that holds p's cache, and the Restored to
// bring it up to date with (CatchUp, before anything reads it), if p's
// snapshot is of o.Resume's engine as it is now: the same streams, created
// at the same instants, none behind the snapshot's positions (Restore's
// check). Otherwise it returns the reason (ErrSnapshotForeign,
// ErrNoResume, the engine's error) and no Core: the caller makes one with
// New and warms it, as without a snapshot. p is used up either way.
func (p *Preloaded) Adopt(ctx context.Context, o Options) (*Core, Restored, error) {
	c := p.c
	if c == nil {
		return nil, Restored{}, errors.New("core: load the cache: the preloaded cache was used already")
	}
	p.c = nil // adopted or dropped: never two cores on one cache
	if o.Resume == nil {
		return nil, Restored{}, fmt.Errorf("core: load the cache: %w", ErrNoResume)
	}
	now, err := o.Resume.Positions(ctx)
	if err != nil {
		return nil, Restored{}, fmt.Errorf("core: load the cache: %w", err)
	}
	if err := samePositions(p.positions, now); err != nil {
		return nil, Restored{}, fmt.Errorf("core: load the cache: %w: %w", ErrSnapshotForeign, err)
	}
	c.configure(o)
	return c, Restored{Users: p.users, after: positionsOf(p.positions)}, nil
}

// checkFormat refuses a snapshot of another entry layout.
func checkFormat(s *cachefile.Snapshot) error {
	if s.Format != cacheFormat {
		return fmt.Errorf("core: load the cache: %w: entry format %d, this build's is %d", cachefile.ErrVersion, s.Format, cacheFormat)
	}
	return nil
}
