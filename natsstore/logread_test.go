package natsstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/store"
)

// A read through any node returns every record up to the position it was
// given — the leader's — even when the consumer serving it is placed on a
// replica that has not stored them all yet. Each round appends a record
// of x through one node, while another node writes other subjects without
// pause (so replicas trail), then reads x's records through the next node
// up to it. Before, a read stopped where its consumer's replica ended and
// returned short, without an error, in some rounds of every run.
func TestClusterReadIsComplete(t *testing.T) {
	t.Parallel()
	c := startCluster(t, natsstore.Options{Partitions: 1})
	ctx := clusterCtx(t)
	logs := changeLogs(t, ctx, c)
	noise, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; noise.Err() == nil; i++ {
			_, _ = logs[2].Append(noise, fmt.Sprintf("chg.t.n%d", i%50), []byte("noise"))
		}
	})
	defer wg.Wait()
	defer stop()

	const rounds = 60
	var xs []uint64
	for i := range rounds {
		seq, err := logs[i%3].Append(ctx, "chg.t.x", fmt.Appendf(nil, "x%d", i))
		if err != nil {
			t.Fatal(err)
		}
		xs = append(xs, seq)
		r := logs[(i+1)%3]
		var got []uint64
		if err := r.Read(ctx, []string{"chg.t.x"}, 1, seq, func(rec store.Record) error {
			got = append(got, rec.Seq)
			return nil
		}); err != nil {
			t.Fatalf("round %d: read through node %d up to %d: %v", i, (i+1)%3, seq, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(xs) {
			t.Fatalf("round %d: read through node %d up to %d: %d of %d records (last %v), want all", i, (i+1)%3, seq, len(got), len(xs), got[max(0, len(got)-3):])
		}
		// A read that ends at another subject's record (a noise one
		// logged since) also returns all of x's.
		last, err := r.LastSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		if err := r.Read(ctx, []string{"chg.t.x"}, xs[0], last, func(rec store.Record) error {
			got = append(got, rec.Seq)
			return nil
		}); err != nil || fmt.Sprint(got) != fmt.Sprint(xs) {
			t.Fatalf("round %d: read up to %d (not x's): %d of %d records, %v", i, last, len(got), len(xs), err)
		}
	}
}

// LastMany up to a position, through any node, answers as the leader
// would, though the direct gets are answered by the node's own copy of
// the log, which may trail: each round writes x through one node, and
// asks another for the last of x (and of y, written once before) up to
// it, while a third node writes other subjects without pause.
func TestClusterLastManyWaitsForTheLeadersPosition(t *testing.T) {
	t.Parallel()
	c := startCluster(t, natsstore.Options{Partitions: 1})
	ctx := clusterCtx(t)
	logs := changeLogs(t, ctx, c)
	y, err := logs[0].Append(ctx, "chg.t.y", []byte("y"))
	if err != nil {
		t.Fatal(err)
	}
	noise, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; noise.Err() == nil; i++ {
			_, _ = logs[2].Append(noise, fmt.Sprintf("chg.t.n%d", i%50), []byte("noise"))
		}
	})
	defer wg.Wait()
	defer stop()
	for i := range 200 {
		seq, err := logs[i%3].Append(ctx, "chg.t.x", fmt.Appendf(nil, "x%d", i))
		if err != nil {
			t.Fatal(err)
		}
		rs, err := logs[(i+1)%3].LastMany(ctx, []string{"chg.t.x", "chg.t.y"}, seq)
		if err != nil {
			t.Fatalf("round %d: last of x and y through node %d up to %d: %v", i, (i+1)%3, seq, err)
		}
		if rs[0].Seq != seq || rs[1].Seq != y {
			t.Fatalf("round %d: last of x and y through node %d up to %d: %d and %d, want %d and %d", i, (i+1)%3, seq, rs[0].Seq, rs[1].Seq, seq, y)
		}
	}
}

// The log's state (LastSeq) is answered while its leadership moves from
// node to node (as the coordinator draws CHANGES to itself when nodes
// start): a stream's info is answered by its leader only, and a request
// that reached none waited for the caller's whole deadline (a node's
// start failed so: "state of CHANGES: context deadline exceeded").
func TestClusterLogStateWhileItsLeaderMoves(t *testing.T) {
	t.Parallel()
	c := startCluster(t, natsstore.Options{Partitions: 1})
	ctx := clusterCtx(t)
	logs := changeLogs(t, ctx, c)
	moves, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; moves.Err() == nil; i++ {
			rctx, cancel := context.WithTimeout(moves, 2*time.Second)
			_, _ = c.Node(i%3).Conn().RequestWithContext(rctx, "$JS.API.STREAM.LEADER.STEPDOWN.CHANGES", nil)
			cancel()
			time.Sleep(300 * time.Millisecond)
		}
	})
	defer wg.Wait()
	defer stop()
	for i := range 60 {
		seq, err := logs[i%3].Append(ctx, "chg.t.x", []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		// Within 10 s, an election included (4–9 s at worst).
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		last, err := logs[(i+1)%3].LastSeq(qctx)
		cancel()
		if err != nil || last < seq {
			t.Fatalf("round %d: the log's last position through node %d: %d, %v; want %d or more", i, (i+1)%3, last, err, seq)
		}
	}
}
