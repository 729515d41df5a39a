//go:build linux

package presenced_test

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestEpollClientReportsKernelAndReadTimes checks the 10,000-stream case's
// client on two real loopback streams: each data line after the first is
// reported once, under the stream's number in the whole set (first + i),
// with the kernel's receipt (SO_TIMESTAMPNS) no later than the read, and
// the line survives the trip through the client process's report
// (parseArrival, four fields; the old three still parse).
func TestEpollClientReportsKernelAndReadTimes(t *testing.T) {
	kernelStampsOn(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const n, first = 2, 5
	started := make(chan struct{}, n)
	go func() {
		var conns []net.Conn
		for range n {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
				return
			}
			_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\nretry: 1000\n\ndata: {}\n\n"))
		}
		for range n {
			<-started
		}
		for _, c := range conns {
			_, _ = c.Write([]byte("id: 7\nevent: presence\ndata: {\"activity\":\"InACall\"}\n\n"))
		}
		for _, c := range conns {
			_ = c.Close()
		}
	}()

	type got struct {
		i        int
		at, sock time.Time
		line     string
	}
	var mu sync.Mutex
	var events []got
	flushes := 0
	done := make(chan error, 1)
	go func() {
		done <- epollStreams("http://"+ln.Addr().String()+"/s", first, n,
			func() { started <- struct{}{} },
			func(i int, at, sock time.Time, line []byte) {
				mu.Lock()
				events = append(events, got{i, at, sock, string(line)})
				mu.Unlock()
			},
			func() { flushes++ })
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the client did not end after its streams closed")
	}

	if len(events) != n {
		t.Fatalf("%d events, want one per stream: %+v", len(events), events)
	}
	seen := map[int]bool{}
	for _, e := range events {
		if e.i < first || e.i >= first+n || seen[e.i] {
			t.Errorf("event reported as stream %d (streams %d-%d, once each)", e.i, first, first+n-1)
		}
		seen[e.i] = true
		if e.sock.IsZero() {
			t.Errorf("stream %d: no kernel receipt time", e.i)
		} else if e.sock.After(e.at) {
			t.Errorf("stream %d: received by the kernel at %v, after the read at %v", e.i, e.sock, e.at)
		}
		if streamKind([]byte(e.line)) != 1 {
			t.Errorf("stream %d: line %q is not the InACall pair", e.i, e.line)
		}
		line := strconv.Itoa(e.i) + " 1 " + strconv.FormatInt(e.at.UnixNano(), 10) + " " + strconv.FormatInt(e.sock.UnixNano(), 10) + "\n"
		a, ok := parseArrival([]byte(line))
		if !ok || a.i != e.i || a.kind != 1 || !a.at.Equal(e.at) || !a.sock.Equal(e.sock) {
			t.Errorf("parseArrival(%q) = %+v, %v", line, a, ok)
		}
	}
	if flushes == 0 {
		t.Error("the client never flushed what it read")
	}
	if a, ok := parseArrival([]byte("3 2 12345\n")); !ok || a.i != 3 || a.kind != 2 || a.at.UnixNano() != 12345 || !a.sock.IsZero() {
		t.Errorf("a three-field line: %+v, %v", a, ok)
	}
	if _, ok := parseArrival([]byte("ready\n")); ok {
		t.Error("parseArrival took a line that is not an arrival")
	}
}

// kernelStampsOn makes sure the kernel stamps the segments it receives
// from here on. Linux stamps a segment only once a socket has asked for
// stamps and a deferred work item has switched stamping on
// (net_enable_timestamp), and off again after the last such socket
// closed; a segment received in between carries no stamp, and the test's
// streams, which ask right after connecting, once read "no kernel receipt
// time" in CI. A socket of its own asks first, reads probes until one is
// stamped (at most 5 s), and stays open until the test ends.
func kernelStampsOn(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		t.Fatalf("SO_TIMESTAMPNS: %v %v", err, serr)
	}
	buf, oob := make([]byte, 64), make([]byte, 128)
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if _, err := peer.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		var sock time.Time
		var rerr error
		if err := rc.Read(func(fd uintptr) bool {
			_, sock, rerr = readStamped(int(fd), buf, oob)
			return !errors.Is(rerr, syscall.EAGAIN)
		}); err != nil || rerr != nil {
			t.Fatalf("reading a probe: %v %v", err, rerr)
		}
		if !sock.IsZero() {
			return
		}
	}
	t.Fatal("the kernel stamped no probe within 5 s")
}
