package presenced

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/clock"
)

// Connection limits: what a client may hold of a node (docs/security.md).
// None of them cuts off a healthy live stream: it reads nothing after its
// request, and each of its writes (events, and heartbeats every 15 s) gets
// WriteTimeout of its own.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxBodyBytes      = 128 << 10
	DefaultMaxConnections    = 10000
)

// orDefault resolves a limit of Config: zero is def, negative is none (0).
func orDefault[T int | int64 | float64 | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// positiveOr resolves a size limit of Config, which cannot be turned off.
func positiveOr[T int | int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// netHTTPHeaderSlack is what net/http lets a request's line and headers
// take beyond http.Server.MaxHeaderBytes before it answers 431.
const netHTTPHeaderSlack = 4096

// netHTTPHeaderBytes is the http.Server.MaxHeaderBytes that makes n the
// limit of a request's line and headers, every byte up to the blank line
// that ends them counted: given n itself, net/http accepted n + 4,096
// bytes (69,632 at the default of 64 KiB), not what the limit says. A
// limit of 4,096 or less is 4,097, the least net/http can be made to take.
func netHTTPHeaderBytes(n int) int { return max(n-netHTTPHeaderSlack, 1) }

// httpServer builds the http.Server of cfg's timeouts around h.
func httpServer(cfg Config, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h, // with observe's CloseUnread (opsHandler)
		ReadHeaderTimeout: orDefault(cfg.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       orDefault(cfg.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      orDefault(cfg.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       orDefault(cfg.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    netHTTPHeaderBytes(positiveOr(cfg.MaxHeaderBytes, DefaultMaxHeaderBytes)),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// limitListener bounds the connections open at once. A connection over the
// limit is closed as soon as it is accepted, rather than left waiting in the
// kernel's queue as golang.org/x/net/netutil.LimitListener would: the
// connections that fill a node are mostly live streams, which stay for
// hours, and a client is better served by a prompt refusal it can retry
// (elsewhere) than by a connect that hangs. It is written here rather than
// taken from x/net for that difference, in fewer lines than the module.
type limitListener struct {
	net.Listener
	slots   chan struct{}
	open    atomic.Int64
	refused atomic.Int64
	log     *slog.Logger
	clock   clock.Clock
	mu      sync.Mutex
	warned  time.Time // when a refusal was last logged
	// onRefuse, when set, is told of each refusal (the metrics).
	onRefuse func()
}

// connectionsThatFit is how many connections may be open at once when
// want are asked for and the process may hold files open files: want, or,
// when that would not leave the engine, the logs and outgoing connections
// a quarter of the files (at least min(256, files/2)), the rest. Without
// it a limit above what the process may open was no limit: once the
// files ran out, new connections waited in the kernel's queue, never
// accepted nor refused, and the engine could open no file.
func connectionsThatFit(want int, files uint64) int {
	reserve := max(files/4, min(256, files/2))
	if files <= reserve || uint64(want) <= files-reserve {
		return want
	}
	return int(files - reserve)
}

func newLimitListener(ln net.Listener, max int, log *slog.Logger, clk clock.Clock) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, max), log: log, clock: clk}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			l.open.Add(1)
			return &limitConn{Conn: c, l: l}, nil
		default:
			_ = c.Close()
			l.refuse()
		}
	}
}

// refuse counts a refused connection and logs refusals at most once a
// minute: a flood must not flood the log too.
func (l *limitListener) refuse() {
	n := l.refused.Add(1)
	if l.onRefuse != nil {
		l.onRefuse()
	}
	now := l.clock.Now()
	l.mu.Lock()
	due := now.Sub(l.warned) >= time.Minute
	if due {
		l.warned = now
	}
	l.mu.Unlock()
	if due {
		l.log.Warn("connection refused: the node has as many open connections as --max-connections allows", "max", cap(l.slots), "refused_total", n)
	}
}

// limitConn gives its slot back when closed (once, however often Close is
// called).
type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

// NetConn is the accepted connection (the live stream sizes its socket).
func (c *limitConn) NetConn() net.Conn { return c.Conn }

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.open.Add(-1)
		<-c.l.slots
	})
	return err
}

// CloseWrite keeps net/http's half-close before it closes a connection it
// answered early, so that the client reads the answer rather than a reset.
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
