package presenced

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/presenced/presenced/admin"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/dirstore"
	"github.com/presenced/presenced/internal/dirlock"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// seedFile is a directory file's hash, read while the engine starts; the
// file is decoded only when it is to be imported.
type seedFile struct {
	sha string
	err error
}

func readSeedFile(path string) seedFile {
	f, err := os.Open(path)
	if err != nil {
		return seedFile{err: presence.Errorf(presence.Invalid, "", "directory file: %v", err)}
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, directory.MaxFileSize+1))
	if err != nil {
		return seedFile{err: presence.Errorf(presence.Invalid, "", "directory file %s: %v", path, err)}
	}
	if n > directory.MaxFileSize {
		return seedFile{err: presence.Errorf(presence.Invalid, "", "directory file %s is larger than %d bytes.", path, directory.MaxFileSize)}
	}
	return seedFile{sha: hex.EncodeToString(h.Sum(nil))}
}

// openDirectory opens the directory bucket and seeds it: from the
// directory file, from Config.Directory, or in dev mode from the demo.
func (s *Server) openDirectory(ctx context.Context, seed seedFile, saved *dirstore.Snapshot) error {
	start := s.cfg.Clock.Now()
	kv, err := s.engine.Bucket(ctx, "directory")
	if err != nil {
		return fmt.Errorf("presenced: engine: %w", err)
	}
	s.dirs, err = dirstore.Open(ctx, dirstore.Options{KV: kv.(store.SerialKV), Clock: s.clock, Logger: s.log, Replicated: s.cfg.Cluster != nil, Snapshot: saved})
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
	file, err := os.Open(s.cfg.DirectoryFile)
	if err != nil {
		return fmt.Errorf("presenced: directory file: %w", err)
	}
	defer file.Close()
	// Decoded as it is read; the source is the hash of what was decoded
	// (the file may have changed since it was hashed).
	f, sha, err := dirstore.Decode(file)
	if err != nil {
		var pe *presence.Error
		if errors.As(err, &pe) {
			return fmt.Errorf("presenced: %s: %s", s.cfg.DirectoryFile, pe.Message)
		}
		return fmt.Errorf("presenced: %s: %w", s.cfg.DirectoryFile, err)
	}
	src.SHA256 = sha
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

// AdminSocket is the file name of the operator's API socket in the data
// directory.
const AdminSocket = "admin.sock"

// serveAdmin serves the operator's API (package admin) on a Unix socket in
// the data directory, mode 0600: whoever may open the data directory may
// administer the directory, nobody else, and nothing listens on the
// network for it. A socket left by a process that died is replaced (this
// one holds the data directory's lock). A path too long for a socket, or
// a system without them, leaves the API off, said in the log.
func (s *Server) serveAdmin() {
	path := filepath.Join(s.cfg.DataDir, AdminSocket)
	_ = os.Remove(path)
	// The socket is made in a directory of its own, mode 0700, and moved
	// into place once it is 0600: a data directory readable by others
	// never shows a socket anyone could connect to, not even for an
	// instant between its creation and its chmod.
	private, err := os.MkdirTemp(s.cfg.DataDir, ".admin-")
	if err != nil {
		s.log.Warn("the operator's API is off: no socket in the data directory (presenced admin then works only with the server stopped)", "path", path, "err", err)
		return
	}
	defer os.RemoveAll(private)
	made := filepath.Join(private, AdminSocket)
	ln, err := net.Listen("unix", made)
	if err != nil {
		s.log.Warn("the operator's API is off: no socket in the data directory (presenced admin then works only with the server stopped)", "path", path, "err", err)
		return
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false) // it is removed by its final name, below
	if err := os.Chmod(made, 0o600); err != nil {
		_ = ln.Close()
		s.log.Warn("the operator's API is off: its socket's mode cannot be set", "path", path, "err", err)
		return
	}
	if err := os.Rename(made, path); err != nil {
		_ = ln.Close()
		s.log.Warn("the operator's API is off: its socket cannot be put in place", "path", path, "err", err)
		return
	}
	s.adminHTTP = &http.Server{Handler: admin.New(s.dirs, s.clock), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	go func() { _ = s.adminHTTP.Serve(ln) }()
}

// closeAdmin stops the operator's API and removes its socket.
func (s *Server) closeAdmin() {
	if s.adminHTTP == nil {
		return
	}
	_ = s.adminHTTP.Close()
	_ = os.Remove(filepath.Join(s.cfg.DataDir, AdminSocket))
}

// OfflineDirectory is the directory of a data directory no server runs
// on, opened as a server opens it (the data directory locked, the engine
// checked against its manifest), for presenced admin and presenced
// directory.
type OfflineDirectory struct {
	Store *dirstore.Store
	s     *Server
}

// OpenDirectory opens the directory of cfg.DataDir without serving.
// Only cfg's data directory, engine and logging settings are used.
func OpenDirectory(ctx context.Context, cfg Config) (_ *OfflineDirectory, err error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	if m, _, err := natsstore.ReadManifest(filepath.Join(cfg.DataDir, ManifestFile)); err == nil && m.Cluster != "" {
		return nil, fmt.Errorf("presenced: %s is a node of cluster %q: its directory is the cluster's, changed through a running node (presenced admin over its socket)", cfg.DataDir, m.Cluster)
	}
	if s.lock, err = dirlock.Acquire(cfg.DataDir, processName()); err != nil {
		return nil, fmt.Errorf("presenced: %w", err)
	}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	eopts, err := s.engineOptions()
	if err != nil {
		return nil, err
	}
	if s.engine, err = natsstore.Open(ctx, eopts); err != nil {
		return nil, fmt.Errorf("presenced: engine: %w", err)
	}
	if !cfg.Cluster.external() {
		if err := s.checkEngine(ctx); err != nil {
			return nil, err
		}
	}
	s.clock = clock.NewOffset(cfg.Clock, 0)
	kv, err := s.engine.Bucket(ctx, "directory")
	if err != nil {
		return nil, layoutError(err)
	}
	if s.dirs, err = dirstore.Open(ctx, dirstore.Options{KV: kv.(store.SerialKV), Clock: s.clock, Logger: s.log, Replicated: s.cfg.Cluster != nil}); err != nil {
		return nil, fmt.Errorf("presenced: directory: %w", err)
	}
	return &OfflineDirectory{Store: s.dirs, s: s}, nil
}

// Handler is the operator's API over the offline directory.
func (o *OfflineDirectory) Handler() http.Handler { return admin.New(o.Store, o.s.clock) }

// Close closes the directory and the engine and unlocks the data directory.
func (o *OfflineDirectory) Close() { o.s.close() }

// DataDir is the server's data directory.
func (s *Server) DataDir() string { return s.cfg.DataDir }

// issuerClient is the HTTP client that fetches external issuers'
// discovery documents and keys: the system's CAs and IssuerCAFile's, a
// 10-second bound, and no redirect away from https (or loopback http).
func (s *Server) issuerClient() (*http.Client, error) {
	if s.cfg.IssuerCAFile == "" {
		return nil, nil // auth's default
	}
	pem, err := os.ReadFile(s.cfg.IssuerCAFile)
	if err != nil {
		return nil, fmt.Errorf("presenced: --issuer-ca-file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("presenced: --issuer-ca-file %s holds no PEM certificate", s.cfg.IssuerCAFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if r.URL.Scheme != "https" && r.URL.Hostname() != "127.0.0.1" && r.URL.Hostname() != "localhost" && r.URL.Hostname() != "::1" {
			return fmt.Errorf("a redirect to %s, not https", r.URL.Redacted())
		}
		return nil
	}}, nil
}
