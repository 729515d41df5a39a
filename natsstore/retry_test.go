package natsstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
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
