package presenced_test

import (
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A failed validation handshake says why in words that name only what the
// subscriber sent: net's errors named the server's own address and port
// ("read tcp 127.0.0.1:47738->127.0.0.1:18473: … reset by peer") and its
// DNS resolver ("lookup nonexistent.invalid on 10.255.255.53:53"), which
// reached the caller in the 400's message.
func TestHandshakeFailureNamesNoInternals(t *testing.T) {
	e := start(t)
	adele := e.userToken("adele", "")
	alex := e.user("alex")
	exp := t0.Add(30 * time.Minute)

	// A receiver that takes the connection and resets it at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Read(make([]byte, 16))
			_ = c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := refused.Addr().String()
	refused.Close() // nothing listens there now

	addrPort := regexp.MustCompile(`\[?[0-9a-fA-F:.]*[0-9a-fA-F]\]?:\d+`)
	for _, c := range []struct{ name, host, why string }{
		{"reset by the receiver", ln.Addr().String(), "connection reset by peer"},
		{"nothing listens", refusedAddr, "connection refused"},
		{"host unknown", "nonexistent.invalid", "cannot resolve host 'nonexistent.invalid'"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.subscribe(adele, subBody("http://"+c.host+"/hook", []string{alex}, exp))
			msg := r.errMessage()
			if r.status != 400 || !strings.Contains(msg, "validation request failed") || !strings.Contains(msg, c.why) {
				t.Fatalf("%d %s, want 400 saying %q", r.status, r.raw, c.why)
			}
			for _, a := range addrPort.FindAllString(msg, -1) {
				if a != c.host {
					t.Errorf("the message names %s, which the request did not: %s", a, msg)
				}
			}
			if strings.Contains(msg, "->") {
				t.Errorf("the message names a connection's two ends: %s", msg)
			}
		})
	}
}
