package natsstore

import (
	"errors"
	"testing"

	"github.com/presenced/presenced/store"
)

// A create (Put with expect 0) on a single node goes through the raw
// connection — nats.go's connection sends nothing — and answers the
// revision the engine stored it at; over an existing key it is a conflict
// and writes nothing; over a delete or a purge marker it succeeds (deleted
// is absent), through Create's path after the raw answer's conflict. Each
// case with and without SoleWriter, which must not make a create unchecked.
func TestCreateRaw(t *testing.T) {
	for _, sole := range []bool{false, true} {
		for _, tc := range []struct {
			name    string
			before  func(t *testing.T, b *kv, key string) // what the key holds before the create
			conflct bool
			raw     bool // nats.go's connection sends nothing
		}{
			{name: "new", raw: true},
			{name: "existing", conflct: true, before: func(t *testing.T, b *kv, key string) {
				if _, err := b.Put(ctxT(t), key, []byte("old"), 0); err != nil {
					t.Fatal(err)
				}
			}},
			{name: "deleted", before: func(t *testing.T, b *kv, key string) {
				if _, err := b.Put(ctxT(t), key, []byte("old"), 0); err != nil {
					t.Fatal(err)
				}
				if err := b.Delete(ctxT(t), key, 0); err != nil {
					t.Fatal(err)
				}
			}},
			{name: "purged", before: func(t *testing.T, b *kv, key string) {
				if _, err := b.Put(ctxT(t), key, []byte("old"), 0); err != nil {
					t.Fatal(err)
				}
				if err := b.kv.Purge(ctxT(t), key); err != nil {
					t.Fatal(err)
				}
			}},
		} {
			name := tc.name
			if sole {
				name += "/sole"
			}
			t.Run(name, func(t *testing.T) {
				ctx := ctxT(t)
				e := openT(t, Options{Dir: t.TempDir()})
				b := bucketT(t, e, "presence").(*kv)
				if !e.raw.usable() {
					t.Fatal("no raw connection on a single node")
				}
				if sole && !SoleWriter(b) {
					t.Fatal("SoleWriter refused a single node's bucket")
				}
				key := ukey(tenantA, user1)
				// Another key first: the engine's sequence is not the
				// key's first.
				if _, err := b.Put(ctx, ukey(tenantA, user2), []byte("other"), 0); err != nil {
					t.Fatal(err)
				}
				if tc.before != nil {
					tc.before(t, b, key)
				}
				s, err := b.js.Stream(ctx, b.stream)
				if err != nil {
					t.Fatal(err)
				}
				info, err := s.Info(ctx)
				if err != nil {
					t.Fatal(err)
				}
				last := info.State.LastSeq
				sent := b.nc.Stats().OutMsgs
				rev, err := b.Put(ctx, key, []byte("new"), 0)
				natsSent := b.nc.Stats().OutMsgs - sent
				if tc.conflct {
					if !errors.Is(err, store.ErrConflict) {
						t.Fatalf("create over an existing key: %d, %v; want store.ErrConflict", rev, err)
					}
					got, err := b.Get(ctx, key)
					if err != nil || string(got.Value) != "old" {
						t.Fatalf("after the refused create: %+v, %v", got, err)
					}
					if info, err := s.Info(ctx); err != nil || info.State.LastSeq != last {
						t.Fatalf("the refused create stored something: last sequence %d, was %d (%v)", info.State.LastSeq, last, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("create: %v", err)
				}
				if rev != last+1 {
					t.Fatalf("create answered revision %d; the engine's last sequence was %d", rev, last)
				}
				got, err := b.Get(ctx, key)
				if err != nil || got.Revision != rev || string(got.Value) != "new" {
					t.Fatalf("after the create: %+v, %v; its answer %d", got, err, rev)
				}
				if tc.raw && natsSent != 0 {
					t.Fatalf("nats.go's connection sent %d messages for a create of a new key", natsSent)
				}
			})
		}
	}
}
