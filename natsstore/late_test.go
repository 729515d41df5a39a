package natsstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/store"
)

// A caller's deadline that passes before the engine answered (a loaded
// machine: issue #10) fails every operation with store.ErrUnavailable, so
// that the client is told to try again (503 with Retry-After), never an
// internal error (500). A deadline already passed stands for the engine
// that answered too late: deterministic, and what each path does when
// its request's deadline ends.
func TestLateAnswerIsUnavailable(t *testing.T) {
	t.Run("single node", func(t *testing.T) {
		e, err := natsstore.Open(context.Background(), natsstore.Options{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		lateOps(t, e)
	})
	t.Run("cluster", func(t *testing.T) {
		c := startCluster(t, natsstore.Options{Partitions: 1})
		lateOps(t, c.Node(0))
	})
}

func lateOps(t *testing.T, e *natsstore.Engine) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kv, err := e.Partitioned(ctx, "presence")
	if err != nil {
		t.Fatal(err)
	}
	l, err := e.Log(ctx, "CHANGES", natsstore.LogOptions{Subjects: []string{"chg.>"}, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := kv.Put(ctx, "u.t.a", []byte("v"), 0)
	if err != nil {
		t.Fatal(err)
	}
	seq, err := l.Append(ctx, "chg.t.a", []byte("r"))
	if err != nil {
		t.Fatal(err)
	}
	late, cancelLate := context.WithTimeout(context.Background(), 0)
	defer cancelLate()
	ops := []struct {
		name string
		do   func() error
	}{
		{"KV.Get", func() error { _, err := kv.Get(late, "u.t.a"); return err }},
		{"KV.GetMany", func() error { _, err := kv.GetMany(late, []string{"u.t.a"}); return err }},
		{"KV.Put", func() error { _, err := kv.Put(late, "u.t.a", []byte("w"), rev); return err }},
		{"KV.Put new", func() error { _, err := kv.Put(late, "u.t.b", []byte("w"), 0); return err }},
		{"KV.Delete", func() error { return kv.Delete(late, "u.t.a", rev) }},
		{"Log.Last", func() error { _, err := l.Last(late, "chg.t.a"); return err }},
		{"Log.LastSeq", func() error { _, err := l.LastSeq(late); return err }},
		{"Log.FirstSeq", func() error { _, err := l.FirstSeq(late); return err }},
		{"Log.LastMany", func() error { _, err := l.LastMany(late, []string{"chg.t.a"}, seq); return err }},
		{"Log.Append", func() error { _, err := l.Append(late, "chg.t.b", []byte("r")); return err }},
		{"Log.AppendAfter", func() error { _, err := l.AppendAfter(late, "chg.t.a", seq, []byte("s")); return err }},
	}
	for _, op := range ops {
		if err := op.do(); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s past its deadline: %v; want store.ErrUnavailable", op.name, err)
		}
	}
}
