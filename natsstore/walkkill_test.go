package natsstore_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/store"
)

// A bucket's Walk (a node's cache warm-up) and a resume's Replay go on
// within a bound when the server serving their consumer is killed
// (SIGKILL), and deliver every key with its value. Three node processes
// (k0, k1, k2); the test's engine reaches k0 only. The bucket holds
// walkKeys keys; each round reads it — a Walk in even rounds, a Replay
// from the start in odd ones — taking walkPace a key, so that the read
// lasts. The victim is k1 or k2, whichever does not lead the meta group
// (its death would cost an election, and every consumer's making with
// it); it is made the bucket's leader and the read started, again until
// the read's consumer is served by the victim. The bucket's leadership is
// moved to k0 (no election is measured), the victim killed, and
// restarted once the read has ended.
// PRESENCED_WALK_KILLS=n makes n rounds (2 by default).
//
// Walk and Replay read with nats.go's ordered consumer, whose making again
// after its server's death nats.go retries under the same name every
// 10 s, for ever, placed by a meta leader that still counts the dead
// server as live: the read stalled well past the bound.
func TestClusterWalkOutlivesAKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three node processes")
	}
	const (
		walkKeys = 4000
		walkPace = 2 * time.Millisecond
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	k := newKillCluster(t, ctx, "walker", "PRESENCED_WALK_KILLS")
	if k.kills == 4 {
		k.kills = 2 // a round is a whole read: two by default
	}
	procs, ext := k.procs, k.ext
	kv, err := ext.Bucket(ctx, "walked")
	if err != nil {
		t.Fatal(err)
	}
	const stream = "KV_walked"
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < walkKeys; i += 8 {
				if _, err := kv.Put(ctx, fmt.Sprintf("u.k%d", i), fmt.Appendf(nil, "v%d", i), 0); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	last, err := kv.(store.Resumable).Positions(ctx)
	if err != nil {
		t.Fatal(err)
	}

	var took []time.Duration
	for round := range k.kills {
		what := "walk"
		if round%2 == 1 {
			what = "replay"
		}
		var (
			mu    sync.Mutex
			got   = map[string]string{}
			gotAt []time.Time
			r     *read
		)
		victim := k.offMeta(t, round)
		// The read's consumer is placed on the victim: a walk's on the
		// bucket's leader, so the victim leads it while the read starts.
		for try := 0; ; try++ {
			if try == 30 {
				t.Fatalf("round %d: the %s's consumer was not placed on %s in 30 tries", round, what, procs[victim].name)
			}
			if r != nil {
				r.stop()
			}
			mu.Lock()
			clear(got)
			gotAt = nil
			mu.Unlock()
			moveLeader(t, ctx, ext, stream, procs[victim].name)
			r = startRead(ctx, kv, what, last, func(key string, value []byte) {
				time.Sleep(walkPace)
				mu.Lock()
				got[key] = string(value)
				gotAt = append(gotAt, time.Now())
				mu.Unlock()
			})
			delivered := func() uint64 {
				mu.Lock()
				defer mu.Unlock()
				return uint64(len(gotAt))
			}
			waitProgress(t, ctx, what, delivered, r.done.err)
			if consumerServer(t, ctx, ext, stream) == procs[victim].name {
				break
			}
		}
		moveLeader(t, ctx, ext, stream, "k0")
		if s := consumerServer(t, ctx, ext, stream); s != procs[victim].name {
			t.Fatalf("round %d: the %s's consumer moved from %s to %s", round, what, procs[victim].name, s)
		}
		mu.Lock()
		before := len(gotAt)
		mu.Unlock()
		if before == walkKeys {
			t.Fatalf("round %d: the %s ended before the kill; make it longer", round, what)
		}
		procs[victim].kill() // returns once the process has exited
		killedAt := time.Now()
		select {
		case err := <-r.done:
			if err != nil {
				t.Fatalf("round %d: the %s failed: %v", round, what, err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("round %d: the %s did not end within a minute of the kill", round, what)
		}
		mu.Lock()
		// The read's longest pause after the kill: it may first hand out
		// what its consumer had fetched before.
		stall, prev := time.Duration(0), killedAt
		for _, at := range gotAt {
			if at.After(killedAt) {
				stall, prev = max(stall, at.Sub(prev)), at
			}
		}
		took = append(took, stall)
		t.Logf("round %d: %s (served the %s's consumer) killed after %d of %d keys; the %s's longest pause after it: %v",
			round, procs[victim].name, what, before, walkKeys, what, stall.Round(time.Millisecond))
		if stall > followResumed {
			t.Errorf("round %d: the %s paused %v after the kill of its consumer's server; want within %v", round, what, stall.Round(time.Millisecond), followResumed)
		}
		if len(got) != walkKeys {
			t.Errorf("round %d: the %s delivered %d keys of %d", round, what, len(got), walkKeys)
		}
		for i := range walkKeys {
			if key, want := fmt.Sprintf("u.k%d", i), fmt.Sprintf("v%d", i); got[key] != want {
				t.Fatalf("round %d: the %s delivered %s = %q, want %q", round, what, key, got[key], want)
			}
		}
		mu.Unlock()
		k.restart(t, ctx, victim, stream)
	}
	slices.Sort(took)
	t.Logf("%d kills: the longest pause of a walk or replay after it %v … %v; every key delivered with its value", len(took), took[0].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
}

// read runs a Walk or a Replay (from the start through last) in the
// background.
type read struct {
	cancel context.CancelFunc
	done   ended
}

func startRead(ctx context.Context, kv store.KV, what string, last []store.Position, fn func(key string, value []byte)) *read {
	rctx, cancel := context.WithCancel(ctx)
	r := &read{cancel: cancel, done: make(ended, 1)}
	go func() {
		var err error
		if what == "walk" {
			err = kv.Walk(rctx, "u.", func(e store.Entry) error {
				fn(e.Key, e.Value)
				return nil
			})
		} else {
			from := []store.Position{{Stream: last[0].Stream, Created: last[0].Created}}
			err = kv.(store.Resumable).Replay(rctx, "u.", from, last, func(c store.Change) error {
				fn(c.Key, c.Value)
				return nil
			})
		}
		r.done <- err
	}()
	return r
}

func (r *read) stop() {
	r.cancel()
	<-r.done
}
