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
// its context ends (or the engine refuses), naming what it waited for,
// instead of retrying for as long as the node lives (a node's start hung
// 20 minutes so).
func TestOpenWithoutQuorumEndsWithItsContext(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := enginetest.StartCluster(t, 3, natsstore.Options{Replicas: 3, Logger: quiet})
	kv, err := c.Node(0).Bucket(context.Background(), "directory")
	if err != nil {
		t.Fatal(err)
	}
	// A stream's leader goes on answering for its stream long after its
	// quorum is gone (over a minute here): Open would start its watch
	// from that answer, and succeed. What is tested is the node that
	// answers nothing, so node 0 must not lead the directory's stream
	// once its peers are gone; their stops may hand it to node 0, and
	// then the peers are started and stopped again.
	for attempt := 1; ; attempt++ {
		within(t, time.Minute, "node 0 hands the directory's stream over", func() bool {
			leader := directoryLeader(c.Node(0))
			if leader == "n0" {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_ = c.Node(0).HandOver(ctx, "KV_directory", "n1")
			}
			return leader != "" && leader != "n0"
		})
		c.Stop(1)
		c.Stop(2)
		if directoryLeader(c.Node(0)) != "n0" {
			break
		}
		if attempt == 5 {
			t.Fatalf("node 0 took the directory's stream over as its peers stopped, %d times", attempt)
		}
		t.Logf("node 0 took the directory's stream over as its peers stopped; again")
		c.Restart(1)
		c.Restart(2)
	}
	err = openBounded(t, dirstore.Options{KV: kv.(store.SerialKV), Logger: quiet, Replicated: true}, 3*time.Second, 60*time.Second)
	if err == nil {
		t.Fatal("Open without quorum succeeded")
	}
	// Either the watch waited out Open's context, or the engine said at
	// once that it cannot answer (its meta group has no leader either):
	// both name what Open waited for.
	watch := errors.Is(err, context.DeadlineExceeded) && strings.Contains(err.Error(), "waiting for a watch on KV_directory")
	refused := errors.Is(err, store.ErrUnavailable) && strings.Contains(err.Error(), "directory/")
	if !watch && !refused {
		t.Fatalf("Open without quorum: %v; want the deadline or the engine's refusal, naming what it waited for", err)
	}
	t.Logf("Open without quorum: %v", err)
}

// directoryLeader is the name of the node that leads the directory's
// stream, as e's engine answers it within a second ("" for no answer).
func directoryLeader(e *natsstore.Engine) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := e.JetStream().Stream(ctx, "KV_directory")
	if err != nil {
		return ""
	}
	if info := st.CachedInfo(); info.Cluster != nil {
		return info.Cluster.Leader
	}
	return ""
}
