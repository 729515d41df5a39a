package notify_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/notify"
)

// sink takes a direct feed's changes on the fanout's writers, as a stream
// does, or takes none (stuck).
type sink struct {
	fd    *notify.Feed
	stuck bool
	mu    sync.Mutex
	got   []string
	more  chan struct{}
}

func (s *sink) Deliver() {
	if s.stuck {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		e, ok := s.fd.TakeDirect()
		if !ok {
			return
		}
		s.got = append(s.got, fmt.Sprintf("%s%d", e.Change.UserID, e.Change.Seq.At))
		select {
		case s.more <- struct{}{}:
		default:
		}
	}
}

func (s *sink) wait(t *testing.T, n int) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		got := fmt.Sprint(s.got)
		done := len(s.got) >= n
		s.mu.Unlock()
		if done {
			return got
		}
		select {
		case <-s.more:
		case <-deadline:
			t.Fatalf("the sink got %s, want %d changes", got, n)
		}
	}
}

// A feed goes direct only once it caught up with the log; then its changes
// reach its sink on the fanout's writers, every one, once, in order, and
// its reader is not woken for them; given back (Undirect), they reach the
// reader's Next again.
func TestDirectFeedGoesToItsSinkOnceCaughtUp(t *testing.T) {
	l := changeLog(t)
	f := notify.NewFanout(notify.FanoutOptions{Log: l})
	first := appendChange(t, l, "a", 0)
	f.SetPosition(first) // the fanout starts after it: a feed from it reads it from the log
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)
	subs := []string{notify.Subject(core.UserRef{TenantID: "t", UserID: "a"})}
	fd := f.Open(subs, first) // the first change is read from the log
	defer fd.Close()
	s := &sink{fd: fd, more: make(chan struct{}, 1)}
	if fd.TryDirect(s) {
		t.Fatal("a feed with a change to read from the log went direct")
	}
	if e, err := fd.Next(ctx, 0); err != nil || e.Change.Seq.At != 0 {
		t.Fatalf("from the log: %+v %v", e, err)
	}
	if !fd.TryDirect(s) || !fd.Direct() {
		t.Fatal("a caught-up feed did not go direct")
	}
	for i := 1; i <= 50; i++ {
		appendChange(t, l, "a", i)
	}
	want := "[a1"
	for i := 2; i <= 50; i++ {
		want += fmt.Sprintf(" a%d", i)
	}
	if got := s.wait(t, 50); got != want+"]" {
		t.Fatalf("the sink got %s", got)
	}
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelShort()
	if err := fd.Wait(short, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the direct feed's reader was woken: %v", err)
	}
	fd.Undirect()
	appendChange(t, l, "a", 51)
	if e, err := fd.Next(ctx, 0); err != nil || e.Change.Seq.At != 51 {
		t.Fatalf("after Undirect, Next got %+v %v", e, err)
	}
	if got := s.wait(t, 50); got != want+"]" {
		t.Fatalf("after Undirect the sink got %s", got)
	}
}

// A direct feed whose sink takes nothing is bounded like any other: past
// MaxQueue it is dropped, no longer direct, its reader woken, and Next says
// ErrLagged.
func TestDirectFeedThatFallsBehindIsDropped(t *testing.T) {
	l := changeLog(t)
	f := notify.NewFanout(notify.FanoutOptions{Log: l, MaxQueue: 4})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)
	fd := f.Open([]string{notify.Subject(core.UserRef{TenantID: "t", UserID: "a"})}, 0)
	defer fd.Close()
	if !fd.TryDirect(&sink{fd: fd, stuck: true}) {
		t.Fatal("a new feed did not go direct")
	}
	for i := range 5 {
		appendChange(t, l, "a", i)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := fd.Wait(wctx, 0); err != nil {
		t.Fatalf("the reader of the dropped feed was not woken: %v", err)
	}
	if fd.Direct() {
		t.Fatal("the dropped feed is still direct")
	}
	if _, err := fd.Next(ctx, 0); !errors.Is(err, notify.ErrLagged) {
		t.Fatalf("Next got %v, want ErrLagged", err)
	}
}
