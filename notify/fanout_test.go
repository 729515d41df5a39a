package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/notify"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

func changeLog(t *testing.T) store.Log {
	t.Helper()
	l, err := enginetest.Open(t).Log(context.Background(), "CHANGES", natsstore.LogOptions{Subjects: []string{"chg.>"}, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func appendChange(t *testing.T, l store.Log, user string, n int) uint64 {
	t.Helper()
	u := core.UserRef{TenantID: "t", UserID: user}
	b, _ := json.Marshal(notify.Change{TenantID: "t", UserID: user, Seq: presence.Stamp{At: int64(n)}})
	seq, err := l.Append(context.Background(), notify.Subject(u), b)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func take(t *testing.T, tap *notify.Tap, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	for range n {
		e, err := tap.Next(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, fmt.Sprintf("%s%d", e.Change.UserID, e.Change.Seq.At))
	}
	return got
}

// Each tap gets the changes of its own users, all of them, in log order;
// a detached tap gets nothing more; a replay reads what came before a tap.
func TestFanoutHandsEachTapItsUsersInOrder(t *testing.T) {
	l := changeLog(t)
	f := notify.NewFanout(notify.FanoutOptions{Log: l})
	before := appendChange(t, l, "a", 0)
	f.SetPosition(before)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)

	sub := func(users ...string) []string {
		var out []string
		for _, u := range users {
			out = append(out, notify.Subject(core.UserRef{TenantID: "t", UserID: u}))
		}
		return out
	}
	ab, bOnly, gone := f.Attach(sub("a", "b")), f.Attach(sub("b")), f.Attach(sub("a"))
	f.Detach(gone)
	for i, u := range []string{"a", "b", "c", "a", "b"} {
		appendChange(t, l, u, i+1)
	}
	if got := fmt.Sprint(take(t, ab, 4)); got != "[a1 b2 a4 b5]" {
		t.Errorf("tap a+b got %s", got)
	}
	if got := fmt.Sprint(take(t, bOnly, 2)); got != "[b2 b5]" {
		t.Errorf("tap b got %s", got)
	}
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	if e, err := gone.Next(short); err == nil {
		t.Errorf("a detached tap got %+v", e)
	}
	var replay []string
	if err := f.Replay(ctx, sub("a"), 1, ab.Start(), func(e notify.Entry) error {
		replay = append(replay, fmt.Sprintf("%s%d", e.Change.UserID, e.Change.Seq.At))
		return nil
	}); err != nil || fmt.Sprint(replay) != "[a0]" {
		t.Errorf("replay before the tap: %v %v", replay, err)
	}
}

// A tap holds at most MaxQueue changes: one whose reader falls further
// behind is dropped at once (its queue let go) and its reader learns it
// with ErrLagged, while the other taps of the same users go on.
func TestFanoutDropsATapThatFallsTooFarBehind(t *testing.T) {
	l := changeLog(t)
	f := notify.NewFanout(notify.FanoutOptions{Log: l, MaxQueue: 4})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)
	subs := []string{notify.Subject(core.UserRef{TenantID: "t", UserID: "a"})}
	stuck, keeping := f.Attach(subs), f.Attach(subs)
	for i := range 6 {
		appendChange(t, l, "a", i)
		if got := fmt.Sprint(take(t, keeping, 1)); got != fmt.Sprintf("[a%d]", i) {
			t.Fatalf("the reader that keeps up got %s", got)
		}
	}
	if _, err := stuck.Next(ctx); !errors.Is(err, notify.ErrLagged) {
		t.Fatalf("the reader 6 changes behind a queue of 4 got %v, want ErrLagged", err)
	}
	appendChange(t, l, "a", 6)
	if got := fmt.Sprint(take(t, keeping, 1)); got != "[a6]" {
		t.Fatalf("after the drop the reader that keeps up got %s", got)
	}
}

// A feed opened at an older position reads what is already logged from the
// log, in pages, and then goes on live, in order and without a gap; while
// nothing comes it says so after the idle time it was given.
func TestFeedReadsTheLogThenGoesLive(t *testing.T) {
	l := changeLog(t)
	f := notify.NewFanout(notify.FanoutOptions{Log: l})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const logged = 600 // more than a page
	var first uint64
	for i := range logged {
		seq := appendChange(t, l, "a", i)
		appendChange(t, l, "b", i) // another user's, not read
		if i == 0 {
			first = seq
		}
	}
	last, _ := l.LastSeq(ctx)
	f.SetPosition(last)
	go f.Run(ctx)
	feed := f.Open([]string{notify.Subject(core.UserRef{TenantID: "t", UserID: "a"})}, first+2) // skips a0
	defer feed.Close()
	next := func() string {
		e, err := feed.Next(ctx, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%s%d", e.Change.UserID, e.Change.Seq.At)
	}
	for i := 1; i < logged; i++ {
		if got := next(); got != fmt.Sprintf("a%d", i) {
			t.Fatalf("change %d read from the log: %s", i, got)
		}
	}
	appendChange(t, l, "a", logged)
	if got := next(); got != fmt.Sprintf("a%d", logged) {
		t.Fatalf("live: %s", got)
	}
	if _, err := feed.Next(ctx, 50*time.Millisecond); !errors.Is(err, notify.ErrIdle) {
		t.Fatalf("nothing new: %v, want ErrIdle", err)
	}
}

// OpenAfter skips the changes up to a position the fanout has not handed
// out yet (what a new subscription's watch just logged: its users'
// presence as it already was), where Open(…, 0) would get them.
func TestOpenAfterSkipsWhatTheFanoutHasNotHandedOut(t *testing.T) {
	l := changeLog(t)
	f := notify.NewFanout(notify.FanoutOptions{Log: l})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := []string{notify.Subject(core.UserRef{TenantID: "t", UserID: "a"})}
	caughtUp := appendChange(t, l, "a", 0) // logged, not handed out yet
	f.SetPosition(caughtUp - 1)
	all := f.OpenAfter(a, 0) // as Open(a, 0)
	defer all.Close()
	after := f.OpenAfter(a, caughtUp)
	defer after.Close()
	go f.Run(ctx)
	appendChange(t, l, "a", 1)
	for _, c := range []struct {
		feed *notify.Feed
		want int64
	}{{all, 0}, {after, 1}} {
		e, err := c.feed.Next(ctx, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if e.Change.Seq.At != c.want {
			t.Fatalf("first change read: a%d, want a%d", e.Change.Seq.At, c.want)
		}
	}
}

// The readers of one change share what one of them encoded of it, per
// shape: the first to keep bytes for a shape wins, the others get those
// bytes, and a change read from the log by one reader keeps nothing.
func TestFanoutReadersShareEncodings(t *testing.T) {
	l := changeLog(t)
	f := notify.NewFanout(notify.FanoutOptions{Log: l})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)
	subj := []string{notify.Subject(core.UserRef{TenantID: "t", UserID: "a"})}
	t1, t2 := f.Attach(subj), f.Attach(subj)
	seq := appendChange(t, l, "a", 1)
	next := func(tap *notify.Tap) notify.Entry {
		e, err := tap.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e1, e2 := next(t1), next(t2)
	if e1.Encoded(0) != nil || e1.Encoded(1) != nil {
		t.Fatal("nothing was kept yet")
	}
	if got := string(e1.KeepEncoded(0, []byte("zero"))); got != "zero" {
		t.Fatalf("first keep of shape 0 returned %q", got)
	}
	if got := string(e2.KeepEncoded(0, []byte("again"))); got != "zero" {
		t.Fatalf("second reader's keep of shape 0 returned %q, want the first one's", got)
	}
	if got := string(e2.Encoded(0)); got != "zero" {
		t.Fatalf("the other reader sees %q for shape 0", got)
	}
	if e2.Encoded(1) != nil {
		t.Fatal("shape 1 is kept apart from shape 0")
	}
	e2.KeepEncoded(1, []byte("one"))
	if got := string(e1.Encoded(1)); got != "one" {
		t.Fatalf("shape 1 = %q", got)
	}
	err := f.Replay(ctx, subj, seq, seq, func(e notify.Entry) error {
		if got := string(e.KeepEncoded(0, []byte("replayed"))); got != "replayed" || e.Encoded(0) != nil {
			t.Errorf("a replayed change kept %q", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
