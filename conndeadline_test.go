package presenced

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
)

// countedConn counts the deadlines given to the socket.
type countedConn struct {
	net.Conn
	reads, writes *atomic.Int64
}

func (c countedConn) SetReadDeadline(t time.Time) error {
	c.reads.Add(1)
	return c.Conn.SetReadDeadline(t)
}

func (c countedConn) SetWriteDeadline(t time.Time) error {
	c.writes.Add(1)
	return c.Conn.SetWriteDeadline(t)
}

type countedListener struct {
	net.Listener
	reads, writes atomic.Int64
}

func (l *countedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countedConn{c, &l.reads, &l.writes}, nil
}

// TestDeadlineConnSetsFewerDeadlines: net/http serving keep-alive POSTs
// with the server's timeouts gives the socket 5 read deadlines and 2 write
// deadlines a request; through deadlineConn at most 3 and 1 (fails when
// every deadline set reaches the socket).
func TestDeadlineConnSetsFewerDeadlines(t *testing.T) {
	for _, lazy := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cl := &countedListener{Listener: ln}
		var l net.Listener = cl
		if lazy {
			l = deadlineListener{cl}
		}
		srv := httpServer(Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.ReadAll(r.Body)
			time.Sleep(200 * time.Microsecond) // a write's round trip: the background read waits
			w.WriteHeader(http.StatusOK)
		}), slog.New(slog.DiscardHandler))
		go func() { _ = srv.Serve(l) }()
		c := &http.Client{Transport: &http.Transport{}}
		const n = 100
		for i := range n + 1 {
			if i == 1 { // the connection's first request set up
				cl.reads.Store(0)
				cl.writes.Store(0)
			}
			resp, err := c.Post("http://"+ln.Addr().String()+"/", "application/json", strings.NewReader(`{"a":"b"}`))
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		_ = srv.Close()
		reads, writes := float64(cl.reads.Load())/n, float64(cl.writes.Load())/n
		t.Logf("lazy %v: %.2f read and %.2f write deadlines a request", lazy, reads, writes)
		if lazy && (reads > 3 || writes > 1) {
			t.Errorf("through deadlineConn: %.2f read and %.2f write deadlines a request, want at most 3 and 1", reads, writes)
		}
		if !lazy && reads+writes < 5 {
			t.Errorf("net/http itself: %.2f read and %.2f write deadlines a request; the test no longer measures what it did", reads, writes)
		}
	}
}

// pipeOverTCP is a deadlineConn over a loopback connection, and its peer.
func pipeOverTCP(t *testing.T) (*deadlineConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := deadlineListener{ln}.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); peer.Close() })
	return c.(*deadlineConn), peer
}

// within fails the test unless f returns a timeout within bound.
func within(t *testing.T, what string, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%s: %v, want a timeout", what, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: still waiting after 5 s", what)
	}
}

// TestDeadlineConnBoundsReadsAndWrites: a deadline set before a Read
// (Write) bounds it, and one set while a Read is blocked ends it (net/http's
// abort of its background read; fails when a deadline waits for the next
// call).
func TestDeadlineConnBoundsReadsAndWrites(t *testing.T) {
	now := clock.Real{}.Now
	c, peer := pipeOverTCP(t)
	var b [1]byte
	// Set while idle: the next Read is bounded.
	_ = c.SetReadDeadline(now().Add(20 * time.Millisecond))
	within(t, "a read after its deadline was set", func() error { _, err := c.Read(b[:]); return err })
	// Set while a Read is blocked: it ends.
	_ = c.SetReadDeadline(time.Time{})
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		close(started)
		_, err := c.Read(b[:])
		done <- err
	}()
	<-started
	time.Sleep(20 * time.Millisecond) // the read blocked
	_ = c.SetReadDeadline(now().Add(-time.Second))
	within(t, "a blocked read whose deadline passed", func() error { return <-done })
	// Cleared: data is read again.
	_ = c.SetReadDeadline(time.Time{})
	if _, err := peer.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(b[:]); n != 1 || err != nil {
		t.Fatalf("read after the deadline was cleared: %d, %v", n, err)
	}
	// A write deadline set while idle bounds the next Write.
	_ = c.SetWriteDeadline(now().Add(-time.Second))
	within(t, "a write after its deadline passed", func() error { _, err := c.Write([]byte("y")); return err })
	_ = c.SetWriteDeadline(time.Time{})
	if _, err := c.Write([]byte("y")); err != nil {
		t.Fatalf("write after the deadline was cleared: %v", err)
	}
	// SetDeadline sets both.
	_ = c.SetDeadline(now().Add(-time.Second))
	within(t, "a read after SetDeadline", func() error { _, err := c.Read(b[:]); return err })
	within(t, "a write after SetDeadline", func() error { _, err := c.Write([]byte("z")); return err })
}
