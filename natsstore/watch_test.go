package natsstore

import (
	"context"
	"testing"
	"time"
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
