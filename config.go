package presenced

import (
	"context"
	"log/slog"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/presence"
)

// Config configures a Server. The zero value plus a DataDir is a working
// production-mode server on 127.0.0.1:8080 (it then needs a Directory).
type Config struct {
	// Addr is the listen address (default "127.0.0.1:8080"; ":0" picks a port).
	Addr string
	// DataDir holds the engine's files and the token signing key. Required.
	DataDir string
	// Dev enables dev mode: the demo directory when none is given, and the
	// /dev endpoints that move the server's clock forward.
	Dev bool
	// DirectoryFile is a JSON directory of tenants, users and apps
	// (docs/directory.md) to seed the engine's directory with: imported
	// when the engine has none, or when it changed and the directory was
	// not changed otherwise since its last import; the start fails when it
	// changed and the directory was changed otherwise (dirstore.Seed).
	// Empty: the directory is the engine's, as it is.
	DirectoryFile string
	// Directory, when set, seeds the directory as DirectoryFile would
	// (embedding, tests).
	Directory *directory.File
	// DemoUsers adds that many generated users to dev mode's demo tenant
	// (directory.DemoWithUsers: user1…userN@contoso.dev), so that load
	// spreads over many records. Only in dev mode without a directory.
	DemoUsers int
	// PublicURL is the base URL clients reach the server at, used as the
	// token issuer (default "http://" + the listen address).
	PublicURL string
	// SyncAlways makes the engine fsync every write (survives power loss, at
	// a cost; see docs/durability.md). Process crashes lose nothing either way.
	SyncAlways bool
	// SessionsPerApp caps the live presence sessions one application may
	// hold for one user, and SessionsPerUser those of all applications
	// together (0: 16 and 64; at most presence.MaxSessionLimit). A
	// setPresence that would open a session over a cap is refused with 409.
	SessionsPerApp, SessionsPerUser int
	// AllowPrivateWebhooks lets notification URLs point at loopback, private
	// and link-local addresses (always allowed in dev mode, like http URLs).
	AllowPrivateWebhooks bool
	// NotifyQueue is how many changes a live stream or a webhook
	// subscription may hold in memory, waiting for its client or receiver
	// (default notify.DefaultMaxQueue, 1,024). A stream further behind is
	// ended with event: reset; a subscription reads from the change log
	// instead. See docs/security.md.
	NotifyQueue int
	// ChangeLogMaxBytes bounds the change log, which the engine reserves
	// on its volume (0: a quarter of the volume, at most 1 GiB).
	ChangeLogMaxBytes int64
	// DiskReserve is the free space writes leave on the data directory's
	// volume: below it they fail at once with 503 (0: 1 % of the volume,
	// between 1 MiB and 256 MiB). See docs/running.md.
	DiskReserve int64
	// Cluster makes the server a node of a cluster (docs/cluster.md); nil
	// is a single node.
	Cluster *ClusterConfig
	// Replicas is the replica count of the engine's streams, and
	// Partitions the number of presence buckets users are spread over.
	// 0: the engine's stored layout, or for a new engine 1 and 1 on a
	// single node, 3 and natsstore.DefaultPartitions in a cluster. A node
	// started with other values than the stored ones is refused.
	Replicas, Partitions int
	// BalanceLeaders is how often a node of an embedded cluster looks
	// whether it leads at least two presence partitions more than another
	// node, and if two looks in a row say so hands one over (cluster.go):
	// 0 never (the default here; `presenced serve` looks every
	// DefaultBalanceLeaders).
	BalanceLeaders time.Duration
	// IssuerCAFile is a PEM file of CA certificates trusted, beside the
	// system's, when fetching the discovery documents and keys of the
	// external issuers tenants trust (an identity provider on a private
	// CA). Empty: the system's only.
	IssuerCAFile string
	// AcceptDataLoss starts the server even when the engine lost data it
	// had on disk (damaged or deleted files): the loss is logged at ERROR
	// and accepted, and not reported again. Without it such a start fails
	// with ErrDataLoss (docs/durability.md).
	AcceptDataLoss bool
	// MetricsAddr is where /metrics is served: "" on the main listener,
	// an address on a listener of its own (with /healthz and /readyz), and
	// MetricsOff ("off") nowhere, with no metrics kept (docs/operating.md).
	MetricsAddr string
	// AccessLog logs one line per request at INFO (the command turns it
	// on; off in the zero value, for embedding programs and tests).
	AccessLog bool
	// ShutdownDrain is how long Shutdown keeps serving with /readyz
	// failing before it stops, so that load balancers take the node out
	// of rotation first (0: none; the command's default is 5 s).
	ShutdownDrain time.Duration
	// TLSCertFile and TLSKeyFile are a PEM certificate (chain) and its
	// key: with them the server speaks https only, with HTTP/2, and its
	// default public URL is https. ReloadTLS reads them again.
	TLSCertFile, TLSKeyFile string
	// Clock is the base clock (default the wall clock). Tests inject a fake.
	Clock clock.Clock
	// Logger receives the server's logs (default slog.Default()).
	Logger *slog.Logger

	// Connections and sign-in limits (docs/security.md). Zero is the
	// default; a negative value turns a timeout, MaxConnections, the
	// lockout or the token rate off (the size limits cannot be).

	// ReadHeaderTimeout bounds reading a request's headers (default 10 s).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, headers and body
	// (default 30 s): a client that trickles its body is cut off.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response (default 30 s). On the live
	// stream it bounds each event and heartbeat instead: a stream that is
	// not read is dropped, a healthy one lives on.
	WriteTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its
	// next request (default 2 min).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers (default 64 KiB).
	MaxHeaderBytes int
	// MaxBodyBytes bounds a Graph request's body, after decompression
	// (default 128 KiB).
	MaxBodyBytes int64
	// MaxConnections bounds the connections open at once; one more is
	// closed as soon as it is accepted (default 10,000).
	MaxConnections int
	// LockoutThreshold is how many failed passwords lock a user for the
	// address they came from (default 10, as Entra's smart lockout).
	LockoutThreshold int
	// LockoutDuration is the first lock (default 60 s); each further lock
	// doubles, up to an hour.
	LockoutDuration time.Duration
	// TokenRate is the sustained rate of token requests per source
	// address, per second (default 20).
	TokenRate float64
	// TokenBurst is how many token requests an address may send at once
	// (default 200).
	TokenBurst int

	// warmGate, when set, is waited on before the cache warm-up (tests of
	// readiness make a slow warm-up with it).
	warmGate func(context.Context)
	// engineWait, when set, is the engine's bound on a write or a leader
	// read (natsstore.Options.WriteWait): tests of a cluster without
	// quorum shorten it.
	engineWait time.Duration
	// cacheCheck, when set, replaces cacheCheckDelay (tests of the saved
	// cache).
	cacheCheck time.Duration
	// engineGate, when set, is waited on before the engine is opened
	// (tests of what a start does while the engine recovers).
	engineGate func(context.Context)

	// Throttling and overload (docs/security.md#throttling-and-batching).

	// ThrottleRequests is each application's budget of presence requests
	// per ThrottleWindow in each tenant, Graph's throttling: over it a
	// request is answered 429 with Retry-After (default 1,500, Graph's
	// figure; negative: no budget).
	ThrottleRequests int
	// ThrottleWindow is the period the budget refills over (default 30 s).
	ThrottleWindow time.Duration
	// MaxInFlight is how many Graph requests the node serves at once; one
	// more is answered 503 with Retry-After at once (default 1,000;
	// negative: no limit).
	MaxInFlight int
}

func (c Config) sessionLimits() presence.SessionLimits {
	return presence.SessionLimits{PerApp: c.SessionsPerApp, PerUser: c.SessionsPerUser}
}
