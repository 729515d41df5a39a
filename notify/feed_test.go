package notify

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
)

func since(t time.Time) time.Duration { return clock.Real{}.Now().Sub(t) }

// feedOfTap is a feed reading only tap (nothing from the log).
func feedOfTap() (*Feed, *Tap) {
	tap := &Tap{signal: make(chan struct{}, 1)}
	return &Feed{fan: NewFanout(FanoutOptions{}), tap: tap, from: 1, next: 1}, tap
}

// ErrIdle comes only once the idle time passed since the last call, not
// when a timer set at an earlier call would have fired; and every time it
// is asked for again, or for another idle time.
func TestFeedIdleCountsFromTheLastChange(t *testing.T) {
	fd, tap := feedOfTap()
	defer fd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const idle = 200 * time.Millisecond
	tap.push(Entry{Seq: 1}, 100)
	if e, err := fd.Next(ctx, idle); err != nil || e.Seq != 1 {
		t.Fatalf("first: %v %v", e.Seq, err)
	}
	// The timer set by that call fires ~200 ms from it; a change taken
	// 150 ms in moves the deadline to ~350 ms.
	clock.Sleep(ctx, 150*time.Millisecond)
	tap.push(Entry{Seq: 2}, 100)
	if e, err := fd.Next(ctx, idle); err != nil || e.Seq != 2 {
		t.Fatalf("second: %v %v", e.Seq, err)
	}
	for round := range 3 {
		start := clock.Real{}.Now()
		_, err := fd.Next(ctx, idle)
		if took := since(start); !errors.Is(err, ErrIdle) || took < idle {
			t.Fatalf("round %d: %v after %v, want ErrIdle after %v or more", round, err, took, idle)
		}
	}
	// Another idle time: the timer is set for it.
	start := clock.Real{}.Now()
	if _, err := fd.Next(ctx, 50*time.Millisecond); !errors.Is(err, ErrIdle) || since(start) < 50*time.Millisecond {
		t.Fatalf("shorter idle: %v", err)
	}
	// And a change that comes while it waits is handed out at once.
	go func() {
		clock.Sleep(ctx, 30*time.Millisecond)
		tap.push(Entry{Seq: 3}, 100)
	}()
	if e, err := fd.Next(ctx, time.Hour); err != nil || e.Seq != 3 {
		t.Fatalf("while waiting: %v %v", e.Seq, err)
	}
}

// The end of the context wakes a waiting Next, with and without an idle
// time, and a later context given to the same feed is the one that counts.
func TestFeedWakesWhenItsContextEnds(t *testing.T) {
	fd, tap := feedOfTap()
	defer fd.Close()
	for _, idle := range []time.Duration{0, time.Hour} {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			clock.Sleep(context.Background(), 30*time.Millisecond)
			cancel()
		}()
		if _, err := fd.Next(ctx, idle); !errors.Is(err, context.Canceled) {
			t.Fatalf("idle %v: %v, want context.Canceled", idle, err)
		}
	}
	tap.push(Entry{Seq: 1}, 100)
	if e, err := fd.Next(context.Background(), 0); err != nil || e.Seq != 1 {
		t.Fatalf("after: %v %v", e.Seq, err)
	}
	// Dropped for falling behind: ErrLagged, as from the tap itself.
	for i := range 3 {
		tap.push(Entry{Seq: uint64(2 + i)}, 2)
	}
	if _, err := fd.Next(context.Background(), 0); !errors.Is(err, ErrLagged) {
		t.Fatalf("lagged: %v", err)
	}
}
