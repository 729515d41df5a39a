package natsstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// Read returns the kept records of a range, then returns: replays of a
// stream that reconnects.
func TestLogRead(t *testing.T) {
	e, l := openLog(t, t.TempDir())
	defer e.Close()
	ctx := context.Background()
	for i := range 10 {
		subj := []string{"chg.t.a", "chg.t.b"}[i%2]
		if _, err := l.Append(ctx, subj, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	read := func(subjects []string, from, to uint64) string {
		var got []string
		if err := l.Read(ctx, subjects, from, to, func(r store.Record) error {
			got = append(got, fmt.Sprintf("%d:%s", r.Seq, r.Data))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(got)
	}
	for _, c := range []struct {
		subjects []string
		from, to uint64
		want     string
	}{
		{[]string{"chg.t.a"}, 1, 10, "[1:0 3:2 5:4 7:6 9:8]"},
		{[]string{"chg.t.b"}, 3, 6, "[4:3 6:5]"},
		{[]string{"chg.t.a", "chg.t.b"}, 9, 100, "[9:8 10:9]"},
		{[]string{"chg.t.c"}, 1, 10, "[]"},
		{[]string{"chg.t.a"}, 11, 20, "[]"},
		{[]string{"chg.t.a"}, 5, 4, "[]"},
	} {
		if got := read(c.subjects, c.from, c.to); got != c.want {
			t.Errorf("Read(%v, %d, %d) = %s, want %s", c.subjects, c.from, c.to, got, c.want)
		}
	}
}

// LastMany reads each subject's newest record at or before a position, in
// one batched request, aligned with the subjects asked (a repeat too); a
// subject without a record by then reads as the zero Record. A log
// created before it allowed direct gets is updated when opened again.
func TestLogLastMany(t *testing.T) {
	dir := t.TempDir()
	e, l := openLog(t, dir)
	ctx := context.Background()
	// 1:a 2:b 3:a 4:c 5:a
	for i, subj := range []string{"chg.t.a", "chg.t.b", "chg.t.a", "chg.t.c", "chg.t.a"} {
		if _, err := l.Append(ctx, subj, []byte(fmt.Sprint(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	subjects := []string{"chg.t.a", "chg.t.b", "chg.t.c", "chg.t.none", "chg.t.a"}
	for _, c := range []struct {
		upTo uint64
		want string
	}{
		{0, "5 2 4 0 5"},
		{4, "3 2 4 0 3"},
		{3, "3 2 0 0 3"},
		{1, "1 0 0 0 1"},
		{99, "5 2 4 0 5"},
	} {
		got, err := l.LastMany(ctx, subjects, c.upTo)
		if err != nil {
			t.Fatalf("up to %d: %v", c.upTo, err)
		}
		var seqs []string
		for i, r := range got {
			seqs = append(seqs, fmt.Sprint(r.Seq))
			if r.Seq != 0 && (r.Subject != subjects[i] || string(r.Data) != fmt.Sprint(r.Seq) || r.Time.IsZero()) {
				t.Fatalf("up to %d, %s: %+v", c.upTo, subjects[i], r)
			}
		}
		if s := fmt.Sprint(strings.Join(seqs, " ")); s != c.want {
			t.Errorf("up to %d: %s, want %s", c.upTo, s, c.want)
		}
	}
	e.Close()
	// Reopened: still answered (the stream's settings kept direct gets).
	e, l = openLog(t, dir)
	defer e.Close()
	if got, err := l.LastMany(ctx, []string{"chg.t.c"}, 4); err != nil || got[0].Seq != 4 {
		t.Fatalf("after a restart: %+v %v", got, err)
	}
}
