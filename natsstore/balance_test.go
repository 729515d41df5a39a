package natsstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/store"
)

// leadersOf counts the partitions of the presence bucket each node leads,
// as node i's JetStream reports them. It is asked right after hand-overs,
// while a partition may have no leader that answers: each stream's info is
// asked again when unanswered (streamOf).
func leadersOf(t *testing.T, c *enginetest.Cluster, i, partitions int) map[string]int {
	t.Helper()
	led := map[string]int{}
	for p := range partitions {
		name := fmt.Sprintf("KV_presence-%d", p)
		s, err := streamOf(clusterCtx(t), t, c.Node(i), name)
		if err != nil {
			t.Fatal(err)
		}
		if cl := s.CachedInfo().Cluster; cl != nil && cl.Leader != "" {
			led[cl.Leader]++
		}
	}
	return led
}

// spread is the most partitions a node leads less the fewest (of the
// cluster's n nodes).
func spread(led map[string]int, n int) int {
	var counts []int
	for _, v := range led {
		counts = append(counts, v)
	}
	for len(counts) < n {
		counts = append(counts, 0)
	}
	return slices.Max(counts) - slices.Min(counts)
}

// Every partition led by one node, each node calling BalanceLeaders from
// time to time: the leaders even out (no node leads two more than
// another), one hand-over a call, and then nothing moves; the partitions
// take writes throughout.
func TestBalanceLeadersEvensOutThePartitions(t *testing.T) {
	const partitions = 6
	c := startCluster(t, natsstore.Options{Replicas: 3, Partitions: partitions})
	ctx := clusterCtx(t)
	var kvs []store.KV
	for i := range c.Len() {
		kvs = append(kvs, partitioned(t, c.Node(i)))
	}
	// Every partition to n0: a step-down naming it, from whichever node
	// leads it now.
	// leaderOf asks again when unanswered (streamOf): it follows step-downs.
	leaderOf := func(stream string) string {
		st, err := streamOf(ctx, t, c.Node(0), stream)
		if err != nil || st.CachedInfo().Cluster == nil {
			return ""
		}
		return st.CachedInfo().Cluster.Leader
	}
	for p := range partitions {
		stream := fmt.Sprintf("KV_presence-%d", p)
		waitUntil(t, "n0 leads "+stream, func() bool {
			if leaderOf(stream) == "n0" {
				return true
			}
			body, _ := json.Marshal(map[string]any{"placement": map[string]string{"preferred": "n0"}})
			// Bounded: only the leader answers a step-down, and this
			// loop asks again.
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			resp, err := c.Node(0).Conn().RequestWithContext(sctx, "$JS.API.STREAM.LEADER.STEPDOWN."+stream, body)
			cancel()
			switch {
			case err != nil:
				t.Logf("step down %s to n0: %v", stream, err)
			case !strings.Contains(string(resp.Data), `"success":true`):
				t.Logf("step down %s to n0: %s", stream, resp.Data)
			}
			time.Sleep(300 * time.Millisecond)
			return leaderOf(stream) == "n0"
		})
	}
	if led := leadersOf(t, c, 0, partitions); led["n0"] != partitions {
		t.Fatalf("setting up: leaders %v, want all on n0", led)
	}
	moves := 0
	waitUntil(t, "the leaders even out", func() bool {
		for i := range c.Len() {
			moved, err := c.Node(i).BalanceLeaders(ctx, "presence")
			if err != nil {
				t.Logf("node %d: %v", i, err)
			}
			if moved != "" {
				moves++
				time.Sleep(300 * time.Millisecond) // the new leader's election
			}
		}
		return spread(leadersOf(t, c, 0, partitions), c.Len()) <= 1
	})
	if moves < 2 || moves > partitions {
		t.Errorf("%d hand-overs to even 6/0/0 out, want 4 (2 at least, never more than the partitions)", moves)
	}
	// Even now: nothing moves.
	for i := range c.Len() {
		if moved, err := c.Node(i).BalanceLeaders(ctx, "presence"); moved != "" || err != nil {
			t.Errorf("node %d, balanced already (%v): moved %q, %v", i, leadersOf(t, c, 0, partitions), moved, err)
		}
	}
	// Every node writes to every partition.
	for i, kv := range kvs {
		for k := range 30 {
			if _, err := kv.Put(ctx, userKey(9, 100*i+k), []byte("x"), 0); err != nil {
				t.Fatalf("node %d, after the hand-overs: %v", i, err)
			}
		}
	}
	t.Logf("leaders %v after %d hand-overs", leadersOf(t, c, 0, partitions), moves)
}

// waitUntil polls cond until it holds, failing after clusterTimeout/2.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(clusterTimeout / 2)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, clusterTimeout/2)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
