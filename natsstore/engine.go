package natsstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/store"
)

// Options configures the embedded engine.
type Options struct {
	// Dir is the data directory; JetStream file storage lives under
	// Dir/jetstream. Required unless Memory.
	Dir string
	// Memory keeps buckets in memory: for benchmarks that say so, never for
	// data anyone wants back.
	Memory bool
	// SyncAlways fsyncs every write before acknowledging it (JetStream
	// sync_always). The default (false) survives a process kill but can lose
	// up to SyncInterval of acknowledged writes on power loss; see the package
	// documentation for the measured cost.
	SyncAlways bool
	// SyncInterval is how often JetStream fsyncs in the background when
	// !SyncAlways (0: the nats-server default, 2m).
	SyncInterval time.Duration
	// MaxStore is the most the engine may keep on disk (JetStream's
	// max_file_store), which a log's MaxBytes is reserved from. 0: the size
	// of the volume that holds Dir (nats-server's own default, 75 % of the
	// space free at start, makes a start on a small or full volume fail).
	MaxStore int64
	// MinFree is the free space writes leave on Dir's volume: while less is
	// free, writes fail at once with store.ErrFull instead of reaching a
	// full disk. 0: 1 % of the volume, between 1 MiB and 256 MiB; negative:
	// no guard.
	MinFree int64
	// ServerName names the embedded server (default "presenced").
	ServerName string
	// Logger receives nats-server's warnings and errors (default
	// slog.Default()). Its notices are logged at Debug so a normal run is
	// quiet; its debug and trace output is off.
	Logger *slog.Logger

	// Later: cluster routes (R3) and an external --nats-url. DontListen
	// prevents clustering, so those will need a listening server.
}

// Engine is an embedded nats-server with JetStream, reached in-process.
type Engine struct {
	srv     *server.Server
	nc      *nats.Conn
	js      jetstream.JetStream
	storage jetstream.StorageType
	tmpDir  string // removed on Close (Memory without Dir)
	closed  chan struct{}
	opts    Options
	log     *slog.Logger
	store   string // JetStream's store directory

	// guard keeps writes off a full disk (space.go); nil for memory
	// engines and when Options.MinFree is negative. jsConfig is JetStream's
	// configuration, to reload the streams with.
	guard    *guard
	jsConfig server.JetStreamConfig

	// manifest is where KeepManifest keeps the manifest ("": nowhere);
	// stopCheckpoints ends its checkpoints.
	manifest        string
	stopCheckpoints func()

	mu      sync.Mutex
	buckets map[string]*kv

	closeOnce sync.Once
	closeErr  error
}

// Open starts an embedded nats-server (no listener, JetStream on), waits
// until it is ready and connects to it in-process. ctx bounds the wait.
func Open(ctx context.Context, o Options) (*Engine, error) {
	if o.Dir == "" && !o.Memory {
		return nil, errors.New("natsstore: open: Options.Dir is required for file storage")
	}
	if o.SyncInterval < 0 {
		return nil, fmt.Errorf("natsstore: open: negative SyncInterval %v", o.SyncInterval)
	}
	e := &Engine{
		storage: jetstream.FileStorage,
		closed:  make(chan struct{}),
		buckets: make(map[string]*kv),
		opts:    o,
	}
	if o.Memory {
		e.storage = jetstream.MemoryStorage
	}
	dir := o.Dir
	if dir == "" {
		// JetStream still wants a store directory for its metadata.
		d, err := os.MkdirTemp("", "presenced-natsstore-")
		if err != nil {
			return nil, fmt.Errorf("natsstore: open: temp dir: %w", err)
		}
		dir, e.tmpDir = d, d
	}
	name := o.ServerName
	if name == "" {
		name = "presenced"
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	e.log = logger
	e.store = filepath.Join(dir, "jetstream")

	var minFree uint64
	if !o.Memory {
		if err := os.MkdirAll(e.store, 0o700); err != nil {
			return nil, fmt.Errorf("natsstore: open: %w", err)
		}
		if total, free, err := volumeOf(e.store); err == nil {
			if o.MaxStore == 0 {
				o.MaxStore = int64(total)
			}
			switch {
			case o.MinFree > 0:
				minFree = uint64(o.MinFree)
			case o.MinFree == 0:
				minFree = defaultMinFree(total)
			}
			if err := roomToStart(e.store, free, minFree); err != nil {
				return nil, err
			}
		}
	}
	sopts := &server.Options{
		ServerName: name,
		DontListen: true,
		NoSigs:     true, // the process owns its signals, not the library
		JetStream:  true,
		StoreDir:   e.store,
		SyncAlways: o.SyncAlways,
		// 0 lets nats-server apply its default (2m).
		SyncInterval: o.SyncInterval,
	}
	if o.MaxStore > 0 {
		sopts.JetStreamMaxStore = o.MaxStore
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		e.removeTmp()
		return nil, fmt.Errorf("natsstore: open: new server: %w", err)
	}
	log := &slogLogger{l: logger.With("component", "nats-server")}
	if minFree > 0 {
		e.guard = newGuard(e, e.store, minFree)
		log.hook = e.guard.engineLogged
	}
	srv.SetLoggerV2(log, false, false, false)
	e.srv = srv

	fail := func(what string, err error) (*Engine, error) {
		srv.Shutdown()
		srv.WaitForShutdown()
		e.removeTmp()
		return nil, fmt.Errorf("natsstore: open: %s: %w", what, err)
	}

	// Start recovers every stream before it returns; run it aside so ctx can
	// give up on a slow recovery.
	started := make(chan struct{})
	go func() { defer close(started); srv.Start() }()
	select {
	case <-started:
	case <-ctx.Done():
		go func() { <-started; srv.Shutdown() }()
		e.removeTmp()
		return nil, fmt.Errorf("natsstore: open: waiting for nats-server to start: %w", ctx.Err())
	}
	if ferr := log.fatal(); ferr != nil {
		return fail("start nats-server", ferr)
	}
	wait := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		// The deadline is wall-clock time: start-up waits in real time.
		wait = -clock.Since(clock.Real{}, dl)
	}
	if !srv.ReadyForConnections(wait) {
		return fail("nats-server", errors.New("not ready for connections"))
	}
	if !srv.JetStreamEnabled() {
		return fail("nats-server", errors.New("JetStream is not enabled"))
	}

	nc, err := nats.Connect("",
		nats.InProcessServer(srv),
		nats.Name(name+"-natsstore"),
		nats.NoReconnect(), // an in-process server does not come back
		nats.ClosedHandler(func(*nats.Conn) { close(e.closed) }),
	)
	if err != nil {
		return fail("connect in-process", err)
	}
	e.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return fail("jetstream", err)
	}
	e.js = js
	if e.guard != nil {
		e.jsConfig = *srv.JetStreamConfig()
		e.jsConfig.StoreDir = e.store // EnableJetStream adds "jetstream" again
		go e.guard.run()
	}
	return e, nil
}

// Bucket opens the KV bucket name, creating it if needed (one revision per
// key, replicas 1, the engine's storage). It is idempotent and safe for
// concurrent use.
func (e *Engine) Bucket(ctx context.Context, name string) (store.KV, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if b, ok := e.buckets[name]; ok {
		return b, nil
	}
	cfg := jetstream.KeyValueConfig{
		Bucket:   name,
		History:  1,
		Storage:  e.storage,
		Replicas: 1,
	}
	h, err := e.js.CreateOrUpdateKeyValue(ctx, cfg)
	if isNoSpace(err) {
		// Updating rewrites the bucket's metadata even when nothing
		// changed; on a full disk, open it as it is (reads work; writes
		// wait for space).
		if h, err = e.js.KeyValue(ctx, name); err == nil {
			e.log.Warn("opened bucket with its stored settings: the disk is full", "bucket", name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("natsstore: open bucket %q: %w", name, err)
	}
	b := &kv{kv: h, name: name, js: e.js, g: e.guard, nc: e.nc, stream: "KV_" + name, prefix: "$KV." + name + "."}
	// GetMany reads with the stream's direct gets; nats.go creates (and
	// updates) KV buckets with them allowed, but check rather than assume.
	st, err := h.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("natsstore: open bucket %q: status: %w", name, err)
	}
	if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok && bs.StreamInfo() != nil {
		b.direct = bs.StreamInfo().Config.AllowDirect
	}
	e.buckets[name] = b
	return b, nil
}

// Conn is the in-process client connection (for notifications).
func (e *Engine) Conn() *nats.Conn { return e.nc }

// JetStream is the JetStream API on Conn.
func (e *Engine) JetStream() jetstream.JetStream { return e.js }

// Close drains the connection and shuts the server down, flushing every
// stream to disk. It is safe to call more than once.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		var errs []error
		var final []StreamState
		if e.guard != nil {
			e.guard.close()
		}
		if e.stopCheckpoints != nil {
			e.stopCheckpoints()
			// The last state, taken once nothing writes any more (the
			// caller stopped its writers), recorded once it is on disk.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			var err error
			if final, err = e.Streams(ctx); err != nil {
				e.log.Warn("engine: the manifest keeps its last checkpoint", "err", err)
			}
			cancel()
		}
		if err := e.nc.Drain(); err != nil {
			errs = append(errs, fmt.Errorf("drain: %w", err))
			e.nc.Close()
		}
		select {
		case <-e.closed:
		case <-time.After(35 * time.Second): // past nats' 30s drain timeout
			e.nc.Close()
			errs = append(errs, errors.New("drain: timed out"))
		}
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
		if e.storage == jetstream.FileStorage {
			if err := syncTree(e.store); err != nil {
				errs = append(errs, fmt.Errorf("fsync: %w", err))
				final = nil
			}
		}
		if final != nil {
			if err := WriteManifest(e.manifest, ManifestOf(final)); err != nil {
				errs = append(errs, err)
			}
		}
		if err := e.removeTmp(); err != nil {
			errs = append(errs, err)
		}
		if err := errors.Join(errs...); err != nil {
			e.closeErr = fmt.Errorf("natsstore: close: %w", err)
		}
	})
	return e.closeErr
}

func (e *Engine) removeTmp() error {
	if e.tmpDir == "" {
		return nil
	}
	return os.RemoveAll(e.tmpDir)
}
