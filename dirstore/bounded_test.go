package dirstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/dirstore"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/store"
)

// stuckWatchKV is an engine whose watches never start: each waits until
// its context ends, as a cluster's engine does while it retries "no answer
// yet".
type stuckWatchKV struct{ store.SerialKV }

func (stuckWatchKV) Watch(ctx context.Context, _ string) (store.Watcher, error) {
	<-ctx.Done()
	return nil, context.Cause(ctx)
}

// openBounded opens a store with o under a context that ends after d, and
// fails the test if Open outlives it by more than hang (it then hangs
// for good: the test fails instead of waiting for it).
func openBounded(t *testing.T, o dirstore.Options, d, hang time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		s, err := dirstore.Open(ctx, o)
		if err == nil {
			s.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(d + hang):
		t.Fatalf("Open still runs %v after its context ended: it waits past its caller's deadline", hang)
		return nil
	}
}

// Open's watch of the directory lives as long as the store, but its start
// is bounded by Open's context: a watch that cannot start fails Open with
// the context's error, saying what it waited for. (It was started under
// the store's own context alone, which ends at Close: a start hung.)
func TestOpenWatchBoundedByItsContext(t *testing.T) {
	kv := enginetest.Bucket(t, "directory").(store.SerialKV)
	err := openBounded(t, dirstore.Options{KV: stuckWatchKV{kv}, Logger: quiet}, 200*time.Millisecond, 30*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "watching the directory") {
		t.Fatalf("Open: %v; want the deadline, naming the watch", err)
	}
	// The store's watch, once started, outlives Open's context.
	ctx, cancel := context.WithCancel(context.Background())
	s, err := dirstore.Open(ctx, dirstore.Options{KV: kv, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cancel()
	other, err := dirstore.Open(context.Background(), dirstore.Options{KV: kv, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Import(context.Background(), directory.DemoFile(0), nil); err != nil {
		t.Fatal(err)
	}
	within(t, time.Minute, "the store opened under an ended context follows another's import", func() bool {
		return s.Directory().UserCount() == 7
	})
}

// In a cluster that lost its quorum (two of three nodes stopped), the
// engine answers nothing about the directory's stream: Open gives up when
// its context ends, naming the watch it waited for, instead of retrying
// for as long as the node lives (a node's start hung 20 minutes so).
func TestOpenWithoutQuorumEndsWithItsContext(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := enginetest.StartCluster(t, 3, natsstore.Options{Replicas: 3, Logger: quiet})
	kv, err := c.Node(0).Bucket(context.Background(), "directory")
	if err != nil {
		t.Fatal(err)
	}
	c.Stop(1)
	c.Stop(2)
	err = openBounded(t, dirstore.Options{KV: kv.(store.SerialKV), Logger: quiet, Replicated: true}, 3*time.Second, 60*time.Second)
	if err == nil {
		t.Fatal("Open without quorum succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for a watch on KV_directory") {
		t.Fatalf("Open without quorum: %v; want the deadline, naming the watch it waited for", err)
	}
	t.Logf("Open without quorum: %v", err)
}
