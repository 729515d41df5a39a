package natsstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/presenced/presenced/store"
)

// A watch whose context has already ended (a server stopping while its
// follower starts a new watch) stops at once, and the stop, run by the
// context's own goroutine, does not race with the watch's construction
// (go test -race found it: Stop read the unhook function newWatcher was
// still storing).
func TestWatchOnAnEndedContextStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 20 {
		w := newWatcher(ctx)
		<-w.stop
		w.Stop()
	}
}

// A watch whose context ends in another goroutine, during its setup or
// after (a server stopping while its dev clock starts a new watch), either
// fails or stops, without a race: go test -race found the stop, run by
// the context's goroutine, waiting for the followers unsynchronised with
// the setup that had started one.
func TestWatchWhoseContextEndsElsewhere(t *testing.T) {
	e := openT(t, Options{Dir: t.TempDir()})
	kv := bucketT(t, e, "w")
	for i := range 30 {
		ctx, cancel := context.WithCancel(context.Background())
		// Spread the end over the setup's steps and past them.
		time.AfterFunc(time.Duration(i)*200*time.Microsecond, cancel)
		if w, err := kv.Watch(ctx, "u."); err == nil {
			<-w.(*watcher).stop // the context's goroutine stops it
			w.Stop()
		}
		cancel()
	}
}

// A watch that fell behind never gets a revision the bucket replaced
// before delivering it (History 1): the changes it delivers from there
// until it caught up are marked Skipped, so that a reader does not take
// a change for the direct successor of the key's last one it saw. The
// changes before the skip, and after the catch-up, are not marked.
func TestWatchMarksWhatMayHaveSkippedARevision(t *testing.T) {
	ctx := ctxT(t)
	e := openT(t, Options{Dir: t.TempDir()})
	b := bucketT(t, e, "presence")
	w, err := b.Watch(ctx, "u.")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	// Nobody takes the watch's changes: its buffer and the client's fill,
	// the engine stops sending, and then x's first revision is replaced
	// before it was sent.
	const filler = 1500
	for i := range filler {
		if _, err := b.Put(ctx, fmt.Sprintf("u.t.k%d", i), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	r1, err := b.Put(ctx, "u.t.x", []byte("one"), 0)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := b.Put(ctx, "u.t.x", []byte("two"), r1)
	if err != nil {
		t.Fatal(err)
	}
	var upTo uint64 // the last change's SkippedUpTo
	next := func() (key string, rev uint64, skipped bool) {
		t.Helper()
		nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		c, err := w.Next(nctx)
		if err != nil {
			t.Fatal(err)
		}
		upTo = c.SkippedUpTo
		return c.Key, c.Revision, c.Skipped
	}
	first := true
	for {
		key, rev, skipped := next()
		if key == "u.t.x" {
			if rev != r2 || !skipped {
				t.Fatalf("x: revision %d (skipped %v); want %d, marked (%d was replaced before it was sent)", rev, skipped, r2, r1)
			}
			// What was skipped goes up to r1 (the filler's last ones may
			// have been delivered or not), never past it.
			if upTo != r1 {
				t.Fatalf("x: skipped up to %d, want %d", upTo, r1)
			}
			break
		}
		if skipped && upTo == 0 {
			t.Fatalf("%s at %d: marked, without how far the skip goes", key, rev)
		}
		if first && skipped {
			t.Fatalf("the first change (%s) is marked", key)
		}
		first = false
	}
	// Caught up: the next change is not marked.
	r3, err := b.Put(ctx, "u.t.x", []byte("three"), r2)
	if err != nil {
		t.Fatal(err)
	}
	if key, rev, skipped := next(); key != "u.t.x" || rev != r3 || skipped || upTo != 0 {
		t.Fatalf("after the catch-up: %s %d (skipped %v, up to %d)", key, rev, skipped, upTo)
	}
}

// A watch whose consumer stops delivering while it counts changes pending
// (its pull request lost on the way to the server that serves it, or the
// consumer on a replica whose catch-up does not wake it) makes its
// consumer again and delivers every change: here the consumer is paused
// under the watch, for longer than the test.
func TestWatchMakesAStalledConsumerAgain(t *testing.T) {
	ctx, e, kv := stallSetup(t, &watchIdle)
	w, err := kv.Watch(ctx, "u.")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := pauseConsumers(ctx, e, "KV_presence"); err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		if _, err := kv.Put(ctx, ukey(tenantA, fmt.Sprintf("user%02d", i)), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		c, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("change %d of %d: %v", i+1, n, err)
		}
		if want := ukey(tenantA, fmt.Sprintf("user%02d", i)); c.Key != want {
			t.Fatalf("change %d: %s, want %s", i+1, c.Key, want)
		}
	}
}

// stallSetup shortens *idle (walkIdle or watchIdle) for the test, and
// opens a single node with a "presence" bucket.
func stallSetup(t *testing.T, idle *time.Duration) (context.Context, *Engine, store.KV) {
	t.Helper()
	d := *idle
	t.Cleanup(func() { *idle = d })
	*idle = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(ctxT(t), 30*time.Second)
	t.Cleanup(cancel)
	e := openT(t, Options{Dir: t.TempDir()})
	return ctx, e, bucketT(t, e, "presence")
}

// pauseConsumers pauses every consumer of the stream for an hour: they
// stop delivering, as a consumer whose pull request was lost does.
func pauseConsumers(ctx context.Context, e *Engine, stream string) error {
	st, err := e.js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	for name := range st.ConsumerNames(ctx).Name() {
		if _, err := e.js.PauseConsumer(ctx, stream, name, time.Now().Add(time.Hour)); err != nil {
			return err
		}
	}
	return nil
}
