package presenced_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/graphapi"
	"github.com/presenced/presenced/presence"
)

// statusChange is a visible change of adele's presence carrying a long
// status message (~1 KiB on the stream), the i-th of a sequence.
func statusChange(i int) presence.Command {
	return presence.SetStatus{Content: fmt.Sprintf("%04d ", i%10000) + strings.Repeat("é", presence.MaxStatusMessage-5), ContentType: "text"}
}

// The server's WriteTimeout bounds a whole response; the live stream gets
// it per write instead, so a stream that is read lives on past it.
func TestHealthyStreamOutlivesWriteTimeout(t *testing.T) {
	const writeTimeout = 500 * time.Millisecond
	e := startWithConfig(t, func(c *presenced.Config) { c.WriteTimeout = writeTimeout })
	events, stop := e.openStream(t, e.appToken(), "ids="+e.user("adele"), "")
	defer stop()
	nextEvent(t, events) // the current state
	adele := core.UserRef{TenantID: directory.DemoTenantID, UserID: e.user("adele")}
	start := time.Now()
	for i := 0; time.Since(start) < 4*writeTimeout; i++ {
		time.Sleep(writeTimeout / 5) // the stream idles between changes, as real ones do
		if _, _, err := e.srv.Core().Do(context.Background(), adele, statusChange(i)); err != nil {
			t.Fatal(err)
		}
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("the stream ended %v after it opened, with a write timeout of %v", time.Since(start).Round(time.Millisecond), writeTimeout)
			}
			if ev.kind != "presence" {
				t.Fatalf("event %q", ev.kind)
			}
		case <-time.After(bound):
			t.Fatalf("change %d not delivered", i)
		}
	}
}

// A stream whose client never reads was held forever, its writes blocked;
// now a write that cannot go out within WriteTimeout drops it.
func TestStreamNobodyReadsIsDropped(t *testing.T) {
	e := startWithConfig(t, func(c *presenced.Config) { c.WriteTimeout = 500 * time.Millisecond })
	token := e.appToken()
	adele := core.UserRef{TenantID: directory.DemoTenantID, UserID: e.user("adele")}
	c, err := net.DialTimeout("tcp", e.addr, bound)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s?ids=%s HTTP/1.1\r\nHost: presenced\r\nAuthorization: Bearer %s\r\n\r\n", graphapi.StreamPath, adele.UserID, token)
	_ = c.SetReadDeadline(time.Now().Add(bound))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stream: %v %v", resp, err)
	}
	open := e.srv.OpenConnections()
	// Changes until the stream's writes block and time out (the kernel's
	// buffers take a few MB first); the client never reads again.
	deadline := time.Now().Add(30 * time.Second)
	var i int
	for i = 0; e.srv.OpenConnections() >= open; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("the unread stream is still open after %d changes (~%d MB)", i, i>>10)
		}
		if _, _, err := e.srv.Core().Do(context.Background(), adele, statusChange(i)); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			time.Sleep(10 * time.Millisecond) // let the stream catch up and block
		}
	}
	if err := closedWithin(c, bound); err != nil { // reads what was buffered, then the end
		t.Fatalf("after %d changes: %v", i, err)
	}
	t.Logf("dropped after %d changes", i)
}
