package presenced_test

import (
	"io"
	"net/http"
	"runtime/debug"
	"runtime/metrics"
	"testing"

	"github.com/presenced/presenced/directory"
)

// TestPresenceGetStack: a GET of a presence, the most frequent request,
// fits in 8 KiB of its connection goroutine's stack. An idle keep-alive
// connection's goroutine uses ~2.5 KiB, and the collector halves a stack
// whose goroutine uses under a quarter of it: a GET that needs 16 KiB has
// its stack halved by every collection and copied to grow again by the
// connection's next request (~0.5 µs of a GET, docs/performance.md, branch
// getpath); within 8 KiB it is never halved. Each of 64 connections is
// opened with a request that needs little stack (/healthz) and then
// serves a GET; what the GETs added to the process's stacks is then under
// 6 KiB a connection (a connection whose GET needs 16 KiB adds 8–14 KiB).
// The collector is off meanwhile, so that no stack is shrunk in between.
func TestPresenceGetStack(t *testing.T) {
	if raceBuild || testing.CoverMode() != "" {
		t.Skip("the race detector's and coverage's builds have frames of other sizes; this measures the ordinary build")
	}
	e := startWith(t, directory.DemoFile(5))
	tok := e.appToken()
	user := directory.DemoUserID(2)
	const conns = 64
	do := func(c *http.Client, path, token string) {
		t.Helper()
		req, err := http.NewRequest("GET", e.base()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
	}
	do(http.DefaultClient, "/v1.0/users/"+user+"/presence", tok) // the user cached, the token too
	// Three attempts, each on 64 new connections: what the process's other
	// goroutines add meanwhile can only add to a figure, so the smallest is
	// the GETs'.
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
			do(c, "/healthz", "")
		}
		before := stackBytes()
		for _, c := range clients {
			do(c, "/v1.0/users/"+user+"/presence", tok)
		}
		added := stackBytes() - before
		debug.SetGCPercent(gc)
		perConn = append(perConn, added/conns)
		if added/conns < 6<<10 {
			t.Logf("the GETs added %d bytes of stack a connection (attempts: %v)", added/conns, perConn)
			return
		}
	}
	t.Fatalf("a GET added %v bytes of stack a connection in three attempts: its path needs more than 8 KiB of stack", perConn)
}

// stackBytes is the memory of the process's goroutine stacks.
func stackBytes() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}
