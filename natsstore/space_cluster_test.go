package natsstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/diskfault"
	"github.com/presenced/presenced/internal/freeport"
)

// A cluster node whose disk fills refuses nothing (a quorum of the others
// stores each write): writes through it and through another node go on
// while nats-server stops the full node's JetStream, and once space is
// freed and the node restarted it catches up from its peers.
func TestClusterNodeWithAFullDisk(t *testing.T) { inTmpfs(t, "TestClusterFullDiskHelper", 24) }

func TestClusterFullDiskHelper(t *testing.T) {
	dir := tmpfsDir(t, "TestClusterNodeWithAFullDisk")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	nodes := openClusterT(t, []string{t.TempDir(), t.TempDir(), filepath.Join(dir, "engine")})
	kv0, err := nodes[0].Partitioned(ctx, "presence")
	if err != nil {
		t.Fatal(err)
	}
	kv2, err := nodes[2].Partitioned(ctx, "presence")
	if err != nil {
		t.Fatal(err)
	}
	revs := map[string]uint64{}
	val := make([]byte, 2000)
	put := func(i int) error {
		key := fmt.Sprintf("u.t.%d", i%200)
		kv := kv0
		if i%2 == 1 {
			kv = kv2 // through the node whose disk is full, too
		}
		rev, err := kv.Put(ctx, key, val, revs[key])
		if err == nil {
			revs[key] = rev
		}
		return err
	}
	for i := range 200 {
		if err := put(i); err != nil {
			t.Fatal(err)
		}
	}
	path := diskfault.Fill(t, dir)
	// Writes go on while node 2 meets the full disk and stops its engine.
	for i := 0; i < 3000 || nodes[2].srv.JetStreamEnabled(); i++ {
		if err := put(i); err != nil {
			t.Fatalf("write %d with node 2's disk full: %v", i, err)
		}
		if i > 100000 {
			t.Fatal("node 2 never met its full disk")
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := put(i); err != nil {
			t.Fatalf("write %d after space was freed: %v", i, err)
		}
	}
	// Node 2 is restarted (its operator is told to), and catches up.
	if err := nodes[2].Close(); err != nil {
		t.Logf("closing node 2: %v", err)
	}
	o := nodes[2].opts
	if nodes[2], err = Open(ctx, o); err != nil {
		t.Fatalf("restarting node 2: %v", err)
	}
	t.Cleanup(func() { nodes[2].Close() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		// Each look bounded: the stream's leader alone answers, none
		// while node 2's return moves the leadership, and this loop asks
		// again.
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		s, err := nodes[0].js.Stream(sctx, "KV_presence")
		cancel()
		if err == nil {
			cl := s.CachedInfo().Cluster
			current := cl.Leader == "n2"
			for _, r := range cl.Replicas {
				current = current || r.Name == "n2" && r.Current && r.Lag == 0
			}
			if current {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 2 did not catch up within 60 s of its restart: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	kv2, err = nodes[2].Partitioned(ctx, "presence")
	if err != nil {
		t.Fatal(err)
	}
	got, err := kv2.GetMany(ctx, keysOf(revs))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range got {
		if e.Revision != revs[e.Key] {
			t.Fatalf("%s: revision %d on node 2, acknowledged %d", e.Key, e.Revision, revs[e.Key])
		}
	}
}

func keysOf(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// openClusterT opens a cluster node on each directory (enginetest's
// StartCluster, which natsstore's own tests cannot import).
func openClusterT(t *testing.T, dirs []string) []*Engine {
	t.Helper()
	var routes []string
	ports := freeport.Ports(t, len(dirs))
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	nodes := make([]*Engine, len(dirs))
	errs := make([]error, len(dirs))
	var wg sync.WaitGroup
	for i, d := range dirs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			nodes[i], errs[i] = Open(ctx, Options{Dir: d, ServerName: fmt.Sprintf("n%d", i), Partitions: 1,
				Cluster: &ClusterOptions{Name: "full", Listen: fmt.Sprintf("127.0.0.1:%d", ports[i]), Routes: routes}})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		t.Cleanup(func() { nodes[i].Close() })
	}
	return nodes
}
