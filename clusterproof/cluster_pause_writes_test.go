package clusterproof_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/nodetest"
)

// A node frozen by SIGSTOP (a stalled VM) must not slow the healthy
// nodes' writes of a subscribed user. Each such write logs the change
// under notify's 5 s bound, and reading the log's last record is a direct
// get, which any replica may draw — the frozen one too, which stays in
// the group until nats-server's ping timeout: before Last bounded its
// direct get (natsstore.directTry), a third to a half of the writes
// through the healthy nodes waited out the 5 s bound for the whole pause
// (the session-15 audit: 4.7–9.4 s each). Cold reads of many users
// (one batched direct get, store.KV.GetMany) drew it too: 7 of 12 took
// 5 s and answered 503 before the batch was asked again after
// natsstore's directTry. The check counts the writes and reads that
// waited most of that bound, which must be none; the same run's writes
// before the pause are the figures to compare with (logged).
func TestClusterProcessPausedNodeDoesNotSlowWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three presenced processes")
	}
	const (
		writes = 12
		// slow is most of notify's 5 s bound: a write that took this long
		// waited out a read of the change log (a healthy write takes
		// milliseconds; a fallback to the leader after a stalled direct
		// get, about a second).
		slow = 4 * time.Second
	)
	c := nodetest.Start(t, nodetest.Options{DemoUsers: 400})
	rc := newHookReceiver(t)
	user := directory.DemoUserID(1)
	subscribe(t, c.Nodes[0], rc, []string{user})
	cw := &changeWriters{t: t, c: c, hc: &http.Client{Timeout: 30 * time.Second}}
	for _, n := range c.Nodes {
		cw.tokens = append(cw.tokens, n.AppToken())
	}
	k := 0
	write := func(node int) (time.Duration, error) {
		p := presencePairs[k%len(presencePairs)]
		k++
		start := time.Now()
		status, detail := cw.set(context.Background(), node, user, p)
		took := time.Since(start)
		if status != http.StatusOK {
			return took, fmt.Errorf("%s: %d %s", c.Nodes[node].Name, status, detail)
		}
		return took, nil
	}
	measure := func(what string) []time.Duration {
		var took []time.Duration
		for i := range writes {
			d, err := write(1 + i%2) // through node2 and node3, in turn
			if err != nil {
				t.Fatalf("%s, write %d: %v", what, i, err)
			}
			took = append(took, d.Round(time.Millisecond))
		}
		return took
	}
	before := measure("before the pause")
	victim := c.Nodes[0]
	victim.Pause()
	pausedAt := time.Now()
	defer victim.Resume()
	// The streams the victim led elect new leaders first (seconds): that
	// wait is TestClusterProcessPause's, not this test's. Writes go on once
	// one is answered quickly.
	for {
		d, err := write(1)
		if err == nil && d < time.Second {
			break
		}
		if time.Since(pausedAt) > 30*time.Second {
			t.Fatalf("no write through %s was answered within a second in the 30 s after the pause of %s (the last: %v, %v)", c.Nodes[1].Name, victim.Name, d, err)
		}
	}
	settled := time.Since(pausedAt).Round(time.Millisecond)
	during := measure("while " + victim.Name + " is paused")
	// Reads of users no node has read yet come from the engine in one
	// batched direct get (store.KV.GetMany), which may draw the frozen
	// replica as well.
	var reads []time.Duration
	for i := range writes {
		ids := make([]string, 20)
		for j := range ids {
			ids[j] = fmt.Sprintf("%q", directory.DemoUserID(100+20*i+j))
		}
		node := 1 + i%2
		body := `{"ids":[` + strings.Join(ids, ",") + `]}`
		req, _ := http.NewRequest("POST", c.Nodes[node].URL+"/v1.0/communications/getPresencesByUserId", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+cw.tokens[node])
		start := time.Now()
		resp, err := cw.hc.Do(req)
		if err != nil {
			t.Fatalf("read %d through %s: %v", i, c.Nodes[node].Name, err)
		}
		resp.Body.Close()
		reads = append(reads, time.Since(start).Round(time.Millisecond))
		if resp.StatusCode != http.StatusOK {
			t.Errorf("read %d through %s: %s", i, c.Nodes[node].Name, resp.Status)
		}
	}
	t.Logf("cold reads of 20 users through the healthy nodes while %s was paused: %v", victim.Name, reads)
	for _, d := range reads {
		if d >= slow {
			t.Errorf("%d cold reads of 20 users took %v or more while %s was paused: %v", len(reads), slow, victim.Name, reads)
			break
		}
	}
	waited := 0
	for _, d := range during {
		if d >= slow {
			waited++
		}
	}
	t.Logf("writes of a subscribed user through the healthy nodes: before the pause %v; while %s was paused (from %v after SIGSTOP) %v", before, victim.Name, settled, during)
	if waited > 0 {
		t.Errorf("%d of %d writes through the healthy nodes took %v or more while %s was paused: %v (before the pause: %v)", waited, writes, slow, victim.Name, during, before)
	}
}
