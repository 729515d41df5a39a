package natsstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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

	// Cluster makes the embedded server a node of a cluster (nil: a
	// single node). ServerName is then the node's name: unique in the
	// cluster and never changed (JetStream knows its peers by it).
	Cluster *ClusterOptions
	// External connects to an operator's NATS (a cluster) instead of
	// embedding a server; Dir, SyncAlways, SyncInterval, MaxStore and
	// MinFree do not apply (the engine's files are the operator's).
	External *ExternalOptions
	// Replicas is the replica count of every bucket and log. 0: the one
	// the engine was created with, or for a new engine 1 on a single node
	// and 3 in a cluster. A count other than the stored one is refused
	// (LayoutError).
	Replicas int
	// Partitions is how many buckets a Partitioned bucket spreads its
	// keys over. 0: the stored count, or for a new engine 1 on a single
	// node and DefaultPartitions in a cluster. A count other than the
	// stored one is refused (LayoutError).
	Partitions int
	// WriteWait bounds how long a write, or a read of a stream's leader,
	// waits for the engine before it fails with store.ErrUnavailable.
	// 0: 5 s on a single node; 15 s in a cluster, where a write that
	// meets a stream without a leader is sent again once one is elected
	// (nats-server 2.15 takes 5-10 s to replace a dead leader).
	WriteWait time.Duration
}

// clustered reports whether the engine is a cluster's (embedded node or
// external), where streams have leaders that change.
func (o Options) clustered() bool { return o.Cluster != nil || o.External != nil }

// Engine is presenced's connection to NATS JetStream: an embedded
// nats-server reached in-process (a single node, or a node of a cluster),
// or an operator's NATS reached over the network.
type Engine struct {
	srv     *server.Server // nil in external mode
	nc      *nats.Conn
	js      jetstream.JetStream
	storage jetstream.StorageType
	tmpDir  string // removed on Close (Memory without Dir)
	closed  chan struct{}
	opts    Options
	log     *slog.Logger
	store   string // JetStream's store directory ("" in external mode)

	// guard keeps writes off a full disk (space.go); nil for memory
	// engines, in external mode, and when Options.MinFree is negative. In
	// a cluster it refuses nothing (a quorum stores each write, not this
	// disk) and says when the node must be restarted. jsConfig is
	// JetStream's configuration, to reload the streams with.
	guard    *guard
	jsConfig server.JetStreamConfig

	// leaders tells writes in a cluster when a stream's leader changed
	// (cluster.go); nil on a single node.
	leaders *leaders

	// replies are the reply subjects writes wait on (replies.go); made
	// with the first bucket's.
	repliesOnce sync.Once
	replies     *replies
	// raw carries a single node's writes to its embedded engine
	// (rawconn.go); nil in a cluster and in external mode.
	raw *rawConn

	// manifest is where KeepManifest keeps the manifest ("": nowhere);
	// stopCheckpoints ends its checkpoints.
	manifest        string
	stopCheckpoints func()

	mu      sync.Mutex
	buckets map[string]*kv
	streams map[string]bool // every bucket's and log's stream, for handOver
	// firstSeq is where a lost stream, created again, numbers from
	// (StartPast).
	firstSeq map[string]uint64

	layoutMu sync.Mutex
	layout   *Layout // checked and recorded (layout.go); nil until then

	closeOnce sync.Once
	closeErr  error

	// srvLog is the embedded server's logger (nil in external mode): a
	// start that meets a server of its own name stops (dupNameError).
	srvLog *slogLogger
	// serving is set once the node's start is over (Serving): a duplicate
	// name met then is the newcomer's, which refuses its own start.
	serving atomic.Bool
}

// Serving tells the engine that the node's start is over: from then on
// a server of the same name met on a route is a newcomer, which refuses
// its own start, and is only logged here. It returns DuplicateNameError
// instead when one was met before: this node is the newcomer.
func (e *Engine) Serving() error {
	if err := e.duplicateName(); err != nil {
		return err
	}
	e.serving.Store(true)
	return nil
}

// DuplicateNameError is a cluster node's start stopped because another
// server of the cluster already has its name. A JetStream peer's identity
// is its name: a second server of that name would vote in the streams'
// elections as the first one, with none of its data, and could help elect
// a leader that lacks acknowledged writes.
type DuplicateNameError struct{ Name string }

func (e *DuplicateNameError) Error() string {
	return fmt.Sprintf("another node of the cluster is already named %q (nats-server: %q): this node does not start, so as not to stand in for it; give every node a --node-name of its own (a replaced machine keeps its name only once the old one is gone)", e.Name, strings.TrimSuffix(dupNamePrefix, ": "))
}

// duplicateName is DuplicateNameError while the node starts and its
// server has met another of its name; nil otherwise.
func (e *Engine) duplicateName() error {
	if e.srvLog == nil || e.serving.Load() {
		return nil
	}
	if name := e.srvLog.duplicateName(); name != "" {
		return &DuplicateNameError{Name: name}
	}
	return nil
}

// Open starts the engine and waits until it is ready: an embedded
// nats-server (no listener on a single node, JetStream on), reached
// in-process; or, with Options.External, a connection to an operator's
// NATS. In a cluster it also waits until JetStream has a meta leader,
// logging its progress every few seconds. ctx bounds the wait.
func Open(ctx context.Context, o Options) (*Engine, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		storage: jetstream.FileStorage,
		closed:  make(chan struct{}),
		buckets: make(map[string]*kv),
		streams: make(map[string]bool),
		opts:    o,
		log:     o.Logger,
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if o.Memory {
		e.storage = jetstream.MemoryStorage
	}
	var err error
	if o.External != nil {
		err = e.connectExternal(ctx)
	} else {
		err = e.startEmbedded(ctx)
	}
	if err != nil {
		return nil, err
	}
	if e.js, err = jetstream.New(e.nc); err != nil {
		e.abort()
		return nil, fmt.Errorf("natsstore: open: jetstream: %w", err)
	}
	if o.clustered() {
		if e.leaders, err = followLeaders(e.nc); err != nil {
			e.abort()
			return nil, fmt.Errorf("natsstore: open: %w", err)
		}
		if err := e.waitForJetStream(ctx); err != nil {
			e.abort()
			return nil, err
		}
	}
	if e.guard != nil {
		e.jsConfig = *e.srv.JetStreamConfig()
		e.jsConfig.StoreDir = e.store // EnableJetStream adds "jetstream" again
		go e.guard.run()
	}
	return e, nil
}

// validate checks the options that can be checked before anything starts.
func (o Options) validate() error {
	switch {
	case o.Cluster != nil && o.External != nil:
		return errors.New("natsstore: open: a node either embeds a clustered server or connects to an external NATS, not both")
	case o.Dir == "" && !o.Memory && o.External == nil:
		return errors.New("natsstore: open: Options.Dir is required for file storage")
	case o.SyncInterval < 0:
		return fmt.Errorf("natsstore: open: negative SyncInterval %v", o.SyncInterval)
	case o.Replicas < 0 || o.Replicas > 5:
		return fmt.Errorf("natsstore: open: %d replicas: JetStream keeps 1 to 5", o.Replicas)
	case o.Replicas > 1 && !o.clustered():
		return fmt.Errorf("natsstore: open: %d replicas need a cluster; a single node keeps 1", o.Replicas)
	case o.Partitions < 0 || o.Partitions > MaxPartitions:
		return fmt.Errorf("natsstore: open: %d partitions: between 1 and %d", o.Partitions, MaxPartitions)
	case o.WriteWait < 0:
		return fmt.Errorf("natsstore: open: negative WriteWait %v", o.WriteWait)
	}
	if o.Cluster != nil {
		if err := o.Cluster.validate(o.ServerName); err != nil {
			return err
		}
	}
	if o.External != nil {
		if err := o.External.validate(); err != nil {
			return err
		}
	}
	return nil
}

// writeWait is the bound of a write or a leader read (Options.WriteWait).
func (o Options) writeWait() time.Duration {
	switch {
	case o.WriteWait > 0:
		return o.WriteWait
	case o.clustered():
		return clusterWriteWait
	}
	return publishTimeout
}

// clusterWriteWait is a clustered write's bound: longer than the longest
// gap a dead leader leaves (nats-server 2.15's followers campaign 4-9 s
// after the last heartbeat, which comes every second: measured 5-10 s
// after a kill -9, docs/performance.md), with room for a loaded machine,
// so that a write that arrives in the gap waits for the next leader.
const clusterWriteWait = 15 * time.Second

// abort undoes a failed Open.
func (e *Engine) abort() {
	if e.leaders != nil {
		e.leaders.stop()
	}
	if e.nc != nil {
		e.nc.Close()
	}
	e.raw.close()
	if e.srv != nil {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
	}
	_ = e.removeTmp()
}

// Bucket opens the KV bucket name, creating it if needed (one revision per
// key, the layout's replicas, the engine's storage). The first bucket or
// log opened checks the engine's layout (Layout). It is idempotent and
// safe for concurrent use. In a cluster it waits, bounded by ctx, until
// the bucket can be created or opened (an R3 bucket needs three nodes).
func (e *Engine) Bucket(ctx context.Context, name string) (store.KV, error) {
	l, err := e.Layout(ctx)
	if err != nil {
		return nil, err
	}
	return e.bucket(ctx, jetstream.KeyValueConfig{Bucket: name, History: 1, Storage: e.storage, Replicas: l.Replicas})
}

// bucket opens or creates the bucket cfg describes.
// Buckets are created without holding e.mu, so that a partitioned
// bucket's partitions are created at once (each new replicated stream
// waits for its first leader); two callers that create one bucket at once
// both succeed, and the first to finish is kept.
func (e *Engine) bucket(ctx context.Context, cfg jetstream.KeyValueConfig) (*kv, error) {
	name := cfg.Bucket
	e.mu.Lock()
	b, ok := e.buckets[name]
	e.mu.Unlock()
	if ok {
		return b, nil
	}
	if err := e.createPast(ctx, kvStreamConfig(cfg)); err != nil {
		return nil, err
	}
	var h jetstream.KeyValue
	err := e.retry(ctx, fmt.Sprintf("bucket %s (%d replicas) to be created or opened", name, cfg.Replicas), func(ctx context.Context) (err error) {
		h, err = e.js.CreateOrUpdateKeyValue(ctx, cfg)
		if isNoSpace(err) {
			// Updating rewrites the bucket's metadata even when nothing
			// changed; on a full disk, open it as it is (reads work;
			// writes wait for space).
			if h, err = e.js.KeyValue(ctx, name); err == nil {
				e.log.Warn("opened bucket with its stored settings: the disk is full", "bucket", name)
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("natsstore: open bucket %q: %w", name, err)
	}
	e.repliesOnce.Do(func() { e.replies = newReplies(e.nc) })
	b = &kv{kv: h, name: name, js: e.js, e: e, nc: e.nc, rep: e.replies, stream: "KV_" + name, prefix: "$KV." + name + "."}
	if !e.opts.clustered() {
		// In a cluster the guard refuses nothing: a quorum stores a
		// write, not this node's disk (space.go).
		b.g = e.guard
	}
	// GetMany reads with the stream's direct gets; nats.go creates (and
	// updates) KV buckets with them allowed, but check rather than assume.
	var st jetstream.KeyValueStatus
	err = e.retry(ctx, "the status of bucket "+name, func(ctx context.Context) (err error) {
		st, err = h.Status(ctx)
		if errors.Is(err, jetstream.ErrStreamNotFound) && e.opts.clustered() {
			// Just created: not every server knows it yet.
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("natsstore: open bucket %q: status: %w", name, err)
	}
	if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok && bs.StreamInfo() != nil {
		b.direct = bs.StreamInfo().Config.AllowDirect
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if first, ok := e.buckets[name]; ok {
		return first, nil
	}
	e.buckets[name] = b
	e.streams[b.stream] = true
	return b, nil
}

// Conn is the engine's client connection: in-process to the embedded
// server, or to the operator's NATS in external mode.
func (e *Engine) Conn() *nats.Conn { return e.nc }

// JetStream is the JetStream API on Conn.
func (e *Engine) JetStream() jetstream.JetStream { return e.js }

// Close drains the connection and shuts the server down, flushing every
// stream to disk. A cluster node first hands the leadership of the
// streams it leads over to its peers (handOver), so that writes through
// the other nodes pause only for that. It is safe to call more than once.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		var errs []error
		var final []StreamState
		if e.raw != nil {
			// New writes go through nats.go, refused once it drains; the
			// writes sent already are answered before the connection ends.
			e.raw.closing.Store(true)
		}
		if e.guard != nil {
			e.guard.close()
		}
		if e.stopCheckpoints != nil {
			e.stopCheckpoints()
			// The last state, taken once nothing writes any more (the
			// caller stopped its writers), recorded once it is on disk.
			// Not in a cluster: the other nodes write on, and theirs is
			// not fsynced by this one (the checkpoints' lag covers it).
			if !e.opts.clustered() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				var err error
				if final, err = e.Streams(ctx); err != nil {
					e.log.Warn("engine: the manifest keeps its last checkpoint", "err", err)
				}
				cancel()
			}
		}
		if e.opts.Cluster != nil {
			ctx, cancel := context.WithTimeout(context.Background(), handOverWait)
			e.handOver(ctx)
			cancel()
		}
		if e.leaders != nil {
			e.leaders.stop()
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
		e.raw.close()
		if e.srv != nil {
			e.srv.Shutdown()
			e.srv.WaitForShutdown()
		}
		if e.storage == jetstream.FileStorage && e.store != "" {
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

// handOverWait bounds a closing node's wait for the new leaders of the
// streams it led.
const handOverWait = 2 * time.Second

func (e *Engine) removeTmp() error {
	if e.tmpDir == "" {
		return nil
	}
	return os.RemoveAll(e.tmpDir)
}
