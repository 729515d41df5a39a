package core_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// followTimeout bounds each wait of these tests for a change to cross
// nodes (milliseconds on an idle machine).
const followTimeout = 20 * time.Second

// node is a Core over one node of a cluster, following the engine, with
// what its subscribers heard.
type node struct {
	c *core.Core

	mu      sync.Mutex
	writes  []core.Snapshot // OnWrite, in order
	changes []core.Snapshot // OnChange, in order
}

func (n *node) heard() (writes, changes []core.Snapshot) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]core.Snapshot(nil), n.writes...), append([]core.Snapshot(nil), n.changes...)
}

// followingNodes starts a three-node cluster and a following Core on each
// node's presence partitions, all on one clock.
func followingNodes(t *testing.T, clk clock.Clock) []*node {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	return followingNodesB(t, clk)
}

// followingNodesB is followingNodes for tests and benchmarks.
func followingNodesB(t testing.TB, clk clock.Clock) []*node {
	t.Helper()
	cl := enginetest.StartCluster(t, 3, natsstore.Options{Replicas: 3, Partitions: 3})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	var nodes []*node
	for i := range cl.Len() {
		kv, err := cl.Node(i).Partitioned(ctx, "presence")
		if err != nil {
			t.Fatal(err)
		}
		n := &node{c: core.New(core.Options{KV: kv, Clock: clk, Logger: quietLog})}
		n.c.OnWrite(func(s core.Snapshot) { n.mu.Lock(); n.writes = append(n.writes, s); n.mu.Unlock() })
		n.c.OnChange(func(s core.Snapshot) { n.mu.Lock(); n.changes = append(n.changes, s); n.mu.Unlock() })
		f, err := n.c.Follow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { f.Run(ctx) })
		nodes = append(nodes, n)
	}
	return nodes
}

// waitFor polls cond until it holds, failing the test after followTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(followTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, followTimeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func pairOf(t *testing.T, c *core.Core, u core.UserRef) string {
	t.Helper()
	s, err := c.Read(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	return s.View.Pair.String()
}

// A write through one node reaches the cache of every other node, and
// each node's subscribers hear of every change once, in order: a node's
// own write when it is acknowledged (the engine's copy of it is not
// reported again), another node's from the engine; OnChange only when
// the visible presence changed.
func TestFollowSeesEveryNodesWrites(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	nodes := followingNodes(t, fake)
	ctx := context.Background()
	a, b, c := nodes[0], nodes[1], nodes[2]

	// Every node reads alice once (never written), so each holds her.
	for _, n := range nodes {
		if got := pairOf(t, n.c, alice); got != "Offline/Offline" {
			t.Fatalf("before any write: %s", got)
		}
	}
	if _, _, err := a.c.Do(ctx, alice, set("desk", "Busy", "InACall")); err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes[1:] {
		waitFor(t, fmt.Sprintf("node %d sees node 0's write", i+1), func() bool { return pairOf(t, n.c, alice) == "Busy/InACall" })
	}
	// Node 1 refreshes the session: stored, nothing visible changes.
	if _, ch, err := b.c.Do(ctx, alice, set("desk", "Busy", "InACall")); err != nil || ch {
		t.Fatalf("refresh: changed %v, %v", ch, err)
	}
	// Every node hears of it before the next write (a node whose watch
	// is behind would otherwise meet a conflict and read the refresh from
	// the leader, or never see it: the bucket keeps one revision a user).
	for i, n := range nodes {
		waitFor(t, fmt.Sprintf("node %d hears of the refresh", i), func() bool { w, _ := n.heard(); return len(w) == 2 })
	}
	// Node 2 changes it: visible.
	if _, _, err := c.c.Do(ctx, alice, set("desk", "DoNotDisturb", "Presenting")); err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		waitFor(t, fmt.Sprintf("node %d sees node 2's write", i), func() bool { return pairOf(t, n.c, alice) == "DoNotDisturb/Presenting" })
	}
	// A fourth write, by node 0, after which every node has had the
	// engine's copy of the three before (one partition: in order).
	if _, _, err := a.c.Do(ctx, alice, set("desk", "Away", "Away")); err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		waitFor(t, fmt.Sprintf("node %d sees the fourth write", i), func() bool { return pairOf(t, n.c, alice) == "Away/Away" })
		// A change from the engine is cached, then reported (applyLocked):
		// a read may see it a moment before the subscribers hear of it.
		waitFor(t, fmt.Sprintf("node %d hears of the fourth write", i), func() bool { w, _ := n.heard(); return len(w) >= 4 })
	}
	wantWrites := []string{"Busy/InACall", "Busy/InACall", "DoNotDisturb/Presenting", "Away/Away"}
	wantChanges := []string{"Busy/InACall", "DoNotDisturb/Presenting", "Away/Away"}
	for i, n := range nodes {
		writes, changes := n.heard()
		if got := pairs(writes); fmt.Sprint(got) != fmt.Sprint(wantWrites) {
			t.Errorf("node %d: OnWrite heard %v, want %v (each change once, in order)", i, got, wantWrites)
		}
		if got := pairs(changes); fmt.Sprint(got) != fmt.Sprint(wantChanges) {
			t.Errorf("node %d: OnChange heard %v, want %v", i, got, wantChanges)
		}
		for j := 1; j < len(writes); j++ {
			if writes[j].Seq.Less(writes[j-1].Seq) {
				t.Errorf("node %d: sequenceNumber went back: %v after %v", i, writes[j].Seq, writes[j-1].Seq)
			}
		}
		// Each change, this node's or another's, names the sequenceNumber
		// it replaced (the change log chains its records with it).
		var before presence.Stamp
		for j, w := range writes {
			if !w.HasBefore || w.Before != before {
				t.Errorf("node %d, change %d: Before %v (known %v), want %v", i, j, w.Before, w.HasBefore, before)
			}
			before = w.Seq
		}
	}
}

func pairs(ss []core.Snapshot) []string {
	var out []string
	for _, s := range ss {
		if s.User == alice {
			out = append(out, s.View.Pair.String())
		}
	}
	return out
}

// Concurrent writes to one user through three nodes keep every session
// that was acknowledged, and every node ends up holding all of them; each
// node's subscribers hear the user's changes in order (the sessions only
// grow) and never twice.
func TestFollowHammerOneUserFromThreeNodes(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	nodes := followingNodes(t, fake)
	ctx := context.Background()
	const writersPerNode, writesEach = 4, 4
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		wg    sync.WaitGroup
	)
	for i, n := range nodes {
		for w := range writersPerNode {
			wg.Go(func() {
				for k := range writesEach {
					label := fmt.Sprintf("n%d-w%d-%d", i, w, k)
					id := app + ":" + label
					cmd := set(label, "Available", "Available")
					if _, _, err := n.c.Do(ctx, alice, cmd); err != nil {
						continue // not acknowledged (too many conflicts in a row): not promised
					}
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged")
	}
	t.Logf("%d of %d writes acknowledged", len(acked), len(nodes)*writersPerNode*writesEach)
	for i, n := range nodes {
		waitFor(t, fmt.Sprintf("node %d holds every acknowledged session", i), func() bool {
			s, err := n.c.Read(ctx, alice)
			if err != nil {
				t.Fatal(err)
			}
			held := map[string]bool{}
			for _, se := range s.Facts.Sessions {
				held[se.ID] = true
			}
			for id := range acked {
				if !held[id] {
					return false
				}
			}
			return true
		})
		writes, _ := n.heard()
		for j := 1; j < len(writes); j++ {
			if len(writes[j].Facts.Sessions) <= len(writes[j-1].Facts.Sessions) {
				t.Fatalf("node %d: OnWrite heard %d sessions after %d: out of order or twice", i, len(writes[j].Facts.Sessions), len(writes[j-1].Facts.Sessions))
			}
		}
	}
}

// A change that arrives while the user's write lock is held waits for it
// and is applied when it is let go: the follower never blocks on it, and
// the holder sees the change before anyone else can write.
func TestFollowAppliesAChangeWhenTheLockIsLetGo(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	nodes := followingNodes(t, fake)
	ctx := context.Background()
	a, b := nodes[0], nodes[1]
	err := a.c.Locked(ctx, alice, func(core.Snapshot) error {
		if _, _, err := b.c.Do(ctx, alice, set("desk", "Busy", "InACall")); err != nil {
			return err
		}
		waitFor(t, "node 0's follower queues node 1's write", func() bool { return a.c.Queued(alice) > 0 })
		if got := pairOf(t, a.c, alice); got != "Offline/Offline" {
			t.Errorf("applied while the lock was held: %s", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := pairOf(t, a.c, alice); got != "Busy/InACall" {
		t.Fatalf("after the lock was let go node 0 reads %s", got)
	}
	if writes, _ := a.heard(); len(pairs(writes)) != 1 {
		t.Fatalf("node 0 heard %v", pairs(writes))
	}
}

// A change of another user than the one whose write holds the shard's
// lock is readable at once, not after that write: the lock is held across
// a replicated write. It is reported to the subscribers once, after the
// lock is let go (in order with the holder's own).
func TestFollowCachesAnotherUsersChangeWhileTheLockIsHeld(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	nodes := followingNodes(t, fake)
	ctx := context.Background()
	a, b := nodes[0], nodes[1]
	var other core.UserRef
	for i := 0; ; i++ {
		other = core.UserRef{TenantID: alice.TenantID, UserID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)}
		if a.c.SameLock(alice, other) {
			break
		}
	}
	// Cached on node 0 first, so that a read there answers from the cache.
	if _, _, err := a.c.Do(ctx, other, set("desk", "Away", "Away")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node 1 follows node 0's write", func() bool { return pairOf(t, b.c, other) == "Away/Away" })
	before, _ := a.heard()
	err := a.c.Locked(ctx, alice, func(core.Snapshot) error {
		if _, _, err := b.c.Do(ctx, other, set("desk", "Busy", "InACall")); err != nil {
			return err
		}
		waitFor(t, "node 0 reads node 1's write of another user of the shard", func() bool { return pairOf(t, a.c, other) == "Busy/InACall" })
		if writes, _ := a.heard(); len(writes) != len(before) {
			t.Errorf("reported while the lock was held: %v", pairs(writes[len(before):]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	writes, _ := a.heard()
	if writes = writes[len(before):]; len(writes) != 1 || writes[0].User != other || writes[0].View.Pair.String() != "Busy/InACall" {
		t.Fatalf("node 0 heard %v after the lock was let go", pairs(writes))
	}
}

// failOnceKV's first Watch fails after its first change, as a watch the
// engine stops does.
type failOnceKV struct {
	store.KV
	mu      sync.Mutex
	watches int
}

func (k *failOnceKV) Watch(ctx context.Context, prefix string) (store.Watcher, error) {
	w, err := k.KV.Watch(ctx, prefix)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.watches++; k.watches == 1 {
		return &failingWatcher{Watcher: w}, nil
	}
	return w, nil
}

type failingWatcher struct {
	store.Watcher
	n int
}

func (w *failingWatcher) Next(ctx context.Context) (store.Change, error) {
	if w.n++; w.n == 2 {
		return store.Change{}, fmt.Errorf("the engine stopped the watch")
	}
	return w.Watcher.Next(ctx)
}

// A follower whose watch fails starts a new one and walks again: the
// changes made while it was broken reach the cache and the subscribers,
// and Err says it was broken meanwhile.
func TestFollowRestartsAFailedWatch(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base := bucket(t)
	kv := &failOnceKV{KV: base}
	c := core.New(core.Options{KV: kv, Clock: fake, Logger: quietLog})
	var mu sync.Mutex
	var heard []string
	c.OnWrite(func(s core.Snapshot) { mu.Lock(); heard = append(heard, s.View.Pair.String()); mu.Unlock() })
	f, err := c.Follow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f.Err() != nil {
		t.Fatalf("a new follower: %v", f.Err())
	}
	other := core.New(core.Options{KV: base, Clock: fake}) // another node
	if _, _, err := other.Do(ctx, alice, set("desk", "Busy", "InACall")); err != nil {
		t.Fatal(err)
	}
	if got := pairOf(t, c, alice); got != "Busy/InACall" {
		t.Fatal(got)
	}
	// The next change the watch would deliver is an error.
	if _, _, err := other.Do(ctx, alice, set("desk", "Away", "Away")); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	waitFor(t, "the follower catches up after its watch failed", func() bool { return pairOf(t, c, alice) == "Away/Away" })
	waitFor(t, "the follower follows again", func() bool { return f.Err() == nil })
	if _, _, err := other.Do(ctx, alice, set("desk", "DoNotDisturb", "Presenting")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new watch delivers", func() bool { return pairOf(t, c, alice) == "DoNotDisturb/Presenting" })
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(heard) != "[Away/Away DoNotDisturb/Presenting]" {
		t.Fatalf("heard %v; want the two changes after alice was cached, once each", heard)
	}
}

// Options.Followed is told, on each node that caches another node's
// change from the engine, how long after its storing that was; the
// writer's own change (cached when acknowledged) is not counted.
func TestFollowReportsHowLateAnotherNodesChangeWasCached(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	cl := enginetest.StartCluster(t, 3, natsstore.Options{Replicas: 3, Partitions: 3})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	var (
		mu   sync.Mutex
		lags [3][]time.Duration
	)
	var cores []*core.Core
	for i := range cl.Len() {
		kv, err := cl.Node(i).Partitioned(ctx, "presence")
		if err != nil {
			t.Fatal(err)
		}
		c := core.New(core.Options{KV: kv, Clock: clock.Real{}, Logger: quietLog, Followed: func(d time.Duration) {
			mu.Lock()
			lags[i] = append(lags[i], d)
			mu.Unlock()
		}})
		f, err := c.Follow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { f.Run(ctx) })
		cores = append(cores, c)
	}
	const writes = 3
	for k := range writes {
		start := time.Now()
		if _, _, err := cores[0].Do(ctx, alice, set(fmt.Sprintf("s%d", k), "Busy", "InACall")); err != nil {
			t.Fatal(err)
		}
		for i := 1; i < 3; i++ {
			waitFor(t, fmt.Sprintf("node %d caches write %d", i, k), func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(lags[i]) == k+1
			})
		}
		mu.Lock()
		for i := 1; i < 3; i++ {
			if d := lags[i][k]; d < 0 || d > time.Since(start) {
				t.Errorf("node %d, write %d: lag %v, not between 0 and the %v since the write began", i, k, d, time.Since(start))
			}
		}
		mu.Unlock()
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lags[0]) != 0 {
		t.Errorf("the writer reported %d lags of its own writes, want none", len(lags[0]))
	}
}

// A node whose watch fell behind never gets its own write from the engine
// if another node replaced it first (the bucket keeps one revision a
// user): the watch skipped it. The other node's change still follows the
// revision this node cached when its own write was acknowledged, so it is
// reported with that one as its Before (the change log chains its records
// with it), as CI once saw it not be under load.
func TestFollowKnowsBeforeWhenTheSkippedRevisionWasItsOwnWrite(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kv := bucket(t)
	c := core.New(core.Options{KV: kv, Clock: fake, Logger: quietLog})
	var mu sync.Mutex
	var writes []core.Snapshot
	c.OnWrite(func(s core.Snapshot) { mu.Lock(); writes = append(writes, s); mu.Unlock() })
	f, err := c.Follow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Nobody takes the watch's changes yet: its buffer and the client's
	// fill, and the engine stops sending (keys of no user: not applied).
	const filler = 1500
	for i := range filler {
		if _, err := kv.Put(ctx, fmt.Sprintf("u.filler%d", i), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := c.Do(ctx, alice, set("desk", "Busy", "InACall")); err != nil {
		t.Fatal(err)
	}
	other := core.New(core.Options{KV: kv, Clock: fake}) // another node
	if _, ch, err := other.Do(ctx, alice, set("desk", "Busy", "InACall")); err != nil || ch {
		t.Fatalf("refresh: changed %v, %v", ch, err)
	}
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the follower delivers the other node's refresh", func() bool { mu.Lock(); defer mu.Unlock(); return len(writes) == 2 })
	// A change after the watch caught up.
	if _, _, err := other.Do(ctx, alice, set("desk", "Away", "Away")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the follower delivers the other node's next write", func() bool { mu.Lock(); defer mu.Unlock(); return len(writes) == 3 })
	mu.Lock()
	defer mu.Unlock()
	var before presence.Stamp
	for j, w := range writes {
		if !w.HasBefore || w.Before != before {
			t.Errorf("change %d (%s): Before %v (known %v), want %v", j, w.View.Pair, w.Before, w.HasBefore, before)
		}
		before = w.Seq
	}
}
