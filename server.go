// Package presenced is a self-hosted Microsoft Graph presence server. A
// Server is a value built from a Config, started and stopped in-process, so
// tests run several at once; cmd/presenced is a thin shell around it.
package presenced

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/auth/throttle"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/dirstore"
	"github.com/presenced/presenced/graphapi"
	"github.com/presenced/presenced/internal/atomicfile"
	"github.com/presenced/presenced/internal/dirlock"
	"github.com/presenced/presenced/mailbox"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/notify"
	"github.com/presenced/presenced/observe"
	"github.com/presenced/presenced/scim"
	"github.com/presenced/presenced/store"
	"github.com/presenced/presenced/web"
)

// Server is one presenced instance.
type Server struct {
	cfg      Config
	log      *slog.Logger
	dir      *directory.Directory
	dirs     *dirstore.Store
	lock     *dirlock.Lock // the data directory's, held from before the engine opens until after it closed
	engine   *natsstore.Engine
	meta     store.KV
	clock    *clock.Offset
	issuer   *auth.Issuer
	core     *core.Core
	ln       net.Listener
	http     *http.Server
	baseURL  string
	serveErr chan error
	stopOnce sync.Once
	hub      *notify.Hub
	subs     *notify.Manager
	api      *graphapi.API
	mail     *mailbox.Mailbox
	runCtx   context.Context // the background work's; cancelled by runStop on shutdown
	runStop  context.CancelFunc
	runDone  sync.WaitGroup
	offsetMu sync.Mutex // serialises dev-clock moves

	// Operations (ops.go, tls.go).
	metrics   *observe.Metrics // nil: off
	health    *observe.Health
	dirLoaded *observe.Flag
	warmed    *observe.Flag
	// The saved cache (cachesnap.go): the engine's presence partitions as
	// store.Resumable (nil: not saved), and whether the cache is complete
	// (warmed, or loaded and caught up), which a save needs.
	resume        store.Resumable
	cacheComplete atomic.Bool
	// dirSaved is the bucket sequence of the directory last saved
	// (serverdirsnap.go); 0: none yet.
	dirSaved    atomic.Uint64
	engineLost  bool            // the engine's check found data lost (damage.go)
	lostStreams map[string]bool // the streams it found damaged or missing
	engineOpen  atomic.Bool
	noDrain     atomic.Bool // ShutdownNow
	metricsLn   net.Listener
	metricsHTTP *http.Server
	adminHTTP   *http.Server // the operator's API on the data directory's socket (serverdir.go)
	cert        *certificate // nil: plain http
}

// New checks cfg and builds a server; Start loads the directory file, opens
// the engine and listens.
func New(cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("presenced: a data directory is required")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if err := cfg.sessionLimits().Validate(); err != nil {
		return nil, fmt.Errorf("presenced: %w", err)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, serveErr: make(chan error, 1)}
	if cfg.DemoUsers != 0 && (!cfg.Dev || cfg.Directory != nil || cfg.DirectoryFile != "") {
		return nil, errors.New("presenced: generated demo users are for dev mode's demo directory only, not with a directory of your own")
	}
	if cfg.DemoUsers < 0 || cfg.DemoUsers > directory.MaxDemoUsers {
		return nil, fmt.Errorf("presenced: the number of generated demo users must be 0 to %d, not %d", directory.MaxDemoUsers, cfg.DemoUsers)
	}
	s.startObserve()
	return s, nil
}

// Start opens the engine, listens and serves in the background.
func (s *Server) Start(ctx context.Context) (err error) {
	if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("presenced: data directory: %w", err)
	}
	// Two servers on one engine directory would overwrite each other's
	// files: the second refuses to start (docs/durability.md).
	if s.lock, err = dirlock.Acquire(s.cfg.DataDir, processName()); err != nil {
		return fmt.Errorf("presenced: %w", err)
	}
	// A kill -9 during a save leaves its temporary file behind; the lock
	// says no other process is saving.
	if gone, rerr := atomicfile.RemoveLeftovers(s.cfg.DataDir, savePatterns...); len(gone) > 0 || rerr != nil {
		s.log.Info("removed what an interrupted save left in the data directory", "files", gone, "err", rerr)
	}
	if s.cert, err = newCertificate(s.cfg); err != nil {
		s.lock.Release()
		return err
	}
	// A directory file is read while the engine recovers: with many users
	// the two are the bulk of a restart, and independent.
	seedDone := make(chan struct{})
	var seed seedFile
	if s.cfg.DirectoryFile != "" {
		go func() { defer close(seedDone); seed = readSeedFile(s.cfg.DirectoryFile) }()
	} else {
		close(seedDone)
	}
	// So is the saved cache (read, checked and loaded into a cache of its
	// own; adopted once the engine is open and agrees with it), and the
	// saved directory (built; checked against the engine once it is open).
	savedCache := s.readCache()
	savedDir := s.readDirectory()
	defer func() {
		if err != nil {
			<-seedDone
			_, _, _, _ = savedCache()
			_, _, _, _ = savedDir()
			s.close()
		}
	}()
	// Up first, so that a probe sees a slow start as "not ready yet".
	if err := s.listenMetrics(); err != nil {
		return err
	}
	start := s.cfg.Clock.Now()
	eopts, err := s.engineOptions()
	if err != nil {
		return err
	}
	if s.cfg.engineGate != nil {
		s.cfg.engineGate(ctx)
	}
	if s.cfg.AcceptDataLoss && s.cfg.Cluster == nil {
		if err := s.dropStreamIndexes(); err != nil {
			return fmt.Errorf("presenced: --accept-data-loss: remove the engine's index files: %w", err)
		}
	}
	s.warnOtherCluster()
	s.engine, err = natsstore.Open(ctx, eopts)
	if noRoom := (*natsstore.NoRoomError)(nil); errors.As(err, &noRoom) {
		return fmt.Errorf("presenced: %w. Free space on that volume, or lower the share kept free with --disk-reserve-mib", err)
	}
	if err != nil {
		return fmt.Errorf("presenced: engine: %w", err)
	}
	if !s.cfg.Cluster.external() { // an operator's NATS has no local files
		if err := s.checkEngine(ctx); err != nil {
			return err
		}
	}
	s.engineOpen.Store(true)
	kv, err := s.engine.Partitioned(ctx, "presence")
	if err != nil {
		return layoutError(err)
	}
	s.resume = resumable(kv)
	// A single node's core writes every user alone, under the user's lock
	// and from the revision it caches, which is the engine's: the engine
	// need not check the revision again (natsstore.SoleWriter; a no-op in
	// a cluster and on an operator's NATS, where others write too).
	natsstore.SoleWriter(kv)
	kv = s.kv("presence", kv)
	if s.meta, err = s.engine.Bucket(ctx, natsstore.MetaBucket); err != nil {
		return layoutError(err)
	}
	s.meta = s.kv("meta", s.meta)
	if err := s.engine.Serving(); err != nil {
		return fmt.Errorf("presenced: %w", err)
	}
	layout, _ := s.engine.Layout(ctx)
	s.log.Info("engine ready", "dir", eopts.Dir, "partitions", layout.Partitions, "replicas", layout.Replicas, "took", clock.Since(s.cfg.Clock, start).Round(time.Millisecond))
	off, err := s.loadOffset(ctx)
	if err != nil {
		return err
	}
	if off != 0 && !s.cfg.Dev {
		s.log.Warn("the clock runs ahead of the wall clock: it was moved forward in dev mode, and time never runs backwards for stored presence", "offset", off)
	}
	s.clock = clock.NewOffset(s.cfg.Clock, off)
	copts := core.Options{KV: kv, Clock: s.clock, Users: s.knownUser, Logger: s.log, Resume: s.resume,
		Followed: s.metrics.Durations("cluster_follow_lag_seconds",
			"Cluster: time from the engine storing another node's change of a user to this node's cache holding it (by the stream leader's clock and this node's: across machines it includes their difference).",
			followLagBuckets)}
	s.runCtx, s.runStop = context.WithCancel(context.Background())
	// ctx bounds the start only: ending it while Start runs ends what Start
	// began; ending it after (serve's signal context at SIGTERM, a caller's
	// timeout) must not end the watches the node follows the engine with.
	defer context.AfterFunc(ctx, s.runStop)()
	// The saved cache, loaded while the engine recovered, is checked
	// against it while the directory loads (neither needs the other), and
	// the core made over it; before the follower (which caches what it
	// hears) and anything else reads a user; caught up once the follower's
	// watch is in place, up to where it starts, and before listening.
	// Nothing uses s.core until loaded is received.
	loaded := make(chan *core.Restored, 1)
	go func() {
		var r *core.Restored
		s.core, r = s.newCore(ctx, copts, savedCache)
		loaded <- r
	}()
	<-seedDone
	if err := s.openDirectory(ctx, seed, s.savedDirectoryFor(savedDir)); err != nil {
		<-loaded
		return err
	}
	s.dirLoaded.Set()
	restored := <-loaded
	// Before anything reads a user, and before the warm-up.
	if err := s.follow(s.runCtx); err != nil {
		return err
	}
	cached := s.catchUpCache(ctx, restored)

	s.ln, err = net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("presenced: listen: %w", err)
	}
	if n := orDefault(s.cfg.MaxConnections, DefaultMaxConnections); n > 0 {
		if files, ok := openFileLimit(); ok {
			if fit := connectionsThatFit(n, files); fit < n {
				s.log.Warn("the process may open too few files for --max-connections: connections are limited to what fits, leaving the rest to the engine; raise the open-file limit (ulimit -n, LimitNOFILE) to allow more",
					"max_connections", n, "open_file_limit", files, "connections_limited_to", fit)
				n = fit
			}
		}
		l := newLimitListener(s.ln, n, s.log, s.cfg.Clock)
		l.onRefuse = func() { s.metrics.Throttled("connections") }
		s.ln = l
	}
	s.baseURL = strings.TrimSuffix(s.cfg.PublicURL, "/")
	if s.baseURL == "" {
		scheme := "http://"
		if s.cert != nil {
			scheme = "https://"
		}
		s.baseURL = scheme + s.ln.Addr().String()
	}
	key, keyCreated, err := s.signingKey(ctx)
	if err != nil {
		return err
	}
	// Sign-in codes and refresh tokens (the authorization-code flow): in
	// the engine, so that any node redeems what another issued.
	grants, err := s.engine.Bucket(ctx, "oauth")
	if err != nil {
		return fmt.Errorf("presenced: engine: %w", err)
	}
	s.issuer, err = auth.NewIssuer(auth.IssuerOptions{Directory: s.dir, Clock: s.clock, BaseURL: s.baseURL, Key: key, Logger: s.log, Grants: grants, Passwords: s.dirs,
		Lockout:   throttle.LockoutOptions{Threshold: s.cfg.LockoutThreshold, Duration: s.cfg.LockoutDuration},
		TokenRate: throttle.RateOptions{PerSecond: s.cfg.TokenRate, Burst: s.cfg.TokenBurst}, Observer: s.authObserver()})
	if err != nil {
		return fmt.Errorf("presenced: issuer: %w", err)
	}
	s.noteSigningKey(ctx, keyCreated)
	if s.cfg.Cluster != nil && s.cfg.PublicURL == "" {
		s.log.Warn("cluster mode without --public-url: this node's token issuer is its own address, so the other nodes refuse the tokens it issues (a token's iss names its issuer); give every node the URL clients use, the load balancer's", "issuer", s.baseURL)
	}
	if err := s.startNotify(ctx); err != nil {
		return err
	}
	if err := s.startMailbox(ctx); err != nil {
		return err
	}
	s.dirs.OnUsersGone(s.usersGone)
	s.subs.Prune(ctx)
	s.runDone.Add(1)
	go func() {
		defer s.runDone.Done()
		s.issuer.Run(s.runCtx)
	}()
	issuerClient, err := s.issuerClient()
	if err != nil {
		return err
	}
	validator := auth.Chain{Builtin: auth.NewValidator(auth.ValidatorOptions{Issuer: s.issuer, Directory: s.dir, Clock: s.clock, BaseURL: s.baseURL}),
		External: auth.NewExternal(auth.ExternalOptions{Directory: s.dir, Clock: s.clock, Keys: auth.KVKeyStore{KV: s.meta}, Logger: s.log, HTTPClient: issuerClient})}
	opts := graphapi.Options{BaseURL: s.baseURL, SessionLimits: s.cfg.sessionLimits(), Core: s.core, Directory: s.dir, Auth: validator, Clock: s.clock, Logger: s.log, Subscriptions: s.subs, Streams: s.hub, Changes: s.hub, Mailbox: s.mail, Users: s.dirs,
		MaxBody: positiveOr(s.cfg.MaxBodyBytes, DefaultMaxBodyBytes), StreamWriteTimeout: orDefault(s.cfg.WriteTimeout, DefaultWriteTimeout),
		Budget:      throttle.NewBudget(throttle.BudgetOptions{Requests: s.cfg.ThrottleRequests, Window: s.cfg.ThrottleWindow, Clock: s.clock}),
		MaxInFlight: orDefault(s.cfg.MaxInFlight, graphapi.DefaultMaxInFlight)}
	if s.cfg.Dev {
		opts.DevClock = devClock{s}
	}
	api := graphapi.New(opts)
	s.api = api
	board, err := web.New(web.Options{Directory: s.dir, BaseURL: s.baseURL, Dev: s.cfg.Dev})
	if err != nil {
		return fmt.Errorf("presenced: the board: %w", err)
	}
	s.observeParts(api)
	provisioning := scim.New(scim.Options{Store: s.dirs, BaseURL: s.baseURL, Logger: s.log, MaxBody: positiveOr(s.cfg.MaxBodyBytes, DefaultMaxBodyBytes)})
	s.http = httpServer(s.cfg, s.opsHandler(route(api, s.issuer.Handler(), board, provisioning)), s.log)
	s.http.ConnContext = graphapi.ConnContext // the stream sizes its socket
	s.http.RegisterOnShutdown(api.StopStreams)
	s.serve()
	s.serveAdmin()
	s.warm(cached)
	s.saveCachePeriodically()
	return nil
}

// startMailbox opens the calendar bucket (events and mailbox settings)
// and starts the refresher that extends each user's presence window.
func (s *Server) startMailbox(ctx context.Context) error {
	kv, err := s.engine.Bucket(ctx, "calendar")
	if err != nil {
		return fmt.Errorf("presenced: engine: %w", err)
	}
	s.mail = mailbox.New(mailbox.Options{KV: s.kv("calendar", kv), Core: s.core, Clock: s.clock, Logger: s.log, Users: s.knownUser, Rebuild: s.lostStreams[calendarStream]})
	s.runDone.Add(1)
	go func() {
		defer s.runDone.Done()
		s.mail.Run(s.runCtx)
	}()
	return nil
}

// Mailbox is the server's calendars and mailbox settings.
func (s *Server) Mailbox() *mailbox.Mailbox { return s.mail }

// knownUser reports whether the directory has the stored user, so that
// the warm-up leaves out users who have left it.
func (s *Server) knownUser(tenantID, userID string) bool {
	u, ok := s.dir.UserInTenant(tenantID, userID)
	return ok && u.ID == userID
}

// Change log retention: Graph retries a notification for up to 4 hours, and
// a stream resumes from anything still kept. changeLogMaxBytes is the
// default bound on a volume of 4 GiB or more.
const (
	changeLogMaxAge   = 5 * time.Hour
	changeLogMaxBytes = 1 << 30
)

// notifyLeaseTTL is how long a cluster node's hold on a shard of the
// subscriptions lasts without a renewal: a node that dies is replaced
// about that long after its last renewal (renewed every second).
const notifyLeaseTTL = 3 * time.Second

// route sends Graph's paths (and dev mode's) to the API, the board's (/
// and /board/…) to the board, and everything else (/{tenant}/oauth2/…,
// discovery) to the token issuer. A prefix switch, not one ServeMux:
// "/{tenant}/oauth2/v2.0/token" and "/v1.0/" would overlap.
func route(api, issuer, board, provisioning http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case strings.HasPrefix(p, scim.Prefix+"/") || p == scim.Prefix:
			provisioning.ServeHTTP(w, r)
		case strings.HasPrefix(p, "/v1.0/") || strings.HasPrefix(p, "/beta/") || strings.HasPrefix(p, "/dev/") || strings.HasPrefix(p, "/presenced/") || p == "/v1.0" || p == "/beta":
			api.ServeHTTP(w, r)
		case p == "/" || strings.HasPrefix(p, "/board/"):
			board.ServeHTTP(w, r)
		default:
			issuer.ServeHTTP(w, r)
		}
	})
}

// URL is the base URL of the running server (e.g. http://127.0.0.1:8080).
func (s *Server) URL() string { return s.baseURL }

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Directory is the server's directory of tenants, users and apps.
func (s *Server) Directory() *directory.Directory { return s.dir }

// DirectoryStore is the directory in the engine, through which it changes.
func (s *Server) DirectoryStore() *dirstore.Store { return s.dirs }

// Issuer is the built-in token issuer.
func (s *Server) Issuer() *auth.Issuer { return s.issuer }

// Clock is the server's clock (wall clock plus any dev-mode offset).
func (s *Server) Clock() *clock.Offset { return s.clock }

// Core is the server's presence state.
func (s *Server) Core() *core.Core { return s.core }

// Done returns a channel that yields the serve error if serving stops
// without Shutdown.
func (s *Server) Done() <-chan error { return s.serveErr }

// Shutdown makes /readyz fail and keeps serving for Config.ShutdownDrain,
// then stops accepting requests, finishes those in flight (until ctx
// ends), and closes the engine.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() {
		s.drain(ctx)
		if s.http != nil {
			err = s.http.Shutdown(ctx)
		}
		s.stopMetrics(ctx)
		s.close()
	})
	return err
}

func (s *Server) close() {
	if s.ln != nil && s.http == nil {
		_ = s.ln.Close()
	}
	if s.metricsLn != nil && s.http == nil {
		_ = s.metricsLn.Close()
	}
	s.closeAdmin()
	if s.runStop != nil {
		s.runStop()
		s.runDone.Wait()
		// Nothing writes any more (the HTTP server and the background
		// work have stopped) and the engine is still open.
		if s.core != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			s.saveCache(ctx)
			s.saveDirectory(ctx)
			cancel()
		}
	}
	if s.dirs != nil {
		s.dirs.Close()
	}
	if s.engine != nil {
		if err := s.engine.Close(); err != nil {
			s.log.Warn("closing engine", "err", err)
		}
	}
	if err := s.lock.Release(); err != nil {
		s.log.Warn("unlocking the data directory", "err", err)
	}
}

// processName is what the data directory's lock file says holds it, for
// another process's message: "presenced serve", or the program's name.
func processName() string {
	name := filepath.Base(os.Args[0])
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-") {
		name += " " + os.Args[1]
	}
	return name
}

// warnOtherCluster says, before the engine starts, when the data
// directory's manifest names another cluster than --cluster-name: its
// engine remembers that cluster's peers and waits for them (an operator's
// mix-up of data directories, or a rename), which its own wait would
// otherwise only call "connected to 0 of the other nodes".
func (s *Server) warnOtherCluster() {
	c := s.cfg.Cluster
	if c == nil || c.external() {
		return
	}
	m, found, err := natsstore.ReadManifest(filepath.Join(s.cfg.DataDir, ManifestFile))
	if err != nil || !found || m.Cluster == "" || m.Cluster == c.ClusterName {
		return
	}
	s.log.Warn("this data directory is a node of another cluster: its engine waits for that cluster's nodes; start it with that cluster's name and routes, or give this node an empty --data",
		"dir", s.cfg.DataDir, "its_cluster", m.Cluster, "cluster_name", c.ClusterName)
}
