package natsstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/store"
)

// A bucket's last revision (the directory reads it at every start) and its
// stream's position (the core's follower reads it at every start) are
// answered while the bucket's stream leadership moves from node to node:
// a stream's info is answered by its leader only, and a request that
// reached none waited for the caller's whole deadline (a cluster node's
// start failed so after 60 s: "directory: natsstore: last revision of
// directory: context deadline exceeded", in
// TestClusterStreamResumesOnAnotherNode under a loaded -race run).
func TestClusterBucketStateWhileItsLeaderMoves(t *testing.T) {
	t.Parallel()
	c := startCluster(t, natsstore.Options{Partitions: 1})
	ctx := clusterCtx(t)
	kvs := make([]store.KV, 3)
	for i := range kvs {
		kv, err := c.Node(i).Bucket(ctx, "directory")
		if err != nil {
			t.Fatal(err)
		}
		kvs[i] = kv
	}
	moves, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; moves.Err() == nil; i++ {
			rctx, cancel := context.WithTimeout(moves, 2*time.Second)
			_, _ = c.Node(i%3).Conn().RequestWithContext(rctx, "$JS.API.STREAM.LEADER.STEPDOWN.KV_directory", nil)
			cancel()
			time.Sleep(300 * time.Millisecond)
		}
	})
	defer wg.Wait()
	defer stop()
	var rev uint64
	for i := range 60 {
		var err error
		rev, err = kvs[i%3].Put(ctx, "k", []byte{byte(i)}, rev)
		if err != nil {
			t.Fatal(err)
		}
		// Within 10 s each, an election included (4–9 s at worst).
		r := kvs[(i+1)%3]
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		last, err := r.(store.SerialKV).LastRevision(qctx)
		cancel()
		if err != nil || last < rev {
			t.Fatalf("round %d: the bucket's last revision through node %d: %d, %v; want %d or more", i, (i+1)%3, last, err, rev)
		}
		qctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		ps, err := r.(store.Resumable).Positions(qctx)
		cancel()
		if err != nil || len(ps) != 1 || ps[0].Seq < rev || ps[0].Stream != "KV_directory" || ps[0].Created == 0 {
			t.Fatalf("round %d: the bucket's position through node %d: %+v, %v; want KV_directory at %d or more", i, (i+1)%3, ps, err, rev)
		}
	}
}
