package natsstore_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/store"
)

// Without a quorum nothing can be stored: a write fails within the
// engine's WriteWait with store.ErrUnavailable (core answers 503 with
// Retry-After), never hangs; once the last leader has stepped down, so
// does a Get, which never answers from a replica that may be behind;
// GetMany, documented as possibly behind, answers from this node's copy.
func TestClusterWithoutQuorumFailsWithinTheBound(t *testing.T) {
	const wait = 2 * time.Second
	c := startCluster(t, natsstore.Options{Partitions: 1, WriteWait: wait})
	ctx := clusterCtx(t)
	kv := partitioned(t, c.Node(0))
	rev, err := kv.Put(ctx, "u.t.a", []byte("stored"), 0)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	c.Stop(1)
	c.Stop(2)
	t.Logf("two nodes stopped in %v", time.Since(t0))

	start := time.Now()
	_, err = kv.Put(ctx, "u.t.a", []byte("not stored"), rev)
	took := time.Since(start)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("write without quorum: %v; want store.ErrUnavailable", err)
	}
	if took > wait+3*time.Second {
		t.Fatalf("write without quorum failed after %v; the bound is %v", took, wait)
	}
	t.Logf("write without quorum failed after %v: %v", took.Round(time.Millisecond), err)

	// A leader that lost its quorum steps down within 10 s
	// (nats-server's lostQuorumInterval); until then it answers reads of
	// what it has, which nobody can have changed.
	deadline := time.Now().Add(30 * time.Second)
	for c.Node(0).Ready(ctx) == nil {
		if time.Now().After(deadline) {
			t.Fatal("the engine still reports ready 30 s after losing its quorum")
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("not ready after %v", time.Since(t0))
	for {
		start = time.Now()
		_, err = kv.Get(ctx, "u.t.a")
		if err != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if took := time.Since(start); !errors.Is(err, store.ErrUnavailable) || took > wait+3*time.Second {
		t.Fatalf("get without a leader: %v after %v; want store.ErrUnavailable within %v", err, took, wait)
	}
	got, err := kv.GetMany(ctx, []string{"u.t.a"})
	if err != nil || got[0].Revision != rev {
		t.Fatalf("GetMany without a leader: %+v, %v; want this node's copy at revision %d", got, err, rev)
	}

	// Back to a quorum: writes go through again. The write that failed
	// may have been stored all the same (its outcome was unknown: the
	// leader had proposed it, and the quorum back commits it).
	c.Restart(1)
	cur, err := kv.Get(ctx, "u.t.a")
	if err != nil || cur.Revision < rev {
		t.Fatalf("get with the quorum back: %+v, %v", cur, err)
	}
	t.Logf("with the quorum back the key holds %q", cur.Value)
	if _, err := kv.Put(ctx, "u.t.a", []byte("stored again"), cur.Revision); err != nil {
		t.Fatalf("write with the quorum back: %v", err)
	}
	if err := c.Node(0).Ready(ctx); err != nil {
		t.Fatalf("ready with the quorum back: %v", err)
	}
}

// A graceful stop of a node that leads streams hands them over first:
// writes through the other nodes all succeed, pausing for the hand-over.
func TestClusterGracefulStopHandsLeadershipOver(t *testing.T) {
	c := startCluster(t, natsstore.Options{Partitions: 3})
	ctx := clusterCtx(t)
	kv := partitioned(t, c.Node(0))
	// The node to stop: one of the others that leads a partition.
	leader := map[string]int{}
	for i := range 3 {
		s, err := c.Node(0).JetStream().Stream(ctx, fmt.Sprintf("KV_presence-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		leader[s.CachedInfo().Cluster.Leader]++
	}
	victim := -1
	for i := 1; i < 3; i++ {
		if leader[c.Options(i).ServerName] > 0 {
			victim = i
		}
	}
	if victim < 0 {
		t.Skipf("node 0 leads every partition (%v): nothing to hand over from another node", leader)
	}

	var (
		mu     sync.Mutex
		ok     []time.Time
		errs   []error
		stop   = make(chan struct{})
		writes sync.WaitGroup
	)
	for w := range 8 {
		writes.Go(func() {
			k := userKey(3, w)
			var rev uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := kv.Put(ctx, k, []byte("v"), rev)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					rev = r
					ok = append(ok, time.Now())
				}
				mu.Unlock()
				if err != nil {
					if e, gerr := kv.Get(ctx, k); gerr == nil {
						rev = e.Revision
					}
				}
			}
		})
	}
	time.Sleep(time.Second)
	stopped := time.Now()
	c.Stop(victim)
	took := time.Since(stopped)
	time.Sleep(time.Second)
	close(stop)
	writes.Wait()

	if len(errs) > 0 {
		t.Fatalf("%d writes failed during the graceful stop, the first: %v", len(errs), errs[0])
	}
	var gap time.Duration
	for i := 1; i < len(ok); i++ {
		if ok[i].After(stopped) || ok[i-1].After(stopped) {
			gap = max(gap, ok[i].Sub(ok[i-1]))
		}
	}
	t.Logf("graceful stop of node %d (leading %d partitions) took %v; %d writes, longest pause between two acknowledged writes after it began: %v",
		victim, leader[c.Options(victim).ServerName], took.Round(time.Millisecond), len(ok), gap.Round(time.Millisecond))
}

// A write that arrives while a stream has no leader waits for the next
// one instead of failing: here the leader's JetStream stops without
// handing over, as in a crash, and its peers elect another only after
// their election timeout (4-9 s in nats-server 2.15).
func TestClusterWriteWaitsForANewLeader(t *testing.T) {
	c := startCluster(t, natsstore.Options{Partitions: 1, WriteWait: 20 * time.Second})
	ctx := clusterCtx(t)
	partitioned(t, c.Node(0))
	s, err := c.Node(0).JetStream().Stream(ctx, "KV_presence")
	if err != nil {
		t.Fatal(err)
	}
	victim := -1
	for i := range 3 {
		if c.Options(i).ServerName == s.CachedInfo().Cluster.Leader {
			victim = i
		}
	}
	writer := (victim + 1) % 3
	kv := partitioned(t, c.Node(writer))
	var (
		mu   sync.Mutex
		ok   []time.Time
		errs []error
		stop = make(chan struct{})
		wg   sync.WaitGroup
	)
	for w := range 4 {
		wg.Go(func() {
			k := userKey(4, w)
			var rev uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := kv.Put(ctx, k, []byte("v"), rev)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					rev = r
					ok = append(ok, time.Now())
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	crashed := time.Now()
	if err := c.Node(victim).CrashJetStream(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		resumed := len(ok) > 0 && ok[len(ok)-1].Sub(crashed) > time.Second
		mu.Unlock()
		if resumed || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d writes failed while the stream had no leader, the first: %v", len(errs), errs[0])
	}
	var gap time.Duration
	for i := 1; i < len(ok); i++ {
		if ok[i].After(crashed) {
			gap = max(gap, ok[i].Sub(ok[i-1]))
		}
	}
	if last := ok[len(ok)-1]; last.Before(crashed.Add(time.Second)) {
		t.Fatalf("no write succeeded after the leader's crash")
	}
	t.Logf("leader node %d crashed; longest pause between two acknowledged writes through node %d: %v", victim, writer, gap.Round(time.Millisecond))
}
