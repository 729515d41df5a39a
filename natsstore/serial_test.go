package natsstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/store"
)

// A write after revision r succeeds only while r is the bucket's newest
// write, to any key: a write of another key, or a delete, in between makes
// it a conflict, and nothing is written.
func TestPutAfterOrdersTheWholeBucket(t *testing.T) {
	ctx := context.Background()
	kv := enginetest.Bucket(t, "serial").(store.SerialKV)
	last, err := kv.LastRevision(ctx)
	if err != nil || last != 0 {
		t.Fatalf("empty bucket: last %d, %v", last, err)
	}
	r1, err := kv.PutAfter(ctx, "a", []byte("1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := kv.Put(ctx, "b", []byte("x"), 0) // another key, another writer
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutAfter(ctx, "a", []byte("2"), r1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a write after a stale revision: %v, want ErrConflict", err)
	}
	if e, _ := kv.Get(ctx, "a"); string(e.Value) != "1" {
		t.Fatalf("the refused write was stored: %q", e.Value)
	}
	if _, err := kv.PutAfter(ctx, "c", []byte("new"), r1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a new key after a stale revision: %v", err)
	}
	r3, err := kv.PutAfter(ctx, "a", []byte("2"), r2)
	if err != nil || r3 <= r2 {
		t.Fatalf("a write after the newest revision: %d %v", r3, err)
	}
	r4, err := kv.DeleteAfter(ctx, "b", r3)
	if err != nil || r4 <= r3 {
		t.Fatalf("DeleteAfter: %d %v", r4, err)
	}
	if _, err := kv.Get(ctx, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted key: %v", err)
	}
	if _, err := kv.DeleteAfter(ctx, "a", r3); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a delete after a stale revision: %v", err)
	}
	if last, err := kv.LastRevision(ctx); err != nil || last != r4 {
		t.Fatalf("LastRevision %d, %v; want %d (the delete marker)", last, err, r4)
	}
}
