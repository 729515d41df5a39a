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

// A bucket's watch — what keeps each node's cache coherent — goes on
// within a bound when the server that serves its consumer is killed
// (SIGKILL), and misses no revision: every acknowledged one is
// delivered, or a later one of its key marked as having skipped it.
// Three node processes (k0, k1, k2); the test's engine reaches k0 only,
// writes through it every 10 ms and watches through it. Each round picks
// k1 or k2, whichever does not lead the meta group (its death would cost
// an election, and every consumer's making with it), moves the bucket's
// leadership to it and starts the watch again from the last revision it
// delivered (WatchFrom), so that its consumer is placed there; moves the
// leadership to k0 (no election is measured); then kills the consumer's
// server, and restarts it after the watch has gone on.
// PRESENCED_WATCH_KILLS=n kills n times (4 by default).
//
// With nats.go's ordered consumer the watch's consumer, made again after
// the kill, could be placed on the dead server, and nats.go retried that
// placement under the same name every 10 s, for ever: the node's cache
// stopped following, without a word.
func TestClusterWatchOutlivesAKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three node processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	k := newKillCluster(t, ctx, "watcher", "PRESENCED_WATCH_KILLS")
	procs, ext := k.procs, k.ext
	kv, err := ext.Bucket(ctx, "watched")
	if err != nil {
		t.Fatal(err)
	}
	const stream = "KV_watched"

	type ack struct {
		key string
		rev uint64
		at  time.Time
	}
	var (
		mu    sync.Mutex
		acked []ack
		got   []store.Change
		gotAt []time.Time
	)
	lastGot := func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		if len(got) == 0 {
			return 0
		}
		return got[len(got)-1].Revision
	}
	w := &watch{kv: kv.(store.Resumable), stream: stream, deliver: func(c store.Change) {
		mu.Lock()
		got, gotAt = append(got, c), append(gotAt, time.Now())
		mu.Unlock()
	}}
	w.start(t, ctx, 0) // from the first write
	defer w.stop()

	writing, stopWriting := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		revs := map[string]uint64{}
		for i := 0; writing.Err() == nil; i++ {
			key := fmt.Sprintf("u.k%d", i%20)
			rev, err := kv.Put(writing, key, fmt.Appendf(nil, "%d", i), revs[key])
			if err == nil {
				revs[key] = rev
				mu.Lock()
				acked = append(acked, ack{key, rev, time.Now()})
				mu.Unlock()
			} else if e, gerr := kv.Get(writing, key); gerr == nil {
				revs[key] = e.Revision // the failed write may have been stored
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	defer wg.Wait()
	defer stopWriting()

	var took []time.Duration
	for round := range k.kills {
		victim := k.offMeta(t, round)
		// A watch's consumer is placed on the bucket's leader: the
		// victim leads it while the watch starts again.
		for try := 0; ; try++ {
			if try == 10 {
				t.Fatalf("round %d: the watch's consumer was not placed on %s, the bucket's leader, in 10 tries", round, procs[victim].name)
			}
			moveLeader(t, ctx, ext, stream, procs[victim].name)
			w.stop()
			w.start(t, ctx, lastGot())
			waitProgress(t, ctx, "watch", lastGot, w.err)
			if consumerServer(t, ctx, ext, stream) == procs[victim].name {
				break
			}
		}
		moveLeader(t, ctx, ext, stream, "k0")
		waitProgress(t, ctx, "watch", lastGot, w.err)
		if s := consumerServer(t, ctx, ext, stream); s != procs[victim].name {
			t.Fatalf("round %d: the watch's consumer moved from %s to %s", round, procs[victim].name, s)
		}
		procs[victim].kill() // returns once the process has exited
		killedAt := time.Now()
		// The first revision acknowledged after the kill, and when the
		// watch delivered it (or a later one).
		took = append(took, k.resumedAfter(t, round, victim, "watch", killedAt, w.err, func() (time.Time, bool) {
			mu.Lock()
			defer mu.Unlock()
			if i := slices.IndexFunc(acked, func(a ack) bool { return a.at.After(killedAt) }); i >= 0 {
				if j := slices.IndexFunc(got, func(c store.Change) bool { return c.Revision >= acked[i].rev }); j >= 0 {
					return gotAt[j], true
				}
			}
			return time.Time{}, false
		}))
		k.restart(t, ctx, victim, stream)
	}
	stopWriting()
	wg.Wait()

	mu.Lock()
	want := acked[len(acked)-1].rev
	mu.Unlock()
	waitReached(t, "watch", want, lastGot)
	w.stop()
	mu.Lock()
	defer mu.Unlock()
	// In order, each at most once; every acknowledged revision delivered,
	// or skipped by a later change marked so (a bucket keeps one revision
	// per key: one replaced before the watch reached it is gone).
	delivered := map[uint64]bool{}
	for i, c := range got {
		if i > 0 && c.Revision <= got[i-1].Revision {
			t.Fatalf("the watch delivered %d after %d", c.Revision, got[i-1].Revision)
		}
		delivered[c.Revision] = true
	}
	skipped := 0
	for _, a := range acked {
		if delivered[a.rev] {
			continue
		}
		j := slices.IndexFunc(got, func(c store.Change) bool { return c.Revision > a.rev })
		if j < 0 || !got[j].Skipped || got[j].SkippedUpTo < a.rev {
			t.Fatalf("acknowledged revision %d of %s was neither delivered nor marked skipped by the change after it", a.rev, a.key)
		}
		skipped++
	}
	t.Logf("%s; %d revisions acknowledged, %d delivered, %d replaced before the watch reached them (marked skipped)",
		summary("watch", took), len(acked), len(acked)-skipped, skipped)
}

// watch runs a bucket's watch in the background.
type watch struct {
	kv      store.Resumable
	stream  string
	deliver func(store.Change)
	w       store.Watcher
	done    ended
}

// start watches from after revision after.
func (w *watch) start(t *testing.T, ctx context.Context, after uint64) {
	t.Helper()
	var err error
	w.w, err = w.kv.WatchFrom(ctx, "u.", []store.Position{{Stream: w.stream, Seq: after}})
	if err != nil {
		t.Fatal(err)
	}
	w.done = make(ended, 1)
	go func(wt store.Watcher, done chan error) {
		for {
			c, err := wt.Next(context.Background())
			if err != nil {
				done <- err
				return
			}
			w.deliver(c)
		}
	}(w.w, w.done)
}

// err is the watch's error if it has ended.
func (w *watch) err() error { return w.done.err() }

func (w *watch) stop() {
	if w.w != nil {
		w.w.Stop()
		if err := <-w.done; err != nil && !errors.Is(err, natsstore.ErrWatchStopped) {
			panic(fmt.Sprintf("watch: %v", err))
		}
		w.w = nil
	}
}
