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
	"github.com/presenced/presenced/dirstore"
	"github.com/presenced/presenced/internal/atomicfile"
	"github.com/presenced/presenced/internal/mapfile"
)

// DirectorySnapshotFile is the directory saved in the data directory,
// beside the engine (dirstore's snapshot: the in-memory directory and the
// bucket position it reflects), written at shutdown and, when the
// directory changed, every cacheSaveEvery. A start builds the directory
// from it while the engine recovers, instead of decoding every page of
// the engine after it (docs/design.md, "Restarting from a saved
// directory"). Deleting it costs that reading, nothing else.
const DirectorySnapshotFile = "directory.snapshot"

// savedDirectory is the saved directory read, checked and built, or why
// not, with how long that took: readDirectory's result, waited for.
type savedDirectory func() (*dirstore.Snapshot, int, time.Duration, error)

// readDirectory reads the saved directory in the background, from the
// very start: the directory is built (decoded, checked, indexed) while
// the engine recovers, and only checked against it afterwards.
func (s *Server) readDirectory() savedDirectory {
	var (
		snap *dirstore.Snapshot
		size int
		took time.Duration
		err  error
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := s.cfg.Clock.Now()
		var f *mapfile.File
		if f, err = mapfile.Open(filepath.Join(s.cfg.DataDir, DirectorySnapshotFile)); err == nil {
			size = len(f.Bytes())
			// The decoded directory is a copy: the file is released after.
			if ferr := mapfile.Guard(func() { snap, err = dirstore.DecodeSnapshot(f.Bytes()) }); ferr != nil {
				snap, err = nil, fmt.Errorf("read %s: %w", DirectorySnapshotFile, ferr)
			}
			f.Close()
		}
		took = clock.Since(s.cfg.Clock, start)
	}()
	return func() (*dirstore.Snapshot, int, time.Duration, error) { <-done; return snap, size, took, err }
}

// savedDirectoryFor is the saved directory for dirstore.Open, or nil
// (said in the log: at INFO when there is none, at WARN when it is
// damaged).
func (s *Server) savedDirectoryFor(saved savedDirectory) *dirstore.Snapshot {
	path := filepath.Join(s.cfg.DataDir, DirectorySnapshotFile)
	snap, size, took, err := saved()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.log.Info("no saved directory: reading it from the engine", "file", path)
		return nil
	case err != nil:
		s.log.Warn("the saved directory cannot be used: reading it from the engine instead (nothing is lost; the file is replaced at the next save)", "file", path, "err", err)
		return nil
	}
	if s.engineLost {
		// It may show what the engine lost as if it were still stored.
		s.log.Warn("the engine lost data: the saved directory is not used, and the directory is read from what remains", "file", path)
		return nil
	}
	s.log.Info("saved directory read", "users", snap.Users(), "bytes", size, "saved_at_seq", snap.Seq(), "took", took.Round(time.Millisecond))
	return snap
}

// saveDirectory writes the directory to DirectorySnapshotFile (replaced
// whole or not at all), unless it was saved at the position it is at now.
func (s *Server) saveDirectory(ctx context.Context) {
	if s.dirs == nil || (s.dirSaved.Load() != 0 && s.dirSaved.Load() == s.dirs.Applied()) {
		return
	}
	start := s.cfg.Clock.Now()
	path := filepath.Join(s.cfg.DataDir, DirectorySnapshotFile)
	var users int
	var seq uint64
	err := atomicfile.Write(path, directoryTempPattern, func(w io.Writer) (err error) {
		users, seq, err = s.dirs.WriteSnapshot(ctx, w)
		return err
	})
	took := clock.Since(s.cfg.Clock, start).Round(time.Millisecond)
	if errors.Is(err, dirstore.ErrNoSnapshot) {
		return
	}
	if err != nil {
		s.log.Warn("could not save the directory; the next start reads it from the engine, or uses the previous save", "file", path, "took", took, "err", err)
		return
	}
	s.dirSaved.Store(seq)
	s.log.Info("directory saved", "users", users, "seq", seq, "took", took)
}
