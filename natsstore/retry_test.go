package natsstore

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/store"
)

// TestSingleNodeRetriesNoAnswer: on a single node, an attempt that gets no
// answer within its own bound (a slow engine on a loaded machine) is tried
// again with a longer bound, up to singleNodePatience; a refusal is
// returned at once, and so is the end of the caller's context.
func TestSingleNodeRetriesNoAnswer(t *testing.T) {
	e := openT(t, Options{Dir: t.TempDir()})

	// The first attempt outlives its bound; the second answers.
	var bounds []time.Duration
	err := e.retry(ctxT(t), "a slow answer", func(ctx context.Context) error {
		d, _ := ctx.Deadline()
		bounds = append(bounds, time.Until(d).Round(100*time.Millisecond))
		if len(bounds) == 1 {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	})
	if err != nil || len(bounds) != 2 || bounds[1] <= bounds[0] {
		t.Fatalf("slow engine: err %v after attempts bounded by %v; want success at the second, with a longer bound", err, bounds)
	}

	refused := errors.New("refused")
	calls := 0
	if err := e.retry(ctxT(t), "a refusal", func(context.Context) error { calls++; return refused }); !errors.Is(err, refused) || calls != 1 {
		t.Fatalf("refusal: %v after %d calls; want it at once", err, calls)
	}

	ctx, cancel := context.WithCancel(context.Background())
	calls = 0
	err = e.retry(ctx, "a caller that gives up", func(actx context.Context) error { calls++; cancel(); <-actx.Done(); return actx.Err() })
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("caller's end: %v after %d calls", err, calls)
	}

	defer func(p time.Duration) { singleNodePatience = p }(singleNodePatience)
	singleNodePatience = 0
	calls = 0
	err = e.retry(ctxT(t), "a stuck engine", func(ctx context.Context) error { calls++; <-ctx.Done(); return ctx.Err() })
	if !errors.Is(err, context.DeadlineExceeded) || calls != 1 || !strings.Contains(err.Error(), "no answer from the engine") {
		t.Fatalf("stuck engine: %v after %d calls; want a clear give-up", err, calls)
	}
}

// retryBounded runs e.retry with ctx and fn, and fails the test if it
// still runs after hang (it then retries for good).
func retryBounded(t *testing.T, e *Engine, ctx context.Context, what string, fn func(context.Context) error, hang time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- e.retry(ctx, what, fn) }()
	select {
	case err := <-done:
		return err
	case <-time.After(hang):
		t.Fatalf("retry for %s still runs after %v", what, hang)
		return nil
	}
}

// TestClusterRetryHasABoundOfItsOwn: in a cluster, "not yet" is retried
// until the caller's context ends or the wait's own bound (clusterPatience)
// passes, whichever is first, and the error names what was waited for. A
// caller whose context never ends (a watch begun under a store's life) no
// longer waits for ever: a node's start hung 20 minutes so.
func TestClusterRetryHasABoundOfItsOwn(t *testing.T) {
	e := &Engine{opts: Options{Cluster: &ClusterOptions{}}, log: slog.New(slog.DiscardHandler)}
	defer func(p time.Duration) { clusterPatience = p }(clusterPatience)
	clusterPatience = 1500 * time.Millisecond

	// No answer ever, under a context that never ends; each attempt is
	// bounded within what is left of the wait's own bound.
	var bounds []time.Duration
	err := retryBounded(t, e, context.Background(), "a silent cluster", func(ctx context.Context) error {
		d, ok := ctx.Deadline()
		if !ok {
			t.Error("an attempt without a deadline")
		}
		bounds = append(bounds, time.Until(d))
		<-ctx.Done()
		return ctx.Err()
	}, 30*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "gave up after") || !strings.Contains(err.Error(), "a silent cluster") {
		t.Fatalf("silent cluster: %v; want a give-up naming what it waited for", err)
	}
	if len(bounds) < 2 || bounds[len(bounds)-1] > clusterPatience {
		t.Fatalf("silent cluster: attempts bounded by %v; want several, none past the wait's own bound", bounds)
	}

	// A refusal that means "not yet" (no leader), at once each time.
	calls := 0
	err = retryBounded(t, e, context.Background(), "a leaderless stream", func(context.Context) error { calls++; return store.ErrUnavailable }, 30*time.Second)
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "a leaderless stream") || calls < 2 {
		t.Fatalf("leaderless stream: %v after %d calls", err, calls)
	}

	// The caller's context ends first: its cause, and what was waited for.
	clusterPatience = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = retryBounded(t, e, ctx, "a meta leader", func(context.Context) error { return store.ErrUnavailable }, 30*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for a meta leader") {
		t.Fatalf("caller's deadline: %v", err)
	}
}
