package natsstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/store"
)

func openLog(t *testing.T, dir string) (*natsstore.Engine, store.Log) {
	t.Helper()
	ctx := context.Background()
	e, err := natsstore.Open(ctx, natsstore.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	l, err := e.Log(ctx, "CHANGES", natsstore.LogOptions{Subjects: []string{"chg.>"}, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return e, l
}

func TestLogAppendLastFollow(t *testing.T) {
	e, l := openLog(t, t.TempDir())
	defer e.Close()
	ctx := context.Background()
	if _, err := l.Last(ctx, "chg.t.a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Last of nothing: %v", err)
	}
	for i := range 6 {
		subj := []string{"chg.t.a", "chg.t.b", "chg.t.c"}[i%3]
		if _, err := l.Append(ctx, subj, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	last, err := l.Last(ctx, "chg.t.b")
	if err != nil || string(last.Data) != "4" || last.Seq != 5 {
		t.Fatalf("Last = %+v, %v", last, err)
	}
	if n, _ := l.LastSeq(ctx); n != 6 {
		t.Fatalf("LastSeq = %d", n)
	}
	// Follow from seq 2 over a and c: 2(c), 3(a), 5(c)... then live.
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var got []string
	go func() {
		time.Sleep(100 * time.Millisecond)
		_, _ = l.Append(ctx, "chg.t.a", []byte("live"))
	}()
	err = l.Follow(fctx, []string{"chg.t.a", "chg.t.c"}, 2, func(r store.Record) error {
		got = append(got, fmt.Sprintf("%d:%s", r.Seq, r.Data))
		if string(r.Data) == "live" {
			return errors.New("enough")
		}
		return nil
	})
	if err == nil || err.Error() != "enough" || fmt.Sprint(got) != "[3:2 4:3 6:5 7:live]" {
		t.Fatalf("Follow: %v %v", got, err)
	}
}

// A durable cursor hands out each record once it is Done, in order, and
// after a restart hands out again what was not Done.
func TestCursorSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	e, l := openLog(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := l.OpenCursor(ctx, "sub-1", []string{"chg.t.a", "chg.t.b"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"chg.t.a", "chg.t.x", "chg.t.b", "chg.t.a"} {
		if _, err := l.Append(ctx, s, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	p, err := c.Next(ctx)
	if err != nil || p.Record().Seq != 1 {
		t.Fatalf("first: %v", err)
	}
	if err := p.Done(); err != nil {
		t.Fatal(err)
	}
	p, err = c.Next(ctx)
	if err != nil || p.Record().Seq != 3 {
		t.Fatalf("second: %+v %v", p, err)
	}
	// Not Done: after a restart it comes again.
	c.Close()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e, l = openLog(t, dir)
	defer e.Close()
	c, err = l.OpenCursor(ctx, "sub-1", []string{"chg.t.a", "chg.t.b"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, want := range []uint64{3, 4} {
		p, err := c.Next(ctx)
		if err != nil || p.Record().Seq != want {
			t.Fatalf("after restart want %d: %v", want, err)
		}
		if err := p.Done(); err != nil {
			t.Fatal(err)
		}
	}
	names, err := l.Cursors(ctx)
	if err != nil || fmt.Sprint(names) != "[sub-1]" {
		t.Fatalf("Cursors = %v %v", names, err)
	}
	if err := l.DeleteCursor(ctx, "sub-1"); err != nil {
		t.Fatal(err)
	}
	if err := l.DeleteCursor(ctx, "sub-1"); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
}
