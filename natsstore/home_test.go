package natsstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/presenced/presenced/natsstore"
)

// A node's watch reads its own replica of each partition (home.go), not
// the partition's leader: with every partition led by n0, the watch of
// n1 delivers what n0 writes, and each of its consumers is on n1's
// server. (Placed on the leader, as before, they were all on n0.)
func TestClusterWatchReadsItsOwnReplica(t *testing.T) {
	const parts = 3
	c := startCluster(t, natsstore.Options{Partitions: parts})
	ctx := clusterCtx(t)
	writer, reader := partitioned(t, c.Node(0)), partitioned(t, c.Node(1))
	for p := range parts {
		moveLeader(t, ctx, c.Node(0), fmt.Sprintf("KV_presence-%d", p), "n0")
	}
	w, err := reader.Watch(ctx, "u.")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	const users = 30
	revs := map[string]uint64{}
	for i := range users {
		k := userKey(7, i)
		rev, err := writer.Put(ctx, k, fmt.Appendf(nil, "v%d", i), 0)
		if err != nil {
			t.Fatal(err)
		}
		revs[k] = rev
	}
	for n := 0; n < users; n++ {
		nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ch, err := w.Next(nctx)
		cancel()
		if err != nil {
			t.Fatalf("after %d changes: %v", n, err)
		}
		if revs[ch.Key] != ch.Revision {
			t.Fatalf("change %+v: want revision %d", ch, revs[ch.Key])
		}
	}
	for p := range parts {
		stream := fmt.Sprintf("KV_presence-%d", p)
		s, err := c.Node(0).JetStream().Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		if l := s.CachedInfo().Cluster.Leader; l != "n0" {
			t.Fatalf("%s is led by %s, not n0: the test needs a leader elsewhere than the watch's node", stream, l)
		}
		n := 0
		cs := s.ListConsumers(ctx)
		for ci := range cs.Info() {
			n++
			if ci.Cluster == nil {
				t.Errorf("%s: the watch's consumer %s has no cluster information", stream, ci.Name)
			} else if ci.Cluster.Leader != "n1" {
				t.Errorf("%s: the watch's consumer %s is served by %s, not by n1, the watch's own node", stream, ci.Name, ci.Cluster.Leader)
			}
		}
		if err := cs.Err(); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%s: %d consumers, want the watch's one", stream, n)
		}
	}
}
