package natsstore

import (
	"context"
	"testing"
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
