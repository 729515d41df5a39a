package presenced_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced"
)

// A node whose cluster lost its quorum: a write answers 503 with
// Retry-After and a Graph error body within the engine's bound (never
// hangs); a read of a user the node holds is answered from its cache; a
// read of a user it never held is refused with 503 once the engine has no
// leader to ask; /readyz fails, naming the engine's quorum, and is ready
// again, and writes go through, once a majority is back.
func TestClusterNodeWithoutQuorum(t *testing.T) {
	t.Parallel()
	const wait = 2 * time.Second
	nodes, tok, adele := clusterToLoseQuorum(t, wait)
	n := nodes[0]
	ready := func() (int, string) {
		resp, err := http.Get(n.srv.URL() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor(t, "node 0 ready", func() bool { code, _ := ready(); return code == 200 })
	if _, body := ready(); !strings.Contains(body, "ok: engine quorum") || !strings.Contains(body, "ok: cache following") {
		t.Fatalf("/readyz: %q", body)
	}

	var wg sync.WaitGroup
	for _, m := range nodes[1:] {
		wg.Go(m.stop)
	}
	wg.Wait()

	start := time.Now()
	r := n.call("POST", "/v1.0/users/"+adele+"/presence/setPresence", tok, setBody("Away", "Away", "PT1H"))
	took := time.Since(start)
	if r.status != 503 || r.errCode() != "serviceNotAvailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("write without quorum: %d %s Retry-After %q", r.status, r.raw, r.header.Get("Retry-After"))
	}
	if took > wait+5*time.Second {
		t.Fatalf("write without quorum answered after %v; the bound is %v", took, wait)
	}
	t.Logf("write without quorum: 503 after %v", took.Round(time.Millisecond))
	if got := pair(n.get(tok, adele)); got != "Busy/InACall" {
		t.Fatalf("read of a cached user without quorum: %s", got)
	}
	deadline := time.Now().Add(40 * time.Second)
	for {
		code, body := ready()
		if code == 503 && strings.Contains(body, "failed: engine quorum") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz 40 s after the quorum was lost: %d %q", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("not ready %v after the quorum was lost", time.Since(start).Round(100*time.Millisecond))
	// Until the last leader steps down (nats-server's lost-quorum
	// interval, ~10 s) the node may still read its own copy: each attempt
	// reads another user, as a read caches what it read.
	for i := 1; ; i++ {
		start := time.Now()
		r := n.call("GET", fmt.Sprintf("/v1.0/users/user%d@contoso.dev/presence", i), tok, nil)
		took := time.Since(start)
		if r.status == 503 {
			if r.errCode() != "serviceNotAvailable" || r.header.Get("Retry-After") == "" || took > wait+5*time.Second {
				t.Fatalf("read of a user never held, without quorum: %d %s after %v", r.status, r.raw, took)
			}
			break
		}
		if time.Now().After(deadline) || i == 100 {
			t.Fatalf("read of a user never held, without quorum: %d %s", r.status, r.raw)
		}
		time.Sleep(200 * time.Millisecond)
	}

	if err := nodes[1].bootErr(); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(40 * time.Second)
	for code, body := ready(); code != 200; code, body = ready() {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz 40 s after the quorum came back: %d %q", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := 0; ; i++ {
		r := n.call("POST", "/v1.0/users/"+adele+"/presence/setPresence", tok, setBody("DoNotDisturb", "Presenting", "PT1H"))
		if r.status == 200 {
			break
		}
		if i == 20 {
			t.Fatal(fmt.Sprintf("write with the quorum back: %d %s", r.status, r.raw))
		}
		time.Sleep(500 * time.Millisecond)
	}
	tok1 := nodes[1].appToken()
	waitFor(t, "node 1, back, reads the write node 0 made", func() bool { return pair(nodes[1].get(tok1, adele)) == "DoNotDisturb/Presenting" })
}

// clusterToLoseQuorum is a three-node cluster whose engine waits at most
// wait for an answer, with 100 demo users never written
// (user1…user100@contoso.dev) and adele set Busy through node 0; it
// returns node 0's app token and adele's id. A test then stops two nodes.
func clusterToLoseQuorum(t *testing.T, wait time.Duration) (nodes []*env, tok, adele string) {
	t.Helper()
	nodes, _ = clusterOf(t, 3, 3, func(c *presenced.Config) {
		presenced.ShortEngineWait(c, wait)
		c.ThrottleRequests = testThrottleRequests
		c.DemoUsers = 100
	})
	n := nodes[0]
	tok, adele = n.appToken(), n.user("adele")
	n.must("POST", "/v1.0/users/"+adele+"/presence/setPresence", tok, setBody("Busy", "InACall", "PT1H"))
	return nodes, tok, adele
}
