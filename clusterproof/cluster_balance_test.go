package clusterproof_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/presenced/presenced/internal/nodetest"
)

// Three `presenced serve` nodes whose partitions are all led by one node
// (moved there by hand) even them out by themselves (--balance-leaders):
// no node leads two more than another, within a minute.
func TestClusterProcessEvensOutLeaders(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three presenced processes")
	}
	c := nodetest.Start(t, nodetest.Options{Args: []string{"--balance-leaders", "1s"}})
	nc, err := nats.Connect(c.Nodes[0].NATSURL, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Every partition to node1, until it leads all of them at once (the nodes
	// move them back meanwhile: they look every second).
	moving := time.Now()
	all := false
	for rounds := 1; !all && ctx.Err() == nil; rounds++ {
		leaders, err := c.Leaders(ctx)
		if err != nil {
			t.Fatal(err)
		}
		all = len(leaders) > 0
		for stream, l := range leaders {
			if l == "node1" {
				continue
			}
			all = false
			body, _ := json.Marshal(map[string]any{"placement": map[string]string{"preferred": "node1"}})
			// Bounded: a step-down is answered by the stream's leader
			// only, and one sent while the leadership moves (the nodes
			// move partitions back every second) gets no answer; asked
			// under ctx it waited out the whole 3 minutes. Unanswered,
			// the next round sends it again.
			sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
			_, _ = nc.RequestWithContext(sctx, "$JS.API.STREAM.LEADER.STEPDOWN."+stream, body)
			scancel()
		}
		if !all {
			time.Sleep(200 * time.Millisecond)
		} else {
			t.Logf("node1 led them all after %d rounds of step-downs, %v", rounds, time.Since(moving).Round(time.Second))
		}
	}
	if !all {
		t.Fatal("could not move every partition to node1")
	}
	start := time.Now()
	for {
		led := leadersPerNode(t, c)
		if slices.Max(led)-slices.Min(led) <= 1 {
			t.Logf("leaders per node %v, %v after node1 led them all", led, time.Since(start).Round(time.Second))
			return
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("leaders per node %v a minute after node1 led them all, want them even", led)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
