//go:build unix

package graphapi

import (
	"net"
	"net/http"
	"syscall"
)

// directConn is the socket a plain HTTP/1.1 stream's events may be written
// to without net/http (sseWriter.raw), or nil: over TLS the bytes must go
// through the TLS connection, over HTTP/2 through its framing. The
// connection from ConnContext is unwrapped with NetConn (the server's
// connection limit wraps it; TLS is excluded above).
func directConn(r *http.Request) syscall.RawConn {
	if r.ProtoMajor != 1 || r.TLS != nil {
		return nil
	}
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	for c != nil {
		if sc, ok := c.(*net.TCPConn); ok {
			rc, err := sc.SyscallConn()
			if err != nil {
				return nil
			}
			return rc
		}
		w, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = w.NetConn()
	}
	return nil
}

// rawWrite writes what of b the socket takes now, without waiting: n <
// len(b) with a nil error means the socket's buffer is full. It goes
// through Control, which keeps the descriptor open for the call but, unlike
// RawConn.Write, does not apply the connection's write deadline: that
// bounds the stream's blocking writes (deadline.go), and is moved only by
// them, while this one never waits. The stream's writes are one at a time
// (streamSession.mu), so nothing else writes to the socket meanwhile.
func rawWrite(rc syscall.RawConn, b []byte) (int, error) {
	var n int
	var werr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if n, werr = syscall.Write(int(fd), b); werr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return 0, err
	}
	if n < 0 {
		n = 0
	}
	if werr == syscall.EAGAIN {
		werr = nil
	}
	return n, werr
}
