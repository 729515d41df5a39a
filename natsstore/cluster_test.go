package natsstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/internal/nodetest"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/store"
)

// The cluster tests start real nats-servers, three nodes of one cluster in
// the test process on loopback ports (enginetest.StartCluster), and are
// bounded by clusterTimeout.

const clusterTimeout = 2 * time.Minute

func clusterCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	t.Cleanup(cancel)
	return ctx
}

func startCluster(t *testing.T, o natsstore.Options) *enginetest.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	return enginetest.StartCluster(t, 3, o)
}

// streamOf is stream's info as e's JetStream answers it, asked again when
// unanswered (nodetest.Ask): nats-server answers a stream's info only from
// its leader, and while the leadership moves (a step-down, an election, a
// new leader that has not yet caught up) nothing answers; asked once, the
// request waited out the test's whole context.
func streamOf(ctx context.Context, t *testing.T, e *natsstore.Engine, stream string) (jetstream.Stream, error) {
	return nodetest.Ask(ctx, t, stream+"'s info", func(ctx context.Context) (jetstream.Stream, error) {
		return e.JetStream().Stream(ctx, stream)
	})
}

// userKey is a presence key of a user numbered i of tenant t.
func userKey(t, i int) string {
	return fmt.Sprintf("u.%08x-0000-4000-8000-000000000000.%08x-1111-4111-8111-111111111111", t, i)
}

func partitioned(t *testing.T, e *natsstore.Engine) store.KV {
	t.Helper()
	kv, err := e.Partitioned(clusterCtx(t), "presence")
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// One cluster (three partitions) for the checks that stop no node, run in
// this order, each with keys of its own (the first counts what its
// partitions hold, before the others write).
func TestClusterReadsAndWrites(t *testing.T) {
	c := startCluster(t, natsstore.Options{Partitions: 3})
	for _, tc := range []struct {
		name string
		run  func(*testing.T, *enginetest.Cluster)
	}{
		{"partitioned puts are read on every node", partitionedPutsAreReadOnEveryNode},
		{"get is never stale", getIsNeverStale},
		{"watch sees every node's writes in order", watchSeesEveryNodesWritesInOrder},
		{"append after appends once", appendAfterAppendsOnce},
		{"sequential writes never conflict", sequentialWritesNeverConflict},
		{"external mode", externalMode},
		{"walk is served by the leader", walkIsServedByTheLeader},
		{"walk passes a key rewritten twice", walkPassesAKeyRewrittenTwice},
		{"one uncompressed route to each peer", oneRouteToEachPeer},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, c) })
	}
}

func partitionedPutsAreReadOnEveryNode(t *testing.T, c *enginetest.Cluster) {
	ctx := clusterCtx(t)
	a, b := partitioned(t, c.Node(0)), partitioned(t, c.Node(1))

	const n = 60
	keys := make([]string, n)
	revs := map[string]uint64{}
	for i := range keys {
		keys[i] = userKey(1, i)
		rev, err := a.Put(ctx, keys[i], []byte(keys[i]), 0)
		if err != nil {
			t.Fatalf("put %s on node 0: %v", keys[i], err)
		}
		revs[keys[i]] = rev
	}
	// Get reads the stream leader: every write acknowledged on node 0 is
	// there on node 1, at once.
	for _, k := range keys {
		e, err := b.Get(ctx, k)
		if err != nil || string(e.Value) != k || e.Revision != revs[k] {
			t.Fatalf("node 1 get %s = %q rev %d, %v; want rev %d", k, e.Value, e.Revision, err, revs[k])
		}
	}
	// GetMany may be answered by a follower a few milliseconds behind.
	waitFor(t, "node 2's GetMany to hold every write", func() error {
		got, err := partitioned(t, c.Node(2)).GetMany(ctx, keys)
		if err != nil {
			return err
		}
		for i, e := range got {
			if e.Revision != revs[keys[i]] || string(e.Value) != keys[i] {
				return fmt.Errorf("%s: rev %d, want %d", keys[i], e.Revision, revs[keys[i]])
			}
		}
		return nil
	})
	listed, err := b.Keys(ctx, "u.")
	if err != nil || len(listed) != n || !slices.IsSorted(listed) {
		t.Fatalf("node 1 keys: %d keys, sorted %v, %v", len(listed), slices.IsSorted(listed), err)
	}
	walked := 0
	if err := b.Walk(ctx, "u.", func(store.Entry) error { walked++; return nil }); err != nil || walked != n {
		t.Fatalf("node 1 walked %d of %d: %v", walked, n, err)
	}

	// Each partition is its own replicated bucket, and holds its users.
	states, err := c.Node(2).Streams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]uint64{}
	for _, s := range states {
		per[s.Name] = s.Msgs
	}
	for i := range 3 {
		want := 0
		for _, k := range keys {
			if natsstore.PartitionOf(k, 3) == i {
				want++
			}
		}
		name := fmt.Sprintf("KV_presence-%d", i)
		if per[name] != uint64(want) || want == 0 {
			t.Errorf("%s holds %d messages, want %d (of %d users)", name, per[name], want, n)
		}
	}
	if _, ok := per["KV_presence"]; ok {
		t.Error("a partitioned engine has the single bucket KV_presence too")
	}
	for _, name := range []string{"KV_presence-0", "KV_meta"} {
		s, err := streamOf(ctx, t, c.Node(0), name)
		if err != nil {
			t.Fatal(err)
		}
		if r := s.CachedInfo().Config.Replicas; r != 3 {
			t.Errorf("%s has %d replicas, want 3", name, r)
		}
	}
}

// oneRouteToEachPeer: each node links to each other by one route, which
// carries every account's traffic, uncompressed (embedded.go's
// routePoolSize; nats-server's default is a pool of three a peer and one
// more for its system account).
func oneRouteToEachPeer(t *testing.T, c *enginetest.Cluster) {
	for i := range c.Len() {
		waitFor(t, fmt.Sprintf("node %d's routes", i), func() error {
			peers, modes := natsstore.Routes(c.Node(i))
			if len(peers) != c.Len()-1 {
				return fmt.Errorf("routes to %d peers, want %d", len(peers), c.Len()-1)
			}
			for p, n := range peers {
				if n != 1 {
					return fmt.Errorf("%d routes to %s, want 1 (to each peer: %v)", n, p, peers)
				}
			}
			if modes["off"] != len(peers) {
				return fmt.Errorf("route compression %v, want off", modes)
			}
			return nil
		})
	}
}

// waitFor polls cond until it returns nil, for at most 10 s.
func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func getIsNeverStale(t *testing.T, c *enginetest.Cluster) {
	ctx := clusterCtx(t)
	kvs := []store.KV{partitioned(t, c.Node(0)), partitioned(t, c.Node(1)), partitioned(t, c.Node(2))}
	// A write through one node, then a read through each of the others:
	// each read must see it, whichever replica is behind.
	var rev uint64
	for i := range 300 {
		w := kvs[i%3]
		var err error
		if rev, err = w.Put(ctx, "u.t.x", fmt.Appendf(nil, "v%d", i), rev); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		for j := 1; j <= 2; j++ {
			got, err := kvs[(i+j)%3].Get(ctx, "u.t.x")
			if err != nil || got.Revision != rev {
				t.Fatalf("write %d through node %d at revision %d; node %d read revision %d (%q), %v", i, i%3, rev, (i+j)%3, got.Revision, got.Value, err)
			}
		}
	}
}

func watchSeesEveryNodesWritesInOrder(t *testing.T, c *enginetest.Cluster) {
	ctx := clusterCtx(t)
	a, b := partitioned(t, c.Node(0)), partitioned(t, c.Node(1))
	// Written before the watch: not delivered.
	if _, err := a.Put(ctx, userKey(2, 999), []byte("before"), 0); err != nil {
		t.Fatal(err)
	}
	w, err := b.Watch(ctx, "u.")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	// Node 0 writes each of 20 users five times and deletes every fourth;
	// node 2 writes a key outside the prefix.
	type change struct {
		rev     uint64
		value   string
		deleted bool
	}
	want := map[string][]change{}
	for round := range 5 {
		for i := range 20 {
			k := userKey(2, i)
			h := want[k]
			var expect uint64
			if len(h) > 0 {
				expect = h[len(h)-1].rev
			}
			v := fmt.Sprintf("%d/%d", i, round)
			rev, err := a.Put(ctx, k, []byte(v), expect)
			if err != nil {
				t.Fatal(err)
			}
			want[k] = append(h, change{rev: rev, value: v})
		}
	}
	for i := 0; i < 20; i += 4 {
		k := userKey(2, i)
		if err := a.Delete(ctx, k, want[k][len(want[k])-1].rev); err != nil {
			t.Fatal(err)
		}
		want[k] = append(want[k], change{deleted: true})
	}
	if _, err := partitioned(t, c.Node(2)).Put(ctx, "x.other", []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	// A bucket keeps one revision per key: a watcher that falls behind
	// skips revisions already replaced, and always ends on each key's
	// latest. So each key's changes are some of its writes, in order, the
	// last one last.
	done := func(k string, g []change) bool {
		h := want[k]
		last, final := g[len(g)-1:], h[len(h)-1]
		return len(last) == 1 && last[0].deleted == final.deleted && (final.deleted || last[0].rev == final.rev)
	}
	got := map[string][]change{}
	for finished := 0; finished < len(want); {
		nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ch, err := w.Next(nctx)
		cancel()
		if err != nil {
			t.Fatalf("after %d changes: %v (got %v)", len(got), err, got)
		}
		g := append(got[ch.Key], change{rev: ch.Revision, value: string(ch.Value), deleted: ch.Deleted})
		if _, ok := want[ch.Key]; !ok || len(got[ch.Key]) > 0 && done(ch.Key, got[ch.Key]) {
			t.Fatalf("unexpected change %+v", ch)
		}
		got[ch.Key] = g
		if done(ch.Key, g) {
			finished++
		}
	}
	for k, g := range got {
		h, j := want[k], 0
		for i, c := range g {
			for j < len(h) && (h[j].deleted != c.deleted || !c.deleted && (h[j].rev != c.rev || h[j].value != c.value)) {
				j++
			}
			if j == len(h) {
				t.Fatalf("%s: change %d %+v is not one of its writes, in order: %v", k, i, c, h)
			}
			if i > 0 && c.rev <= g[i-1].rev {
				t.Fatalf("%s: revision %d after %d", k, c.rev, g[i-1].rev)
			}
			j++
		}
	}
	// A watcher that keeps up sees every change.
	k := userKey(2, 1)
	rev := want[k][len(want[k])-1].rev
	for i := range 10 {
		var err error
		if rev, err = partitioned(t, c.Node(2)).Put(ctx, k, fmt.Appendf(nil, "again %d", i), rev); err != nil {
			t.Fatal(err)
		}
		nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ch, err := w.Next(nctx)
		cancel()
		if err != nil || ch.Key != k || ch.Revision != rev {
			t.Fatalf("change %d through node 2: %+v, %v; want revision %d", i, ch, err, rev)
		}
	}
	// Nothing else: not the write from before the watch, not the key
	// outside the prefix.
	nctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if ch, err := w.Next(nctx); err == nil {
		t.Fatalf("unexpected change %+v", ch)
	}
}

func appendAfterAppendsOnce(t *testing.T, c *enginetest.Cluster) {
	ctx := clusterCtx(t)
	logs := changeLogs(t, ctx, c)
	const subject = "chg.t.u"
	first, err := logs[0].Append(ctx, subject, []byte("change 1"))
	if err != nil {
		t.Fatal(err)
	}
	// Every node saw the same time-caused change and appends it after the
	// last record it read: exactly one succeeds, in each of 10 rounds.
	last := first
	for round := range 10 {
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			ok, confl int
			seq       uint64
		)
		data := fmt.Appendf(nil, "change %d", round+2)
		for _, l := range logs {
			wg.Go(func() {
				s, err := l.AppendAfter(ctx, subject, last, data)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
					seq = s
				case errors.Is(err, store.ErrConflict):
					confl++
				default:
					t.Errorf("append after %d: %v", last, err)
				}
			})
		}
		wg.Wait()
		if ok != 1 || confl != 2 {
			t.Fatalf("round %d: %d appended, %d conflicts; want 1 and 2", round, ok, confl)
		}
		r, err := logs[1].Last(ctx, subject)
		if err != nil || r.Seq != seq || string(r.Data) != string(data) {
			t.Fatalf("round %d: last %d %q, %v; want %d %q", round, r.Seq, r.Data, err, seq, data)
		}
		last = seq
	}
	n := 0
	if err := logs[2].Read(ctx, []string{subject}, 1, last, func(store.Record) error { n++; return nil }); err != nil || n != 11 {
		t.Fatalf("the log holds %d records, %v; want 11", n, err)
	}
	// AppendAfter 0: only when the subject has no record.
	if _, err := logs[0].AppendAfter(ctx, subject, 0, []byte("x")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("append after 0 on a subject with records: %v", err)
	}
	if _, err := logs[0].AppendAfter(ctx, "chg.t.new", 0, []byte("x")); err != nil {
		t.Fatalf("append after 0 on a new subject: %v", err)
	}
}

// One writer per key, each write expecting the revision of its previous
// one, never meets a conflict. (nats-server 2.15 refuses a conditional
// write whose subject has a write still in flight with "wrong last
// sequence" 10164, also right after the acknowledgement of the previous
// one; that is retried, not reported as a conflict.)
func sequentialWritesNeverConflict(t *testing.T, c *enginetest.Cluster) {
	ctx := clusterCtx(t)
	kv := partitioned(t, c.Node(1))
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			k := userKey(6, w)
			var rev uint64
			for i := range 400 {
				r, err := kv.Put(ctx, k, fmt.Appendf(nil, "%d", i), rev)
				if err != nil {
					t.Errorf("writer %d, write %d expecting %d: %v", w, i, rev, err)
					return
				}
				rev = r
			}
		})
	}
	wg.Wait()
}

// changeLogs opens the CHANGES log through each of the cluster's three nodes.
func changeLogs(t *testing.T, ctx context.Context, c *enginetest.Cluster) []store.Log {
	t.Helper()
	logs := make([]store.Log, 3)
	for i := range logs {
		l, err := c.Node(i).Log(ctx, "CHANGES", natsstore.LogOptions{Subjects: []string{"chg.>"}, MaxAge: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		logs[i] = l
	}
	return logs
}
