package presenced_test

import (
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/presenced/presenced/directory"
)

// TestSetPresenceStack: a setPresence, every client's write, fits in 8 KiB
// of its connection goroutine's stack. The collector halves a stack whose
// goroutine uses under a quarter of it, so a write that needs 16 KiB has
// its stack halved by every collection and copied to grow again by the
// connection's next write (~0.5 µs of a write in BenchmarkHTTPOne's
// profile, docs/performance.md, branch setpath). Each of 64 connections
// is opened with a request that needs little stack (/healthz) and then
// sends a setPresence; what the writes added to the process's stacks is
// then under 6 KiB a connection (on main, whose write needed 16 KiB, it
// was 9–11 KiB). The collector is off meanwhile, so that no stack is
// shrunk in between.
func TestSetPresenceStack(t *testing.T) {
	if raceBuild || testing.CoverMode() != "" {
		t.Skip("the race detector's and coverage's builds have frames of other sizes; this measures the ordinary build")
	}
	e := startWith(t, directory.DemoFile(5))
	tok := e.appToken()
	path := "/v1.0/users/" + directory.DemoUserID(2) + "/presence/setPresence"
	body := fmt.Sprintf(`{"sessionId":"%s:s1","availability":"Busy","activity":"InACall","expirationDuration":"PT1H"}`, directory.DemoDaemonClientID)
	const conns = 64
	clients := make([]*http.Client, conns)
	for i := range clients {
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		clients[i] = &http.Client{Transport: tr}
	}
	do := func(c *http.Client, method, path, token, body string) {
		t.Helper()
		req, err := http.NewRequest(method, e.base()+path, strings.NewReader(body))
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
	do(clients[0], "POST", path, tok, body) // the user cached, the token too
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for _, c := range clients {
		do(c, "GET", "/healthz", "", "")
	}
	stacks := []metrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(stacks)
	before := int64(stacks[0].Value.Uint64())
	for _, c := range clients {
		do(c, "POST", path, tok, body)
	}
	metrics.Read(stacks)
	added := int64(stacks[0].Value.Uint64()) - before
	t.Logf("the writes added %d bytes of stack, %d a connection", added, added/conns)
	if added/conns >= 6<<10 {
		t.Fatalf("a setPresence added %d bytes of stack a connection: its path needs more than 8 KiB of stack", added/conns)
	}
}
