package presenced

import (
	"net"
	"sync"
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
	mu     sync.Mutex
	rd, wd lazyDeadline
}

// lazyDeadline is one direction's deadline: the one wanted, the one the
// socket has, and how many calls are in progress.
type lazyDeadline struct {
	want, set time.Time
	busy      int
}

// applyLocked gives the socket the wanted deadline of one direction
// (write), unless it has it.
func (c *deadlineConn) applyLocked(write bool) error {
	d, set := &c.rd, c.Conn.SetReadDeadline
	if write {
		d, set = &c.wd, c.Conn.SetWriteDeadline
	}
	if d.want.Equal(d.set) {
		return nil
	}
	if err := set(d.want); err != nil {
		return err
	}
	d.set = d.want
	return nil
}

// NetConn is the accepted connection (the live stream sizes its socket).
func (c *deadlineConn) NetConn() net.Conn { return c.Conn }

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rd.want = t
	if c.rd.busy > 0 {
		return c.applyLocked(false)
	}
	return nil
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wd.want = t
	if c.wd.busy > 0 {
		return c.applyLocked(true)
	}
	return nil
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	err := c.SetReadDeadline(t)
	if werr := c.SetWriteDeadline(t); err == nil {
		err = werr
	}
	return err
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	c.rd.busy++
	err := c.applyLocked(false)
	c.mu.Unlock()
	n := 0
	if err == nil {
		n, err = c.Conn.Read(p)
	}
	c.mu.Lock()
	c.rd.busy--
	c.mu.Unlock()
	return n, err
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.wd.busy++
	err := c.applyLocked(true)
	c.mu.Unlock()
	n := 0
	if err == nil {
		n, err = c.Conn.Write(p)
	}
	c.mu.Lock()
	c.wd.busy--
	c.mu.Unlock()
	return n, err
}

// CloseWrite: see limitConn's.
func (c *deadlineConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
