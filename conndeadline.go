package presenced

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// deadlineListener hands out deadlineConns.
type deadlineListener struct{ net.Listener }

func (l deadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &deadlineConn{Conn: c}, nil
}

// deadlineConn gives the socket a read (write) deadline when a Read
// (Write) needs it, rather than each time one is set. Why: net/http sets a
// keep-alive connection's read deadline seven times a request and its
// write deadline twice (the header and whole-request timeouts, the
// background read's start and abort, the idle timeout, the write timeout
// and its reset: docs/security.md's limits), each a lock and a change of
// the runtime's timer heap (~1.3 µs of a setPresence, docs/performance.md,
// branch setpath3), while a request that arrived whole is read from
// net/http's buffer with no Read in between. A deadline bounds only Reads
// (Writes), so one applied before the next Read (Write) starts, and at once
// when one is in progress (net/http's abort of its background read, a
// stream's write, a shutdown), bounds every Read (Write) as the socket's
// would: what each call may take is unchanged, only fewer timers are set.
type deadlineConn struct {
	net.Conn
	mu     sync.Mutex // held while a deadline is wanted or given
	rd, wd lazyDeadline
}

// lazyDeadline is one direction's deadline: the one wanted and the one the
// socket has (under the connection's mu), whether they differ, and how
// many calls are in progress. A call adds itself to busy before it looks
// at pending, and a setter sets pending before it looks at busy (both
// sequentially consistent atomics), so that at least one of the two gives
// the socket the deadline: a Read (Write) with nothing pending takes no
// lock.
type lazyDeadline struct {
	want, set time.Time
	pending   atomic.Bool
	busy      atomic.Int32
}

// NetConn is the accepted connection (the live stream sizes its socket).
func (c *deadlineConn) NetConn() net.Conn { return c.Conn }

// apply gives the socket the wanted deadline of one direction (write),
// unless it has it.
func (c *deadlineConn) apply(write bool) error {
	d, set := &c.rd, c.Conn.SetReadDeadline
	if write {
		d, set = &c.wd, c.Conn.SetWriteDeadline
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !d.pending.Load() {
		return nil
	}
	if err := set(d.want); err != nil {
		return err
	}
	d.set = d.want
	d.pending.Store(false)
	return nil
}

// want notes t as one direction's (write's) deadline, given to the socket
// at once when a call is in progress.
func (c *deadlineConn) want(write bool, t time.Time) error {
	d := &c.rd
	if write {
		d = &c.wd
	}
	c.mu.Lock()
	d.want = t
	d.pending.Store(!t.Equal(d.set))
	c.mu.Unlock()
	if d.busy.Load() > 0 {
		return c.apply(write)
	}
	return nil
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error  { return c.want(false, t) }
func (c *deadlineConn) SetWriteDeadline(t time.Time) error { return c.want(true, t) }

func (c *deadlineConn) SetDeadline(t time.Time) error {
	err := c.want(false, t)
	if werr := c.want(true, t); err == nil {
		err = werr
	}
	return err
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	c.rd.busy.Add(1)
	defer c.rd.busy.Add(-1)
	if c.rd.pending.Load() {
		if err := c.apply(false); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	c.wd.busy.Add(1)
	defer c.wd.busy.Add(-1)
	if c.wd.pending.Load() {
		if err := c.apply(true); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(p)
}

// CloseWrite: see limitConn's.
func (c *deadlineConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
