package presenced

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/core/cachefile"
	"github.com/presenced/presenced/internal/atomicfile"
	"github.com/presenced/presenced/internal/mapfile"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/store"
)

// CacheFile is the core's cache saved in the data directory, beside the
// engine (core/cachefile's format): written at shutdown and every
// cacheSaveEvery, loaded at start so that the server answers from memory
// from its first request instead of warming the cache from the engine for
// half a minute (docs/design.md, "Restarting from a snapshot of the
// cache"). Deleting it costs one warm-up, nothing else.
const CacheFile = "cache.snapshot"

// cacheSaveEvery is how often a running server saves its cache, so that
// after a crash only the changes since are read again. At a million users
// a save writes ~100 MB and costs ~0.5 s of CPU: a few per hour is noise.
const cacheSaveEvery = 10 * time.Minute

// cacheCheckDelay is how long after a start from a snapshot the warm-up's
// walk of every stored user runs anyway, as a check: it is the one pass
// that finds records the engine cannot read (damaged files), and it
// caches whatever the snapshot lacked. Not at once: the first seconds
// after a restart are for the requests that waited for it.
const cacheCheckDelay = 10 * time.Second

// savedCache is the saved cache read, checked and loaded into a cache of
// its own (core.Preload), or why not, with how long that took:
// readCache's result, waited for.
type savedCache func() (*core.Preloaded, int, time.Duration, error)

// readCache reads, checks and loads the saved cache in the background,
// from the very start: at a million users it is ~90 MB to read (mapped,
// internal/mapfile) and checksum and ~0.5 s of CPU to load, which a start spends while the
// engine recovers and the directory loads. Whether the engine is the one
// the cache was saved from, and as it was, is checked once it is open
// (newCore).
func (s *Server) readCache() savedCache {
	var (
		pre  *core.Preloaded
		size int
		took time.Duration
		err  error
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := s.cfg.Clock.Now()
		var f *mapfile.File
		if f, err = mapfile.Open(filepath.Join(s.cfg.DataDir, CacheFile)); err == nil {
			size = len(f.Bytes())
			// Preload copies what it keeps: the file is released after.
			if ferr := mapfile.Guard(func() {
				var snap *cachefile.Snapshot
				if snap, err = cachefile.Decode(f.Bytes()); err == nil {
					pre, err = core.Preload(snap)
				}
			}); ferr != nil {
				pre, err = nil, fmt.Errorf("read %s: %w", CacheFile, ferr)
			}
			f.Close()
		}
		took = clock.Since(s.cfg.Clock, start)
		if err == nil {
			s.log.Info("saved cache read", "users", pre.Users(), "bytes", size, "took", took.Round(time.Millisecond))
		}
	}()
	return func() (*core.Preloaded, int, time.Duration, error) { <-done; return pre, size, took, err }
}

// newCore is the core over the engine: the saved cache's, if there is
// one this engine can use (core.Preloaded.Adopt: the same streams, none
// behind the file's positions), with what to catch it up from before the
// follower starts; otherwise a new, empty one. A file that is missing,
// damaged, of another engine or of another build is left aside (at WARN
// but for a missing one) and the cache is warmed as without it.
func (s *Server) newCore(ctx context.Context, o core.Options, saved savedCache) (*core.Core, *core.Restored) {
	path := filepath.Join(s.cfg.DataDir, CacheFile)
	pre, _, _, err := saved()
	if s.resume == nil {
		return core.New(o), nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		s.log.Info("no saved cache: warming it from the engine", "file", path)
		return core.New(o), nil
	}
	if err == nil && s.engineLost {
		// It may show what the engine lost as if it were still stored.
		s.log.Warn("the engine lost data: the saved cache is not used, and the cache is warmed from what remains", "file", path)
		return core.New(o), nil
	}
	if err == nil {
		start := s.cfg.Clock.Now()
		c, r, aerr := pre.Adopt(ctx, o)
		if aerr == nil {
			// took: the check against the engine; the load itself was
			// before, beside the engine's recovery ("saved cache read").
			s.log.Info("saved cache loaded", "users", r.Users, "took", clock.Since(s.cfg.Clock, start).Round(time.Millisecond))
			return c, &r
		}
		err = aerr
	}
	s.log.Warn("the saved cache cannot be used: warming it from the engine instead (nothing is lost; the file is replaced at the next save)", "file", path, "err", err)
	return core.New(o), nil
}

// catchUpCache brings a loaded cache up to date with what the engine
// stored after it was saved, before the server listens, and reports
// whether the cache is complete.
func (s *Server) catchUpCache(ctx context.Context, r *core.Restored) bool {
	if r == nil {
		return false
	}
	start := s.cfg.Clock.Now()
	n, err := s.core.CatchUp(ctx, *r)
	took := clock.Since(s.cfg.Clock, start).Round(time.Millisecond)
	if err != nil {
		s.log.Warn("the saved cache could not be brought up to date: warming it from the engine instead", "changes_read", n, "took", took, "err", err)
		return false
	}
	s.log.Info("saved cache up to date with the engine", "changes_since_saved", n, "took", took)
	return true
}

// saveCache writes the cache to CacheFile (a temporary file, fsync'd, then
// renamed over the old one and the directory fsync'd: a crash leaves the
// old file or the new one), if it is complete: warmed, or loaded and
// caught up. A partial cache would make the next start slower, not
// wrong; the older file is better.
func (s *Server) saveCache(ctx context.Context) {
	if s.resume == nil || !s.cacheComplete.Load() {
		return
	}
	start := s.cfg.Clock.Now()
	path := filepath.Join(s.cfg.DataDir, CacheFile)
	users, err := s.writeCacheFile(ctx, path)
	took := clock.Since(s.cfg.Clock, start).Round(time.Millisecond)
	if err != nil {
		s.log.Warn("could not save the cache; the next start warms it from the engine, or uses the previous save", "file", path, "took", took, "err", err)
		return
	}
	s.log.Info("cache saved", "users", users, "took", took)
}

func (s *Server) writeCacheFile(ctx context.Context, path string) (users int, err error) {
	err = atomicfile.Write(path, cacheTempPattern, func(w io.Writer) error {
		users, err = s.core.SaveSnapshot(ctx, w)
		return err
	})
	if err != nil {
		return users, fmt.Errorf("write %s: %w", path, err)
	}
	return users, nil
}

// saveCachePeriodically saves the cache every cacheSaveEvery until the
// server stops (it saves once more then, in close).
func (s *Server) saveCachePeriodically() {
	if s.resume == nil {
		return
	}
	s.runDone.Add(1)
	go func() {
		defer s.runDone.Done()
		t := time.NewTicker(cacheSaveEvery)
		defer t.Stop()
		for {
			select {
			case <-s.runCtx.Done():
				return
			case <-t.C:
				s.saveCache(s.runCtx)
				s.saveDirectory(s.runCtx)
			}
		}
	}()
}

// resumable is the engine's presence KV as store.Resumable, or nil.
func resumable(kv store.KV) store.Resumable {
	r, _ := kv.(store.Resumable)
	return r
}

// warm reads every stored user into the core's cache in the background,
// while requests are served: after a restart, reads are then answered from
// memory instead of one engine read per user not seen yet. After a start
// from the saved cache (cached) the cache is complete already, and the
// walk runs cacheCheckDelay later as a check (the one pass that finds
// records the engine cannot read), caching only what the engine holds
// newer, which should be nothing.
func (s *Server) warm(cached bool) {
	ctx := s.runCtx
	what := "cache warm-up"
	if cached {
		what = "cache check against the engine"
		s.warmed.Set()
		s.cacheComplete.Store(true)
	}
	s.runDone.Add(1)
	go func() {
		defer s.runDone.Done()
		if cached {
			delay := s.cfg.cacheCheck
			if delay == 0 {
				delay = cacheCheckDelay
			}
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if s.cfg.warmGate != nil {
			s.cfg.warmGate(ctx)
		}
		start := s.cfg.Clock.Now()
		n, err := s.core.Warm(ctx)
		took := clock.Since(s.cfg.Clock, start).Round(time.Millisecond)
		var unreadable *natsstore.UnreadableError
		if ctx.Err() == nil {
			s.warmed.Set() // done, even with unreadable records: reads of those go to the engine
			if err == nil {
				s.cacheComplete.Store(true)
			}
		}
		switch {
		case ctx.Err() != nil:
			s.log.Info(what+" stopped by shutdown", "users", n, "took", took)
		case errors.As(err, &unreadable):
			// The warm-up reads every stored user: the one pass that
			// finds a record damaged inside a block the engine trusts.
			s.log.Error("engine data unreadable: those users read as never set until they are written again; stop the server and run `presenced check` (docs/durability.md)",
				"stream", unreadable.Stream, "holds", streamHolds[unreadable.Stream], "unreadable_records", unreadable.Records, "users_warmed", n)
		case err != nil:
			s.log.Error(what, "users", n, "took", took, "err", err)
		case cached:
			s.log.Info("cache checked against the engine", "users_added", n, "took", took)
		default:
			s.log.Info("cache warmed", "users", n, "took", took)
		}
	}()
}
