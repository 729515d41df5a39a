package natsstore

import (
	"context"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/store"
)

// update stores what nats.go's KeyValue.Update stores: the same subject,
// value and headers, at the next revision, with the same conflicts.
func TestUpdateIsKVUpdate(t *testing.T) {
	ctx := ctxT(t)
	e := openT(t, Options{Dir: t.TempDir()})
	s := bucketT(t, e, "presence")
	b := s.(*kv)
	mine, theirs := ukey(tenantA, user1), ukey(tenantA, user2)
	r1, err := b.Put(ctx, mine, []byte("one"), 0)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := b.Put(ctx, theirs, []byte("one"), 0)
	if err != nil {
		t.Fatal(err)
	}
	got := sameAsKVUpdate(t, e, b, mine, theirs, r1, r2, "update", func(rev uint64) (uint64, error) {
		return b.update(ctx, mine, []byte("two"), rev, true)
	})

	// A stale revision is a conflict, and writes nothing.
	if _, err := b.update(ctx, mine, []byte("three"), r1, true); !errors.Is(err, store.ErrConflict) && !isConflict(err) {
		t.Fatalf("stale revision: %v, want a conflict", err)
	}
	if _, err := b.Put(ctx, mine, []byte("three"), r1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Put at a stale revision: %v, want ErrConflict", err)
	}
	if e, err := b.Get(ctx, mine); err != nil || string(e.Value) != "two" || e.Revision != got {
		t.Fatalf("after the conflicts: %+v, %v", e, err)
	}
	// A revision that was never the key's (another key's) is one too.
	if _, err := b.Put(ctx, mine, []byte("three"), got+1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Put at another key's revision: %v, want ErrConflict", err)
	}
	// Keys KeyValue.Update refuses, update refuses.
	for _, k := range []string{"", ".a", "a.", "a..b", "a b", "a*", "a>", "ä"} {
		if _, err := b.update(ctx, k, []byte("x"), 1, true); !errors.Is(err, jetstream.ErrInvalidKey) {
			t.Errorf("update(%q): %v, want ErrInvalidKey", k, err)
		}
		if _, err := b.kv.Update(ctx, k, []byte("x"), 1); !errors.Is(err, jetstream.ErrInvalidKey) {
			t.Errorf("KeyValue.Update(%q): %v, want ErrInvalidKey", k, err)
		}
	}
}

// validKey accepts exactly the keys nats.go's KeyValue accepts.
func FuzzValidKey(f *testing.F) {
	for _, k := range []string{"u.t.u", "", ".", "a..b", "a.", ".a", "a-b_c=d/e", "a b", "*", ">", "ä", "u.0f8fad5b-d9cb-469f-a165-70867728950e.a0eebc99"} {
		f.Add(k)
	}
	re := regexp.MustCompile(`^[-/_=\.a-zA-Z0-9]+$`) // nats.go's validKeyRe
	f.Fuzz(func(t *testing.T, k string) {
		want := len(k) > 0 && k[0] != '.' && k[len(k)-1] != '.' && !strings.Contains(k, "..") && re.MatchString(k)
		if got := validKey(k); got != want {
			t.Fatalf("validKey(%q) = %v, nats.go's rule says %v", k, got, want)
		}
	})
}

// FuzzPlainAck: every acknowledgement plainAck takes, the JSON decoder
// reads to the same sequence.
func FuzzPlainAck(f *testing.F) {
	for _, d := range []string{`{"stream":"KV_presence","seq":42}`, `{"stream":"KV_presence","seq":18446744073709551615}`,
		`{"stream":"KV_presence","seq":042}`, `{"stream":"KV_presence","seq":}`, `{"stream":"KV_presence","seq":4 }`,
		`{"stream":"KV_presence","seq":9999999999999999999}`, `{"stream":"KV_presenc","seq":1}`} {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		seq, ok := plainAck(data, "KV_presence")
		if !ok {
			return
		}
		var a pubAck
		if err := jsonv2.Unmarshal(data, &a); err != nil || a.Error != nil || a.Stream != "KV_presence" || a.Seq != seq || seq == 0 {
			t.Fatalf("plainAck(%q) = %d; the decoder: %+v, %v", data, seq, a, err)
		}
	})
}

func TestParseAck(t *testing.T) {
	for _, tc := range []struct {
		data     string
		seq      uint64
		conflict bool
		bad      bool
	}{
		{data: `{"stream":"KV_presence","seq":42}`, seq: 42},
		{data: `{"stream":"KV_presence","seq":9999999999999999999}`, seq: 9999999999999999999},
		{data: `{"stream":"KV_presence","seq":18446744073709551615}`, seq: 18446744073709551615},
		{data: `{"stream":"KV_presence","seq":18446744073709551616}`, bad: true},
		{data: `{"stream":"KV_presence","seq":0}`, bad: true},
		{data: `{"stream":"KV_presence","seq":-1}`, bad: true},
		{data: `{"stream":"KV_presence_x","seq":42}`, bad: true},
		{data: `{"stream":"KV_presence","seq":42,"domain":"x","duplicate":false}`, seq: 42},
		{data: `{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 41"},"stream":"KV_presence","seq":0}`, conflict: true},
		{data: `{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}`},
		{data: `{"stream":"KV_other","seq":42}`, bad: true},
		{data: `{"stream":"KV_presence"}`, bad: true},
		{data: `not json`, bad: true},
		{data: ``, bad: true},
	} {
		seq, err := parseAck([]byte(tc.data), "KV_presence")
		switch {
		case tc.seq != 0:
			if err != nil || seq != tc.seq {
				t.Errorf("%s: %d, %v", tc.data, seq, err)
			}
		case tc.conflict:
			if !isConflict(err) {
				t.Errorf("%s: %v, want a conflict", tc.data, err)
			}
		case tc.bad:
			if !errors.Is(err, jetstream.ErrInvalidJSAck) {
				t.Errorf("%s: %v, want ErrInvalidJSAck", tc.data, err)
			}
		default:
			var api *jetstream.APIError
			if !errors.As(err, &api) || isConflict(err) {
				t.Errorf("%s: %v, want an API error that is no conflict", tc.data, err)
			}
		}
	}
}

// A write whose context has ended, or whose deadline has passed, is not
// sent: it fails with the context's error and stores nothing.
func TestUpdateAfterContextEnded(t *testing.T) {
	ctx := ctxT(t)
	s := bucketT(t, openT(t, Options{Dir: t.TempDir()}), "presence")
	k := ukey(tenantA, user1)
	rev, err := s.Put(ctx, k, []byte("one"), 0)
	if err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	past, cancel2 := context.WithDeadline(ctx, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
	defer cancel2()
	for name, c := range map[string]context.Context{"canceled": canceled, "past deadline": past} {
		if _, err := s.Put(c, k, []byte("two"), rev); err == nil || !errors.Is(err, c.Err()) {
			t.Errorf("%s: Put = %v, want %v", name, err, c.Err())
		}
	}
	if e, err := s.Get(ctx, k); err != nil || string(e.Value) != "one" || e.Revision != rev {
		t.Fatalf("after the ended writes: %+v, %v", e, err)
	}
}

// Put keeps neither its key's nor its value's bytes once it returns
// (store.KV's promise, on which core reuses them): overwritten right
// after each Put, the engine still holds what was written, under the key
// written — a create, and an update by both of a single node's ways.
func TestPutKeepsNeitherKeyNorValue(t *testing.T) {
	for _, path := range writePaths {
		t.Run(path, func(t *testing.T) {
			ctx := ctxT(t)
			b := bucketT(t, openT(t, Options{Dir: t.TempDir()}), "presence").(*kv)
			onPath(t, b, path)
			kb, vb := []byte(ukey(tenantA, user1)), []byte("one")
			key := unsafe.String(unsafe.SliceData(kb), len(kb))
			rev, err := b.Put(ctx, key, vb, 0)
			if err != nil {
				t.Fatal(err)
			}
			copy(kb, ukey(tenantA, user2))
			copy(vb, "xxx")
			want := ukey(tenantA, user1)
			for i, v := range []string{"two", "three"} {
				copy(kb, want)
				vb = append(vb[:0], v...)
				if rev, err = b.Put(ctx, key, vb, rev); err != nil {
					t.Fatal(err)
				}
				copy(kb, ukey(tenantA, user2))
				copy(vb, "xxxxx")
				e, err := b.Get(ctx, want)
				if err != nil || string(e.Value) != v || e.Revision != rev {
					t.Fatalf("write %d: the engine holds %+v, %v; want %q at %d", i, e, err, v, rev)
				}
			}
			if _, err := b.Get(ctx, ukey(tenantA, user2)); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("the overwritten key's bytes were written: %v", err)
			}
		})
	}
}

// sameAsKVUpdate writes "two" to mine at revision r1 with write and to
// theirs at r2 with nats.go's KeyValue.Update, and fails unless both
// stored the same value with the same header names, each expecting its
// own revision, at consecutive revisions. It returns mine's new revision.
func sameAsKVUpdate(t *testing.T, e *Engine, b *kv, mine, theirs string, r1, r2 uint64, name string, write func(rev uint64) (uint64, error)) uint64 {
	t.Helper()
	ctx := ctxT(t)
	got, err := write(r1)
	if err != nil {
		t.Fatal(err)
	}
	want, err := b.kv.Update(ctx, theirs, []byte("two"), r2)
	if err != nil {
		t.Fatal(err)
	}
	if got != r2+1 || want != got+1 {
		t.Fatalf("revisions %d (%s) and %d (KeyValue.Update) after %d, %d", got, name, want, r1, r2)
	}
	stream, err := e.JetStream().Stream(ctx, b.stream)
	if err != nil {
		t.Fatal(err)
	}
	m1, err := stream.GetLastMsgForSubject(ctx, b.prefix+mine)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := stream.GetLastMsgForSubject(ctx, b.prefix+theirs)
	if err != nil {
		t.Fatal(err)
	}
	if string(m1.Data) != "two" || string(m2.Data) != "two" {
		t.Fatalf("values %q and %q", m1.Data, m2.Data)
	}
	// Same header names and values, except the revision each expected.
	h1, h2 := m1.Header, m2.Header
	if !slices.Equal(slices.Sorted(maps.Keys(h1)), slices.Sorted(maps.Keys(h2))) ||
		h1.Get(jetstream.ExpectedLastSubjSeqHeader) != strconv.FormatUint(r1, 10) || h2.Get(jetstream.ExpectedLastSubjSeqHeader) != strconv.FormatUint(r2, 10) {
		t.Fatalf("headers %v (%s) and %v (KeyValue.Update)", h1, name, h2)
	}
	return got
}
