package clusterproof_test

import (
	"context"
	"fmt"
	"net/http"
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
// (the session-15 audit: 4.7–9.4 s each). The check counts the writes
// that waited most of that bound, which must be none; the same run's
// writes before the pause are the figures to compare with (logged).
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
	c := nodetest.Start(t, nodetest.Options{DemoUsers: 4})
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
