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
// getpath); within 8 KiB it is never halved. What the GETs add to the
// process's stacks is under 6 KiB a connection (a connection whose GET
// needs 16 KiB adds 8–14 KiB): requestStackFits.
func TestPresenceGetStack(t *testing.T) {
	if raceBuild || testing.CoverMode() != "" {
		t.Skip("the race detector's and coverage's builds have frames of other sizes; this measures the ordinary build")
	}
	e := startWith(t, directory.DemoFile(5))
	tok := e.appToken()
	path := "/v1.0/users/" + directory.DemoUserID(2) + "/presence"
	requestStackFits(t, e, "GET", func() *http.Request {
		req, _ := http.NewRequest("GET", e.base()+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		return req
	})
}

// requestStackFits fails t unless the request newReq makes (answered 200)
// adds under 6 KiB of stack to the connection that serves it: each of 64
// connections is opened with a request that needs little stack (/healthz)
// and then serves one, the collector off meanwhile so that no stack is
// shrunk in between. Three attempts, each on 64 new connections: what the
// process's other goroutines (the engine's among them) add meanwhile can
// only add to a figure, so the smallest is the requests'. A first request
// beforehand caches the user and the token.
func requestStackFits(t *testing.T, e *env, what string, newReq func() *http.Request) {
	t.Helper()
	const conns = 64
	do := func(c *http.Client, req *http.Request) {
		t.Helper()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %s", req.Method, req.URL.Path, resp.Status)
		}
	}
	healthz := func() *http.Request {
		req, _ := http.NewRequest("GET", e.base()+"/healthz", nil)
		return req
	}
	do(http.DefaultClient, newReq())
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
			do(c, healthz())
		}
		before := stackBytes()
		for _, c := range clients {
			do(c, newReq())
		}
		added := stackBytes() - before
		debug.SetGCPercent(gc)
		perConn = append(perConn, added/conns)
		if added/conns < 6<<10 {
			t.Logf("each %s added %d bytes of stack a connection (attempts: %v)", what, added/conns, perConn)
			return
		}
	}
	t.Fatalf("a %s added %v bytes of stack a connection in three attempts: its path needs more than 8 KiB of stack", what, perConn)
}

// stackBytes is the memory of the process's goroutine stacks.
func stackBytes() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}
