package graphapi

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// streamSendBuffer is the kernel send buffer of a stream's connection. Left
// to itself the kernel grows it up to its maximum (4 MiB on Linux) for a
// client that stops reading: kernel memory held per stuck stream, besides
// what the stream holds itself. 64 KiB carries hundreds of events, far more
// than a stream that keeps up ever has in flight.
const streamSendBuffer = 64 << 10

type connKey struct{}

// ConnContext puts each connection in the context of its requests, so that
// a stream can size its socket; set it as the http.Server's ConnContext.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// limitSendBuffer sets the request's connection's send buffer to
// streamSendBuffer, where it can: a TCP connection given by ConnContext, or
// one that a wrapper (TLS, a listener's) gives with NetConn.
func limitSendBuffer(r *http.Request) {
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	for c != nil {
		if b, ok := c.(interface{ SetWriteBuffer(int) error }); ok {
			_ = b.SetWriteBuffer(streamSendBuffer)
			return
		}
		w, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return
		}
		c = w.NetConn()
	}
}

// sseWriter writes Server-Sent Events to one client. Every byte of a
// stream goes through write, one goroutine at a time: the one place to
// bound how long a write to a client that does not read may take.
type sseWriter struct {
	w       http.ResponseWriter
	flusher http.Flusher
	rc      *http.ResponseController
	timeout time.Duration // each write's bound (≤ 0: none)
	buf     []byte

	until     time.Time // the connection's write deadline now
	unbounded bool      // the deadline was cleared (timeout ≤ 0)

	// raw is the socket of a plain HTTP/1.1 stream (nil: none), which the
	// fanout's writers write to directly (streamSession.Deliver): every
	// write through net/http is flushed, so net/http never holds bytes of
	// the stream when they do. nonblock: a writer is writing; what the
	// socket does not take at once waits in pending, for the stream's
	// own goroutine, which writes it before anything else.
	raw      syscall.RawConn
	nonblock bool
	pending  []byte
}

// write sends b and flushes it to the client, within the stream's write
// timeout; on a writer (nonblock), it never waits: what the socket does not
// take now is kept in pending.
func (s *sseWriter) write(b []byte) error {
	if s.nonblock {
		return s.tryWrite(b)
	}
	s.deadline()
	if len(s.pending) > 0 {
		if _, err := s.w.Write(s.pending); err != nil {
			return err
		}
		s.pending = s.pending[:0]
	}
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	s.flusher.Flush()
	return nil
}

// tryWrite writes b to the socket, keeping in pending what it did not take.
func (s *sseWriter) tryWrite(b []byte) error {
	if len(s.pending) > 0 {
		s.pending = append(s.pending, b...)
		return nil
	}
	n, err := rawWrite(s.raw, b)
	if err != nil {
		return err
	}
	if n < len(b) {
		s.pending = append(s.pending[:0], b[n:]...)
	}
	return nil
}

// event sends one event: id (omitted when hasID is false, so that the
// client's last event id stays as it was), its type, and one line of data.
func (s *sseWriter) event(hasID bool, id uint64, kind string, data []byte) error {
	s.buf = appendEvent(s.buf[:0], hasID, id, kind, data)
	return s.write(s.buf)
}

// appendEvent appends one event as sseWriter.event sends it.
func appendEvent(b []byte, hasID bool, id uint64, kind string, data []byte) []byte {
	if hasID {
		b = append(b, "id: "...)
		b = strconv.AppendUint(b, id, 10)
		b = append(b, '\n')
	}
	b = append(b, "event: "...)
	b = append(b, kind...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}

// comment sends a comment line, which clients ignore (a heartbeat).
func (s *sseWriter) comment(text string) error {
	s.buf = append(append(append(s.buf[:0], ": "...), text...), "\n\n"...)
	return s.write(s.buf)
}
