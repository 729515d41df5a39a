package natsstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/presenced/presenced/store"
)

// Replay reads, per partition, exactly the changes after one position and
// up to another: each key at its newest revision within that range,
// deletions included, with its partition; WatchFrom delivers the same
// from a position on, and positions of other streams are refused.
func TestReplayAndWatchFromPositions(t *testing.T) {
	ctx := context.Background()
	e := openT(t, Options{Dir: t.TempDir(), Partitions: 3})
	kvI, err := e.Partitioned(ctx, "presence")
	if err != nil {
		t.Fatal(err)
	}
	kv := kvI.(store.Resumable)
	put := func(key, v string) {
		t.Helper()
		cur, err := kvI.Get(ctx, key)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		if _, err := kvI.Put(ctx, key, []byte(v), cur.Revision); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 30 {
		put(fmt.Sprintf("u.t.%d", i), "old")
	}
	before, err := kv.Positions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// After the positions: rewrites (one key twice), deletions, new keys.
	want := map[string]string{}
	for i := 0; i < 30; i += 4 {
		put(fmt.Sprintf("u.t.%d", i), "new")
		want[fmt.Sprintf("u.t.%d", i)] = "new"
	}
	put("u.t.0", "newer")
	want["u.t.0"] = "newer"
	for i := 1; i < 30; i += 9 {
		if err := kvI.Delete(ctx, fmt.Sprintf("u.t.%d", i), 0); err != nil {
			t.Fatal(err)
		}
		want[fmt.Sprintf("u.t.%d", i)] = "deleted"
	}
	put("u.t.new", "new")
	want["u.t.new"] = "new"
	upTo, err := kv.Positions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	put("u.t.2", "after upTo") // beyond upTo: not replayed

	read := func(c store.Change, got map[string]string) {
		t.Helper()
		if p := PartitionOf(c.Key, 3); p != c.Partition {
			t.Fatalf("%s: partition %d, it is in %d", c.Key, c.Partition, p)
		}
		if c.Revision <= before[c.Partition].Seq {
			t.Fatalf("%s at revision %d, at or before the position %d", c.Key, c.Revision, before[c.Partition].Seq)
		}
		v := string(c.Value)
		if c.Deleted {
			v = "deleted"
		}
		got[c.Key] = v
	}
	got := map[string]string{}
	if err := kv.Replay(ctx, "u.", before, upTo, func(c store.Change) error { read(c, got); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("replayed %v, want %v", got, want)
	}

	w, err := kv.WatchFrom(ctx, "u.", upTo)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := w.Next(wctx)
	if err != nil || c.Key != "u.t.2" || string(c.Value) != "after upTo" || c.Partition != PartitionOf("u.t.2", 3) {
		t.Fatalf("the watch from upTo delivered %+v, %v", c, err)
	}

	foreign := append([]store.Position(nil), before...)
	foreign[1].Stream = "KV_other"
	if err := kv.Replay(ctx, "u.", foreign, upTo, func(store.Change) error { return nil }); !errors.Is(err, errForeign) {
		t.Fatalf("replay from another stream's position: %v", err)
	}
	if _, err := kv.WatchFrom(ctx, "u.", before[:2]); !errors.Is(err, errForeign) {
		t.Fatalf("watch from too few positions: %v", err)
	}
}
