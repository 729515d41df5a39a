package presenced_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/graphapi"
)

// A plain HTTP/1.1 stream is written by the fanout's writers while its
// socket takes each event whole; when the client stops reading and the
// socket fills, the event cut in the middle is finished by the stream's
// own goroutine, which follows the feed until it caught up, and the
// writers take the stream again. Through all of it the client gets every
// change once, whole, in order.
func TestStreamSlowReaderGetsEveryChangeOnceInOrder(t *testing.T) {
	e := start(t)
	adele := core.UserRef{TenantID: directory.DemoTenantID, UserID: e.user("adele")}
	c, err := net.DialTimeout("tcp", e.addr, bound)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(4 << 10) // fills after a few events
	fmt.Fprintf(c, "GET %s?ids=%s HTTP/1.1\r\nHost: presenced\r\nAuthorization: Bearer %s\r\n\r\n", graphapi.StreamPath, adele.UserID, e.appToken())
	_ = c.SetReadDeadline(time.Now().Add(bound))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stream: %v %v", resp, err)
	}
	next := func() (id, kind, data string) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(bound))
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("after event %s: %v", id, err)
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "" && kind != "":
				return id, kind, data
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "event: "):
				kind = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = line[6:]
			}
		}
	}
	if _, kind, _ := next(); kind != "presence" {
		t.Fatalf("first event %q", kind)
	}
	// The client reads nothing while ~450 KB of changes are written: more
	// than the socket's buffers on both sides hold (the stream's send
	// buffer is 64 KiB), fewer changes than the stream may queue (1,024).
	const n = 300
	for i := range n {
		if _, _, err := e.srv.Core().Do(context.Background(), adele, statusChange(i)); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.(*net.TCPConn).SetReadBuffer(1 << 20) // and now reads at speed
	content := regexp.MustCompile(`"content":"(\d{4}) `)
	var last uint64
	for i := range n {
		id, kind, data := next()
		m := content.FindStringSubmatch(data)
		if kind != "presence" || m == nil {
			t.Fatalf("event %d: %s %.80s", i, kind, data)
		}
		if got, _ := strconv.Atoi(m[1]); got != i {
			t.Fatalf("event %d carries change %d", i, got)
		}
		seq, err := strconv.ParseUint(id, 10, 64)
		if err != nil || seq <= last {
			t.Fatalf("event %d has id %q after %d", i, id, last)
		}
		last = seq
	}
	// And the writers have it again: a change now arrives at once.
	if _, _, err := e.srv.Core().Do(context.Background(), adele, statusChange(n)); err != nil {
		t.Fatal(err)
	}
	if _, kind, data := next(); kind != "presence" || !strings.Contains(data, fmt.Sprintf(`"content":"%04d `, n)) {
		t.Fatalf("after the backlog: %s %.80s", kind, data)
	}
}

// Over TLS a stream's events go through the TLS connection (HTTP/1.1) or
// HTTP/2's framing, never straight to the socket as a plain HTTP/1.1
// stream's do: the client reads each change whole.
func TestStreamOverTLSGetsItsChanges(t *testing.T) {
	e, ca := startTLS(t)
	adele := core.UserRef{TenantID: directory.DemoTenantID, UserID: e.user("adele")}
	tok := daemonToken(t, tlsClient(ca, false), e.srv.URL())
	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // HTTP/1.1 only
		}
		c := &http.Client{Transport: tr}
		resp, err := c.Get(e.srv.URL() + graphapi.StreamPath + "?ids=" + adele.UserID + "&access_token=" + tok)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || (resp.ProtoMajor == 2) != h2 {
			t.Fatalf("stream over TLS: %s %s", resp.Proto, resp.Status)
		}
		br := bufio.NewReader(resp.Body)
		event := func() string {
			t.Helper()
			var ev string
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("%s: after %q: %v", resp.Proto, ev, err)
				}
				if line == "\n" && strings.Contains(ev, "data: ") {
					return ev
				}
				ev += line
			}
		}
		if ev := event(); !strings.Contains(ev, "event: presence\n") {
			t.Fatalf("%s: first event %q", resp.Proto, ev)
		}
		for i := range 3 {
			if _, _, err := e.srv.Core().Do(context.Background(), adele, statusChange(i)); err != nil {
				t.Fatal(err)
			}
			if ev := event(); !strings.Contains(ev, fmt.Sprintf(`"content":"%04d `, i)) {
				t.Fatalf("%s: change %d: %.200q", resp.Proto, i, ev)
			}
		}
		resp.Body.Close()
	}
}
