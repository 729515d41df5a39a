package notify_test

import (
	"context"
	"encoding/json"
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
	f := notify.NewFanout(l, nil)
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
