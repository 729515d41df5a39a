package natsstore

import (
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A stream StartPast names is created numbered from its sequence: a
// bucket's first revision and a log's first sequence are those, and a
// stream that exists is left as it is.
func TestStartPastNumbersRecreatedStreams(t *testing.T) {
	dir := t.TempDir()
	e := openT(t, Options{Dir: dir})
	kept := bucketT(t, e, "kept")
	if _, err := kept.Put(ctxT(t), "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	e.StartPast(map[string]uint64{"KV_lost": 1001, "CHG": 501, "KV_kept": 77})
	kv := bucketT(t, e, "lost")
	rev, err := kv.Put(ctxT(t), "k", []byte("v"), 0)
	if err != nil || rev != 1001 {
		t.Fatalf("first revision of the re-created bucket: %d, %v; want 1001", rev, err)
	}
	if rev, err := kept.Put(ctxT(t), "k", []byte("w"), 1); err != nil || rev != 2 {
		t.Fatalf("an existing bucket was renumbered: revision %d, %v", rev, err)
	}
	lg, err := e.Log(ctxT(t), "CHG", LogOptions{Subjects: []string{"chg.>"}})
	if err != nil {
		t.Fatal(err)
	}
	if seq, err := lg.Append(ctxT(t), "chg.x", []byte("x")); err != nil || seq != 501 {
		t.Fatalf("first sequence of the re-created log: %d, %v; want 501", seq, err)
	}
	// Opened again (a second Bucket call, a restart): still numbered on.
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = openT(t, Options{Dir: dir})
	if rev, err := bucketT(t, e, "lost").Put(ctxT(t), "k", []byte("w"), 1001); err != nil || rev != 1002 {
		t.Fatalf("after a restart: revision %d, %v; want 1002", rev, err)
	}
}

// kvStreamConfig is the stream nats.go makes for a bucket: if nats.go
// changes what it creates, this fails rather than createPast making
// buckets nats.go would then have to update.
func TestKVStreamConfigIsNatsGos(t *testing.T) {
	e := openT(t, Options{Dir: t.TempDir()})
	for _, cfg := range []jetstream.KeyValueConfig{
		{Bucket: "plain", History: 1, Storage: jetstream.FileStorage, Replicas: 1},
		{Bucket: "marked", History: 1, Storage: jetstream.FileStorage, Replicas: 1, LimitMarkerTTL: time.Minute},
	} {
		kv, err := e.js.CreateKeyValue(ctxT(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		st, err := kv.Status(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		got := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config
		want := kvStreamConfig(cfg)
		// Filled in by the server, not by nats.go.
		got.Retention, got.Metadata, got.ConsumerLimits = want.Retention, want.Metadata, want.ConsumerLimits
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\nnats.go %+v\nours    %+v", cfg.Bucket, got, want)
		}
	}
}
