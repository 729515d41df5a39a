package natsstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/store"
)

func leasesT(t *testing.T, e *natsstore.Engine, holder string, ttl time.Duration) store.Leases {
	t.Helper()
	ls, err := e.Leases(clusterCtx(t), "leases", natsstore.LeaseOptions{Holder: holder, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// The rules of a lease, on one node (the same code runs in a cluster).
func TestLeaseRules(t *testing.T) {
	e, err := natsstore.Open(context.Background(), natsstore.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := clusterCtx(t)
	a, b := leasesT(t, e, "node-a", 2*time.Second), leasesT(t, e, "node-b", 2*time.Second)

	la, err := a.Acquire(ctx, "sub-1")
	if err != nil {
		t.Fatal(err)
	}
	if la.Holder != "node-a" || la.Revision == 0 || la.Expires.IsZero() {
		t.Fatalf("lease %+v", la)
	}
	t.Run("held by another: refused, naming the holder", func(t *testing.T) {
		_, err := b.Acquire(ctx, "sub-1")
		if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), `"node-a"`) {
			t.Fatalf("acquire a held lease: %v", err)
		}
	})
	t.Run("renewed by its holder", func(t *testing.T) {
		nl, err := a.Renew(ctx, la)
		if err != nil || nl.Revision <= la.Revision || nl.Expires.Before(la.Expires) {
			t.Fatalf("renew: %+v, %v", nl, err)
		}
		if _, err := a.Renew(ctx, la); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("renew with a stale revision: %v; want ErrLeaseLost", err)
		}
		la = nl
	})
	t.Run("released: free for another", func(t *testing.T) {
		if err := a.Release(ctx, la); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Renew(ctx, la); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("renew after release: %v", err)
		}
		lb, err := b.Acquire(ctx, "sub-1")
		if err != nil {
			t.Fatalf("acquire a released lease: %v", err)
		}
		if err := a.Release(ctx, la); err != nil {
			t.Fatalf("releasing a lease already lost: %v", err)
		}
		if _, err := b.Renew(ctx, lb); err != nil {
			t.Fatalf("another's stale release took the lease: %v", err)
		}
	})
	t.Run("not renewed: lapses, and a watch sees it", func(t *testing.T) {
		w, err := a.Watch(ctx, "sub-2")
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		l, err := a.Acquire(ctx, "sub-2")
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for {
			c, err := w.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if c.Key == "sub-2" && c.Deleted {
				break
			}
		}
		lapsed := time.Since(start)
		if lapsed < time.Second || lapsed > 2*time.Second+3*time.Second {
			t.Fatalf("a 2 s lease lapsed after %v", lapsed)
		}
		if _, err := a.Renew(ctx, l); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("renew after the lapse: %v", err)
		}
		if _, err := b.Acquire(ctx, "sub-2"); err != nil {
			t.Fatalf("acquire a lapsed lease: %v", err)
		}
		t.Logf("a 2 s lease lapsed %v after it was taken", lapsed.Round(time.Millisecond))
	})
	t.Run("TTL whole seconds", func(t *testing.T) {
		for _, ttl := range []time.Duration{0, 500 * time.Millisecond, 1500 * time.Millisecond} {
			if _, err := e.Leases(ctx, "leases", natsstore.LeaseOptions{Holder: "x", TTL: ttl}); err == nil {
				t.Errorf("TTL %v accepted", ttl)
			}
		}
	})
}

// A lease's holder dies (its node stops, without releasing): the lease
// lapses within its TTL, another node's Hold takes it over, and the two
// never run their work at once.
func TestClusterLeaseMovesWhenItsHolderStops(t *testing.T) {
	c := startCluster(t, natsstore.Options{Partitions: 1})
	ctx := clusterCtx(t)
	const ttl = 2 * time.Second

	type run struct {
		node       int
		start, end time.Time
	}
	var (
		mu   sync.Mutex
		runs []run
	)
	work := func(node int) func(context.Context) {
		return func(wctx context.Context) {
			r := run{node: node, start: time.Now()}
			<-wctx.Done()
			r.end = time.Now()
			mu.Lock()
			runs = append(runs, r)
			mu.Unlock()
		}
	}
	hold := func(node int, hctx context.Context) chan error {
		done := make(chan error, 1)
		ls := leasesT(t, c.Node(node), c.Options(node).ServerName, ttl)
		go func() { done <- store.Hold(hctx, ls, "sub-x", clock.Real{}, work(node)) }()
		return done
	}
	ctx1, cancel1 := context.WithCancel(ctx)
	defer cancel1()
	held1 := hold(1, ctx1)
	probe := leasesT(t, c.Node(0), "probe", ttl)
	holder := func() string {
		l, err := probe.Holder(ctx, "sub-x")
		if err != nil {
			return err.Error()
		}
		return l.Holder
	}
	// Node 1 holds it before node 2 starts trying.
	waitFor(t, "node 1 to hold the lease", func() error {
		if h := holder(); h != "n1" {
			return errors.New(h)
		}
		return nil
	})
	ctx2, cancel2 := context.WithCancel(ctx)
	defer cancel2()
	held2 := hold(2, ctx2)
	time.Sleep(ttl) // node 2 is refused meanwhile

	if h := holder(); h != "n1" {
		t.Fatalf("the lease moved to %s while node 1 held it", h)
	}
	stopped := time.Now()
	c.Stop(1)
	t.Logf("node 1's stop took %v", time.Since(stopped).Round(time.Millisecond))
	waitFor(t, "node 2 to take the lease over", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(runs) == 1 {
			return nil // node 1's work ended; node 2's is running
		}
		return errors.New("node 1 still runs")
	})
	var takeover time.Duration
	deadline := time.Now().Add(ttl + 10*time.Second)
	for {
		// Node 2's run is recorded only when it ends; look at the lease.
		h := holder()
		if h == "n2" {
			takeover = time.Since(stopped)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 2 did not take the lease within %v of node 1's stop: %s", ttl+10*time.Second, h)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel2()
	if err := <-held2; !errors.Is(err, context.Canceled) {
		t.Fatalf("node 2's Hold: %v", err)
	}
	cancel1()
	<-held1

	mu.Lock()
	defer mu.Unlock()
	if len(runs) != 2 || runs[0].node != 1 || runs[1].node != 2 {
		t.Fatalf("runs %+v; want node 1's, then node 2's", runs)
	}
	if runs[1].start.Before(runs[0].end) {
		t.Fatalf("node 2 started at %v, before node 1 stopped at %v", runs[1].start, runs[0].end)
	}
	// Node 1 is told to stop a fifth of the TTL before the engine can let
	// the lease lapse, so its work has that long to stop: ended at the
	// lease's expiry itself, node 2 started 4–60 ms after node 1's work saw
	// it, and in 1 run of 7–10 before.
	if gap := runs[1].start.Sub(runs[0].end); gap < ttl/10 {
		t.Fatalf("node 2 started %v after node 1's work stopped; want at least %v (node 1 told to stop a fifth of the TTL early)", gap, ttl/10)
	}
	t.Logf("node 1 stopped; its work ended after %v, node 2 held the lease after %v (TTL %v)",
		runs[0].end.Sub(stopped).Round(time.Millisecond), takeover.Round(time.Millisecond), ttl)
}

// The node that leads the engine's meta group draws the leadership of the
// lease bucket and of the streams named Beside to itself, and is the one
// node whose Leads answers true; when it stops, the next meta leader does
// the same.
func TestClusterLeasesLedWithTheirCompanions(t *testing.T) {
	c := startCluster(t, natsstore.Options{Partitions: 1})
	ctx := clusterCtx(t)
	leases := make([]store.Leases, c.Len())
	for i := range leases {
		if _, err := c.Node(i).Bucket(ctx, "subscriptions"); err != nil {
			t.Fatal(err)
		}
		ls, err := c.Node(i).Leases(ctx, "leases", natsstore.LeaseOptions{Holder: c.Options(i).ServerName, TTL: 2 * time.Second,
			Beside: []string{"KV_subscriptions"}})
		if err != nil {
			t.Fatal(err)
		}
		leases[i] = ls
	}
	// Each look gets a context of its own: the test may outlast ctx on a
	// loaded machine (two elections and the moves).
	leaderOf := func(node int, stream string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := c.Node(node).JetStream().Stream(ctx, stream)
		if err != nil {
			return "", err
		}
		return s.CachedInfo().Cluster.Leader, nil
	}
	// converged waits until exactly one running node Leads, and it leads
	// both streams; it returns that node.
	converged := func(up []int) int {
		t.Helper()
		lead := -1
		deadline := time.Now().Add(time.Minute)
		for {
			var leading []int
			for _, i := range up {
				lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				leads := leases[i].Leads(lctx)
				cancel()
				if leads {
					leading = append(leading, i)
				}
			}
			var why error
			if len(leading) != 1 {
				why = fmt.Errorf("nodes that lead the leases: %v", leading)
			} else {
				lead = leading[0]
				for _, s := range []string{"KV_leases", "KV_subscriptions"} {
					if l, err := leaderOf(up[0], s); err != nil || l != c.Options(lead).ServerName {
						why = fmt.Errorf("%s led by %q (%v), not by %s", s, l, err, c.Options(lead).ServerName)
					}
				}
			}
			if why == nil {
				return lead
			}
			if time.Now().After(deadline) {
				t.Fatalf("after a minute: %v", why)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	first := converged([]int{0, 1, 2})
	c.Stop(first)
	var up []int
	for i := range 3 {
		if i != first {
			up = append(up, i)
		}
	}
	next := converged(up)
	t.Logf("the leases and subscriptions were led by node %d, then, once it stopped, by node %d", first, next)
}
