package natsstore

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/store"
)

// A bucket whose writer is alone (SoleWriter) stores a write with an
// expected revision without the revision header — the engine checks
// nothing — and answers the write's revision as before: the one a Get
// then reads, with the value written.
func TestSoleWriterStoresWithoutTheCheck(t *testing.T) {
	ctx := ctxT(t)
	e := openT(t, Options{Dir: t.TempDir()})
	b := bucketT(t, e, "presence").(*kv)
	key := ukey(tenantA, user1)
	r1, err := b.Put(ctx, key, []byte("one"), 0)
	if err != nil {
		t.Fatal(err)
	}
	hdr := func() string { // the stored message's revision header
		s, err := b.js.Stream(ctx, b.stream)
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.GetLastMsgForSubject(ctx, b.prefix+key)
		if err != nil {
			t.Fatal(err)
		}
		return m.Header.Get(jetstream.ExpectedLastSubjSeqHeader)
	}
	r2, err := b.Put(ctx, key, []byte("two"), r1)
	if err != nil {
		t.Fatal(err)
	}
	if h := hdr(); h == "" {
		t.Fatal("a checked write was stored without its revision header")
	}
	if !SoleWriter(b) {
		t.Fatal("SoleWriter refused a single node's bucket")
	}
	r3, err := b.Put(ctx, key, []byte("three"), r2)
	if err != nil {
		t.Fatal(err)
	}
	if h := hdr(); h != "" {
		t.Fatalf("a sole writer's write was stored with the revision header %q", h)
	}
	got, err := b.Get(ctx, key)
	if err != nil || got.Revision != r3 || string(got.Value) != "three" || r3 <= r2 {
		t.Fatalf("after the sole write: %+v, %v; its answer %d (before %d)", got, err, r3, r2)
	}
	// A write without an expected revision still checks the key is new.
	if _, err := b.Put(ctx, key, []byte("four"), 0); err == nil {
		t.Fatal("a create over an existing key was stored")
	}
}

// SoleWriter takes only this engine's buckets, and every partition of a
// partitioned one.
func TestSoleWriterTakesPartitions(t *testing.T) {
	ctx := ctxT(t)
	e := openT(t, Options{Dir: t.TempDir(), Partitions: 3})
	p, err := e.Partitioned(ctx, "presence")
	if err != nil {
		t.Fatal(err)
	}
	if !SoleWriter(p) {
		t.Fatal("SoleWriter refused a partitioned bucket")
	}
	for i, b := range p.(*partitioned).parts {
		if !b.sole {
			t.Fatalf("partition %d not marked", i)
		}
	}
	var other store.KV = struct{ store.KV }{p}
	if SoleWriter(other) {
		t.Fatal("SoleWriter took a KV that is not the engine's")
	}
}
