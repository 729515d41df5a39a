package presenced

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/dirstore"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// seedFile is a directory file read and hashed; parsed only when it is to
// be imported.
type seedFile struct {
	data []byte
	sha  string
	err  error
}

func readSeedFile(path string) seedFile {
	f, err := os.Open(path)
	if err != nil {
		return seedFile{err: presence.Errorf(presence.Invalid, "", "directory file: %v", err)}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, directory.MaxFileSize+1))
	if err != nil {
		return seedFile{err: presence.Errorf(presence.Invalid, "", "directory file %s: %v", path, err)}
	}
	if len(data) > directory.MaxFileSize {
		return seedFile{err: presence.Errorf(presence.Invalid, "", "directory file %s is larger than %d bytes.", path, directory.MaxFileSize)}
	}
	h := sha256.Sum256(data)
	return seedFile{data: data, sha: hex.EncodeToString(h[:])}
}

// openDirectory opens the directory bucket and seeds it: from the
// directory file, from Config.Directory, or in dev mode from the demo.
func (s *Server) openDirectory(ctx context.Context, seed seedFile) error {
	start := s.cfg.Clock.Now()
	kv, err := s.engine.Bucket(ctx, "directory")
	if err != nil {
		return fmt.Errorf("presenced: engine: %w", err)
	}
	s.dirs, err = dirstore.Open(ctx, dirstore.Options{KV: kv.(store.SerialKV), Clock: s.clock, Logger: s.log})
	if err != nil {
		return fmt.Errorf("presenced: directory: %w", err)
	}
	s.dir = s.dirs.Directory()
	s.log.Info("directory loaded", "users", s.dir.UserCount(), "took", clock.Since(s.cfg.Clock, start).Round(time.Millisecond))
	switch {
	case s.cfg.DirectoryFile != "":
		return s.seedFromFile(ctx, seed)
	case s.cfg.Directory != nil:
		b, err := json.Marshal(s.cfg.Directory)
		if err != nil {
			return fmt.Errorf("presenced: directory: %w", err)
		}
		_, err = s.seed(ctx, s.cfg.Directory, dirstore.Source{Kind: "config", SHA256: dirstore.Hash(b)})
		return err
	case s.cfg.Dev:
		src := dirstore.Source{Kind: "demo", Name: "the dev-mode demo", SHA256: dirstore.Hash([]byte("demo/1/" + strconv.Itoa(s.cfg.DemoUsers)))}
		if _, err := s.seed(ctx, directory.DemoFile(s.cfg.DemoUsers), src); errors.Is(err, dirstore.ErrChangedSinceImport) {
			s.log.Warn("dev mode: the demo directory was changed since it was imported, and is kept as it is; --demo-users applies to a new data directory", "err", err)
		} else if err != nil {
			return err
		}
	}
	if len(s.dir.Tenants()) == 0 {
		// Most likely a wrong --data: refuse rather than serve nobody.
		return fmt.Errorf("presenced: the directory in %s is empty: seed it with --directory FILE, or import one with `presenced directory import --data %s FILE` (docs/directory.md); --dev serves a demo tenant", s.cfg.DataDir, s.cfg.DataDir)
	}
	return nil
}

// seedFromFile seeds the directory from the directory file read at start
// (or again on SIGHUP). A file identical to the last import is not even
// parsed.
func (s *Server) seedFromFile(ctx context.Context, seed seedFile) error {
	if seed.err != nil {
		return fmt.Errorf("presenced: %w", seed.err)
	}
	src := dirstore.Source{Kind: "file", Name: s.cfg.DirectoryFile, SHA256: seed.sha}
	if last, _ := s.dirs.Imported(); last != nil && last.SHA256 == seed.sha {
		s.log.Info("directory file unchanged since its import: the directory is the engine's", "file", s.cfg.DirectoryFile)
		return nil
	}
	f, err := directory.Parse(seed.data)
	if err != nil {
		var pe *presence.Error
		if errors.As(err, &pe) {
			return fmt.Errorf("presenced: %s: %s", s.cfg.DirectoryFile, pe.Message)
		}
		return fmt.Errorf("presenced: %s: %w", s.cfg.DirectoryFile, err)
	}
	_, err = s.seed(ctx, f, src)
	return err
}

func (s *Server) seed(ctx context.Context, f *directory.File, src dirstore.Source) (string, error) {
	start := s.cfg.Clock.Now()
	did, err := s.dirs.Seed(ctx, f, src)
	if err != nil {
		return "", fmt.Errorf("presenced: directory: %w", err)
	}
	if did != "unchanged" {
		s.log.Info("directory "+did, "from", src.Kind, "name", src.Name, "users", s.dir.UserCount(), "took", clock.Since(s.cfg.Clock, start).Round(time.Millisecond))
	}
	return did, nil
}

// ReloadDirectory reads the directory file again and imports it when it
// changed and the directory was not changed otherwise since its last
// import (cmd/presenced does this on SIGHUP); otherwise it says why not.
// A change applies at once: trust is checked at every read and delivery.
func (s *Server) ReloadDirectory() error {
	if s.cfg.DirectoryFile == "" {
		return errors.New("presenced: no directory file to reload (the directory is the engine's: change it with presenced admin, Graph or SCIM, or import a file with presenced directory import)")
	}
	return s.seedFromFile(context.Background(), readSeedFile(s.cfg.DirectoryFile))
}

// usersGone ends what users who left the directory, or whose account was
// disabled, had: presence, calendar and the subscriptions that were theirs
// or only about them. Their tokens and streams end by themselves (the
// directory's Version moved).
func (s *Server) usersGone(g dirstore.UsersGone) {
	ctx := s.runCtx
	for _, id := range g.Removed {
		u := core.UserRef{TenantID: g.TenantID, UserID: id}
		if err := s.core.Remove(ctx, u); err != nil {
			s.log.Warn("removing a deleted user's presence", "user", id, "err", err)
		}
		if err := s.mail.RemoveUser(ctx, u); err != nil {
			s.log.Warn("removing a deleted user's calendar", "user", id, "err", err)
		}
	}
	s.subs.UsersGone(ctx, g.TenantID, g.Removed, g.Disabled)
}
