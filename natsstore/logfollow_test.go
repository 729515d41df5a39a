package natsstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/store"
)

// followResumed bounds how long after a kill -9 of the server serving a
// follow's consumer the follow delivers again (it gives a consumer up
// within ~2 s and makes a new one within 1 s, again within 2 s should
// that one be placed on the dead server too, which the meta leader still
// counts as live for a few seconds; the rest is the loaded box's margin).
const followResumed = 8 * time.Second

// A follow of the change log goes on within a bound when the server that
// serves its consumer is killed (SIGKILL), and delivers every record, in
// order, once. Three node processes (k0, k1, k2); the test's engine reaches
// k0 only, appends through it every 10 ms and follows through it. Each
// round finds the server serving the follow's consumer; when it is k0 (the
// test's own), or leads the meta group (its death would cost an election,
// and every consumer's making with it), the follow is started again, so
// that its consumer is placed again; the log's leadership is moved off
// it; then it is killed, and restarted after the follow has gone on.
// PRESENCED_FOLLOW_KILLS=n kills n times (4 by default).
//
// With nats.go's ordered consumer the follow waited 2 s for missed
// heartbeats and then 10 s for each consumer placed on the dead server,
// retried 1, 2, 4 … s apart: over the bound in some kills.
func TestClusterFollowOutlivesAKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three node processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	k := newKillCluster(t, ctx, "follower", "PRESENCED_FOLLOW_KILLS")
	procs, ext := k.procs, k.ext
	lg, err := ext.Log(ctx, "CHANGES", natsstore.LogOptions{Subjects: []string{"chg.>"}, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu    sync.Mutex
		acked []uint64
		ackAt []time.Time
		got   []uint64
		gotAt []time.Time
	)
	writing, stopWriting := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; writing.Err() == nil; i++ {
			seq, err := lg.Append(writing, fmt.Sprintf("chg.t.u%d", i%20), fmt.Appendf(nil, "%d", i))
			if err == nil {
				mu.Lock()
				acked, ackAt = append(acked, seq), append(ackAt, time.Now())
				mu.Unlock()
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	defer wg.Wait()
	defer stopWriting()

	f := &follow{lg: lg, deliver: func(r store.Record) error {
		mu.Lock()
		got, gotAt = append(got, r.Seq), append(gotAt, time.Now())
		mu.Unlock()
		return nil
	}}
	f.start(ctx, 1)
	defer f.stop()
	lastGot := func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		if len(got) == 0 {
			return 0
		}
		return got[len(got)-1]
	}

	var took []time.Duration
	for round := range k.kills {
		victim := -1
		for try := 0; victim < 0; try++ {
			if try == 30 {
				t.Fatalf("round %d: the follow's consumer was not placed on k1 or k2, off the meta leader, in 30 tries", round)
			}
			waitProgress(t, ctx, "follow", lastGot, f.done.err)
			server := consumerServer(t, ctx, ext, "CHANGES")
			i := slices.IndexFunc(procs, func(p *nodeProc) bool { return p.name == server })
			if i > 0 && !leadsMeta(t, ext, server) {
				victim = i
				break
			}
			f.stop()
			f.start(ctx, lastGot()+1)
		}
		moveLeader(t, ctx, ext, "CHANGES", "k0")
		waitProgress(t, ctx, "follow", lastGot, f.done.err)
		if s := consumerServer(t, ctx, ext, "CHANGES"); s != procs[victim].name {
			t.Fatalf("round %d: the follow's consumer moved from %s to %s", round, procs[victim].name, s)
		}
		procs[victim].kill() // returns once the process has exited
		killedAt := time.Now()
		// The first record acknowledged after the kill, and when the
		// follow delivered it.
		took = append(took, k.resumedAfter(t, round, victim, "follow", killedAt, f.done.err, func() (time.Time, bool) {
			mu.Lock()
			defer mu.Unlock()
			if i := slices.IndexFunc(ackAt, func(at time.Time) bool { return at.After(killedAt) }); i >= 0 {
				if j, ok := slices.BinarySearch(got, acked[i]); ok {
					return gotAt[j], true
				}
			}
			return time.Time{}, false
		}))
		k.restart(t, ctx, victim, "CHANGES")
	}
	stopWriting()
	wg.Wait()

	// Every acknowledged record delivered, in order, once.
	mu.Lock()
	want := acked[len(acked)-1]
	mu.Unlock()
	waitReached(t, "follow", want, lastGot)
	f.stop()
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("the follow delivered %d after %d", got[i], got[i-1])
		}
	}
	for _, s := range acked {
		if _, ok := slices.BinarySearch(got, s); !ok {
			t.Fatalf("acknowledged record %d was not delivered by the follow", s)
		}
	}
	t.Logf("%s; %d records acknowledged, all delivered once, in order", summary("follow", took), len(acked))
}

// follow runs a Log.Follow in the background.
type follow struct {
	lg      store.Log
	deliver func(store.Record) error
	cancel  context.CancelFunc
	done    ended
}

func (f *follow) start(ctx context.Context, from uint64) {
	fctx, cancel := context.WithCancel(ctx)
	f.cancel, f.done = cancel, make(ended, 1)
	go func() { f.done <- f.lg.Follow(fctx, []string{"chg.>"}, from, f.deliver) }()
}

func (f *follow) stop() {
	if f.cancel != nil {
		f.cancel()
		if err := <-f.done; err != nil && !errors.Is(err, context.Canceled) {
			panic(fmt.Sprintf("follow: %v", err))
		}
		f.cancel = nil
	}
}

// consumerServer is the server serving stream's consumer that has
// delivered the most (the follow's or the watch's; consumers it left
// behind trail).
func consumerServer(t *testing.T, ctx context.Context, e *natsstore.Engine, stream string) string {
	t.Helper()
	s, err := e.JetStream().Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	var best uint64
	server := ""
	cs := s.ListConsumers(ctx)
	for ci := range cs.Info() {
		if ci.Cluster != nil && ci.Delivered.Stream >= best {
			best, server = ci.Delivered.Stream, ci.Cluster.Leader
		}
	}
	if err := cs.Err(); err != nil {
		t.Fatal(err)
	}
	return server
}

// leadsMeta asks node whether it leads the meta group. A node just
// restarted may not answer yet (its subscription's interest not yet
// known to the server the test reaches): it is asked again for 10 s.
func leadsMeta(t *testing.T, e *natsstore.Engine, node string) bool {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := e.Conn().Request("test.leadsmeta."+node, nil, 5*time.Second)
		if err == nil {
			return string(m.Data) == "true"
		}
		if time.Now().After(deadline) {
			t.Fatalf("asking %s whether it leads the meta group: %v", node, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// moveLeader moves stream's leadership to node, waiting until it has.
func moveLeader(t *testing.T, ctx context.Context, e *natsstore.Engine, stream, node string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Asked again when unanswered (streamOf): right after a
		// step-down the stream may have no leader to answer.
		s, err := streamOf(ctx, t, e, stream)
		if err != nil {
			t.Fatal(err)
		}
		if cl := s.CachedInfo().Cluster; cl != nil && cl.Leader == node {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not led by %s 30 s after asking", stream, node)
		}
		body := fmt.Sprintf(`{"placement":{"preferred":%q}}`, node)
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second) // this loop asks again
		_, _ = e.Conn().RequestWithContext(sctx, "$JS.API.STREAM.LEADER.STEPDOWN."+stream, []byte(body))
		cancel()
		time.Sleep(500 * time.Millisecond)
	}
}
