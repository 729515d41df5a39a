package natsstore_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/store"
)

// A node restarted while the others write follows every write made after
// its watch started: its cache (a Watch, then a Walk, newer revision per
// key kept, as core does) ends on every key's last acknowledged value.
func TestRestartedNodeFollowsEveryWrite(t *testing.T) {
	c := startCluster(t, natsstore.Options{Partitions: 6})
	ctx := clusterCtx(t)
	const keys = 300
	key := func(i int) string { return userKey(7, i) }

	var (
		mu   sync.Mutex
		acks = map[string]uint64{} // the last acknowledged revision of each key
	)
	write := func(kv store.KV, i, n int) {
		k := key(i)
		rev, err := kv.Put(ctx, k, []byte(strconv.Itoa(n)), 0)
		if err != nil {
			return // not acknowledged
		}
		mu.Lock()
		if rev > acks[k] {
			acks[k] = rev
		}
		mu.Unlock()
	}
	writers := func(stop <-chan struct{}, nodes ...int) *sync.WaitGroup {
		var wg sync.WaitGroup
		for _, n := range nodes {
			kv := partitioned(t, c.Node(n))
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					write(kv, (i*7+n*131)%keys, i)
				}
			})
		}
		return &wg
	}

	for round := range 3 {
		victim := round % 3
		others := []int{(victim + 1) % 3, (victim + 2) % 3}
		stop := make(chan struct{})
		wg := writers(stop, others...)
		time.Sleep(500 * time.Millisecond)
		c.Stop(victim)
		time.Sleep(time.Second)
		c.Restart(victim)
		kv := partitioned(t, c.Node(victim))
		held := map[string]uint64{}
		var hmu sync.Mutex
		keep := func(k string, rev uint64) {
			hmu.Lock()
			if rev > held[k] {
				held[k] = rev
			}
			hmu.Unlock()
		}
		wctx, cancel := context.WithCancel(ctx)
		w, err := kv.Watch(wctx, "u.")
		if err != nil {
			t.Fatal(err)
		}
		var fwg sync.WaitGroup
		fwg.Go(func() {
			for {
				ch, err := w.Next(wctx)
				if err != nil {
					return
				}
				keep(ch.Key, ch.Revision)
			}
		})
		walkCtx, walkCancel := context.WithTimeout(ctx, 30*time.Second)
		err = kv.Walk(walkCtx, "u.", func(e store.Entry) error { keep(e.Key, e.Revision); return nil })
		walkCancel()
		if err != nil {
			t.Errorf("round %d: walk on restarted node %d: %v", round, victim, err)
			describe(t, c, victim)
		}
		time.Sleep(2 * time.Second)
		close(stop)
		wg.Wait()
		// Every acknowledged write reaches the restarted node.
		deadline := time.Now().Add(10 * time.Second)
		var behind []string
		for {
			behind = behind[:0]
			mu.Lock()
			hmu.Lock()
			for k, rev := range acks {
				if held[k] < rev {
					behind = append(behind, fmt.Sprintf("%s: %d<%d", k[len(k)-12:], held[k], rev))
				}
			}
			hmu.Unlock()
			mu.Unlock()
			if len(behind) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if len(behind) > 0 {
			t.Errorf("round %d: restarted node %d is behind on %d keys, e.g. %v", round, victim, len(behind), behind[:min(5, len(behind))])
			describe(t, c, victim)
		}
		cancel()
		w.Stop()
		fwg.Wait()
	}
}

// describe logs where each partition's consumers are served and how its
// replicas stand.
func describe(t *testing.T, c interface {
	Node(int) *natsstore.Engine
}, from int) {
	ctx := context.Background()
	js := c.Node(from).JetStream()
	for p := range 6 {
		s, err := js.Stream(ctx, fmt.Sprintf("KV_presence-%d", p))
		if err != nil {
			t.Logf("partition %d: %v", p, err)
			continue
		}
		si := s.CachedInfo()
		reps := ""
		for _, r := range si.Cluster.Replicas {
			reps += fmt.Sprintf(" %s(current=%v lag=%d)", r.Name, r.Current, r.Lag)
		}
		t.Logf("partition %d: leader %s, last %d;%s", p, si.Cluster.Leader, si.State.LastSeq, reps)
		for ci := range s.ListConsumers(ctx).Info() {
			t.Logf("  consumer %s on %v: delivered %d pending %d", ci.Name, ci.Cluster.Leader, ci.Delivered.Stream, ci.NumPending)
		}
	}
}

// A watch whose consumer's server stops goes on with a new consumer: a
// watch waits for changes a bounded time at a time, which keeps nats.go
// from noticing the lost heartbeats, so the watch itself makes it again.
// A node's watch reads its own replica (home.go), which stops only with
// the node; its consumer is on another server when its replica is not
// current or an attempt failed (then on the leader): placed so here.
func TestWatchOutlivesItsConsumersServer(t *testing.T) {
	natsstore.WatchOnLeader(true)
	defer natsstore.WatchOnLeader(false)
	c := startCluster(t, natsstore.Options{Partitions: 1})
	ctx := clusterCtx(t)
	kv, err := c.Node(0).Bucket(ctx, "watchdeath")
	if err != nil {
		t.Fatal(err)
	}
	rev1, err := kv.Put(ctx, "u.a.b", []byte("1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := streamOf(ctx, t, c.Node(0), "KV_watchdeath")
	if err != nil {
		t.Fatal(err)
	}
	var leader int
	fmt.Sscanf(s.CachedInfo().Cluster.Leader, "n%d", &leader)
	watcher, writer := (leader+1)%3, (leader+2)%3
	wkv, err := c.Node(watcher).Bucket(ctx, "watchdeath")
	if err != nil {
		t.Fatal(err)
	}
	w, err := wkv.Watch(ctx, "u.") // its consumer is on the leader
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	c.Stop(leader)
	akv, err := c.Node(writer).Bucket(ctx, "watchdeath")
	if err != nil {
		t.Fatal(err)
	}
	rev, err := akv.Put(ctx, "u.a.b", []byte("2"), rev1)
	if err != nil {
		t.Fatal(err)
	}
	nctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		ch, err := w.Next(nctx)
		if err != nil {
			t.Fatalf("the watch did not deliver the write made after its consumer's server stopped: %v", err)
		}
		if ch.Revision >= rev {
			return
		}
	}
}
