package presenced_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/graphapi"
)

// A node whose cluster lost its quorum answers a new stream (with or
// without Last-Event-ID) and a new subscription with 503
// serviceNotAvailable and Retry-After, never 500: the engine that did not
// answer is the reason, and the client is to try again (issue #10, where
// a loaded machine's slow engine gave 500 generalException).
func TestClusterStreamAndSubscriptionWithoutQuorum(t *testing.T) {
	t.Parallel()
	const wait = 2 * time.Second
	nodes, tok, adele := clusterToLoseQuorum(t, wait)
	n := nodes[0]
	utok := n.userToken("adele", "") // issuing one needs the engine
	rc := newReceiver(t)

	var wg sync.WaitGroup
	for _, m := range nodes[1:] {
		wg.Go(m.stop)
	}
	wg.Wait()

	client := &http.Client{Timeout: 30 * time.Second}
	open := func(id, lastID string) (int, string, string) {
		req, _ := http.NewRequest("GET", n.srv.URL()+graphapi.StreamPath+"?ids="+id+"&access_token="+tok, nil)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == 200 {
			return 200, "", ""
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return resp.StatusCode, string(b), resp.Header.Get("Retry-After")
	}
	// Until the last leader steps down (nats-server's lost-quorum
	// interval, ~10 s; each stream's on its own) a stream may still open:
	// each attempt watches another user, as a watched user's presence is
	// logged once. A stream, and one that resumes (whose log position is
	// the leader's), is answered 200 or 503, never anything else.
	deadline := time.Now().Add(40 * time.Second)
	next := 0
	for _, lastID := range []string{"", "100000"} {
		for {
			next++
			code, body, retry := open(fmt.Sprintf("user%d@contoso.dev", next), lastID)
			if code == 503 {
				if retry == "" {
					t.Fatalf("stream (Last-Event-ID %q) without quorum: 503 without Retry-After: %s", lastID, body)
				}
				break
			}
			if code != 200 {
				t.Fatalf("stream (Last-Event-ID %q) without quorum: %d %s", lastID, code, body)
			}
			if time.Now().After(deadline) || next == 100 {
				t.Fatalf("a stream (Last-Event-ID %q) still opens 40 s after the quorum was lost", lastID)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	r := n.subscribe(utok, subBody(rc.srv.URL, []string{adele}, t0.Add(30*time.Minute)))
	if r.status != 503 || r.errCode() != "serviceNotAvailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("subscription without quorum: %d %s Retry-After %q", r.status, r.raw, r.header.Get("Retry-After"))
	}
	if !strings.Contains(string(r.raw), "subscription store did not answer") {
		t.Fatalf("subscription without quorum: %s; want the subscriptions' own message", r.raw)
	}
}
