package presenced_test

import (
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/presenced/presenced/directory"
)

// TestSetPresenceStack: a setPresence, every client's write, fits in 8 KiB
// of its connection goroutine's stack, as a GET does (TestPresenceGetStack,
// whose reasons apply: a write that needs 16 KiB has its stack halved by
// every collection and copied to grow again by the connection's next
// write; docs/performance.md, branch setpath). Each of 64 connections is
// opened with a request that needs little stack (/healthz) and then sends
// a setPresence; what the writes added to the process's stacks is then
// under 6 KiB a connection (on main before setpath, 9–11 KiB). The
// collector is off meanwhile, so that no stack is shrunk in between.
func TestSetPresenceStack(t *testing.T) {
	if raceBuild || testing.CoverMode() != "" {
		t.Skip("the race detector's and coverage's builds have frames of other sizes; this measures the ordinary build")
	}
	e := startWith(t, directory.DemoFile(5))
	tok := e.appToken()
	path := "/v1.0/users/" + directory.DemoUserID(2) + "/presence/setPresence"
	body := fmt.Sprintf(`{"sessionId":"%s:s1","availability":"Busy","activity":"InACall","expirationDuration":"PT1H"}`, directory.DemoDaemonClientID)
	const conns = 64
	do := func(c *http.Client, method, path, token string) {
		t.Helper()
		var rd io.Reader
		if token != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, e.base()+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %s", method, path, resp.Status)
		}
	}
	do(http.DefaultClient, "POST", path, tok) // the user cached, the token too
	// Three attempts, each on 64 new connections: what the process's other
	// goroutines (the engine's among them) add meanwhile can only add to a
	// figure, so the smallest is the writes'.
	var perConn []int64
	for range 3 {
		clients := make([]*http.Client, conns)
		for i := range clients {
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			clients[i] = &http.Client{Transport: tr}
		}
		gc := debug.SetGCPercent(-1)
		for _, c := range clients {
			do(c, "GET", "/healthz", "")
		}
		before := stackBytes()
		for _, c := range clients {
			do(c, "POST", path, tok)
		}
		added := stackBytes() - before
		debug.SetGCPercent(gc)
		perConn = append(perConn, added/conns)
		if added/conns < 6<<10 {
			t.Logf("the writes added %d bytes of stack a connection (attempts: %v)", added/conns, perConn)
			return
		}
	}
	t.Fatalf("a setPresence added %v bytes of stack a connection in three attempts: its path needs more than 8 KiB of stack", perConn)
}
