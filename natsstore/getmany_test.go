package natsstore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/presenced/presenced/store"
)

// checkGetMany compares GetMany(keys) with Get of each key.
func checkGetMany(t *testing.T, kv store.KV, keys []string) []store.Entry {
	t.Helper()
	ctx := ctxT(t)
	got, err := kv.GetMany(ctx, keys)
	if err != nil {
		t.Fatalf("GetMany(%d keys): %v", len(keys), err)
	}
	if len(got) != len(keys) {
		t.Fatalf("GetMany(%d keys) returned %d entries", len(keys), len(got))
	}
	for i, k := range keys {
		want, err := kv.Get(ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			want = store.Entry{}
		} else if err != nil {
			t.Fatal(err)
		}
		if got[i].Key != want.Key || string(got[i].Value) != string(want.Value) || got[i].Revision != want.Revision {
			t.Fatalf("entry %d (%s): GetMany %q %q@%d, Get %q %q@%d", i, k,
				got[i].Key, got[i].Value, got[i].Revision, want.Key, want.Value, want.Revision)
		}
	}
	return got
}

func TestGetMany(t *testing.T) {
	for _, mem := range []bool{false, true} {
		t.Run(fmt.Sprintf("memory=%v", mem), func(t *testing.T) {
			ctx := ctxT(t)
			o := Options{Dir: t.TempDir(), Memory: mem}
			bk := bucketT(t, openT(t, o), "presence")
			k := func(i int) string { return ukey(tenantA, fmt.Sprintf("user-%d", i)) }

			// An empty bucket, and no keys at all.
			if got := checkGetMany(t, bk, []string{k(0), k(1)}); got[0].Revision != 0 || got[1].Revision != 0 {
				t.Fatalf("empty bucket: %+v", got)
			}
			if got := checkGetMany(t, bk, nil); len(got) != 0 {
				t.Fatalf("no keys: %+v", got)
			}

			for i := range 10 {
				if _, err := bk.Put(ctx, k(i), []byte(fmt.Sprintf("v%d", i)), 0); err != nil {
					t.Fatal(err)
				}
			}
			e3, _ := bk.Get(ctx, k(3))
			if _, err := bk.Put(ctx, k(3), []byte("v3 again"), e3.Revision); err != nil {
				t.Fatal(err)
			}
			if err := bk.Delete(ctx, k(4), 0); err != nil { // a DEL marker
				t.Fatal(err)
			}
			if err := bk.(*kv).kv.Purge(ctx, k(5)); err != nil { // a PURGE marker
				t.Fatal(err)
			}
			if err := bk.Delete(ctx, k(6), 0); err != nil {
				t.Fatal(err)
			}
			if _, err := bk.Put(ctx, k(6), []byte("v6 back"), 0); err != nil { // recreated
				t.Fatal(err)
			}
			if _, err := bk.Put(ctx, ukey(tenantB, "user-1"), []byte("other tenant"), 0); err != nil {
				t.Fatal(err)
			}

			// Asked in an order unlike the stream's, with repeats, missing,
			// deleted and purged keys, and a key whose prefix is another's.
			keys := []string{k(9), k(4), k(3), k(100), k(1), k(5), k(6), k(0), k(3), k(1) + "0", k(7), k(2), k(8), k(9)}
			got := checkGetMany(t, bk, keys)
			absent := map[string]bool{k(4): true, k(5): true, k(100): true, k(1) + "0": true}
			for i, e := range got {
				if (e.Revision == 0) != absent[keys[i]] {
					t.Errorf("%s: revision %d", keys[i], e.Revision)
				}
			}
			if string(got[2].Value) != "v3 again" || string(got[8].Value) != "v3 again" || got[2].Revision != got[8].Revision {
				t.Errorf("k3: %q, %q", got[2].Value, got[8].Value)
			}

			// Only absent keys: the server answers "404 No Results".
			checkGetMany(t, bk, []string{k(4), k(5), k(100)})

			// Keys that could never exist are an error, not absent.
			for _, bad := range []string{"", "a b", "u.*", "u.>", "u..x", ".u"} {
				if _, err := bk.GetMany(ctx, []string{k(1), bad}); err == nil || errors.Is(err, store.ErrNotFound) {
					t.Errorf("GetMany(%q) = %v", bad, err)
				}
			}
		})
	}
}

// More keys than one batched get may ask for: GetMany splits them, and the
// answers still line up with the keys.
func TestGetManyMoreThanOneBatch(t *testing.T) {
	ctx := ctxT(t)
	bk := bucketT(t, openT(t, Options{Dir: t.TempDir()}), "presence")
	const n = 2*maxMultiLast + 300
	var keys []string
	for i := range n {
		k := ukey(tenantA, fmt.Sprintf("user-%d", i))
		keys = append(keys, k)
		if i%5 == 0 {
			continue // never written
		}
		if _, err := bk.Put(ctx, k, []byte(fmt.Sprintf("value of %d", i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	got := checkGetMany(t, bk, keys)
	present := 0
	for _, e := range got {
		if e.Revision != 0 {
			present++
		}
	}
	if want := n - (n+4)/5; present != want {
		t.Fatalf("%d present, want %d", present, want)
	}

	// The chunk size is nats-server's limit: one more subject is refused.
	b := bk.(*kv)
	var subjects []string
	for _, k := range keys {
		if !strings.HasSuffix(k, "0") && !strings.HasSuffix(k, "5") { // present (i%5 != 0)
			subjects = append(subjects, b.prefix+k)
		}
	}
	noop := func(*nats.Msg) error { return nil }
	if _, _, err := multiLastOnce(ctx, b.nc, b.stream, multiLastRequest{MultiLast: subjects[:maxMultiLast]}, noop); err != nil {
		t.Fatalf("%d subjects: %v", maxMultiLast, err)
	}
	if _, _, err := multiLastOnce(ctx, b.nc, b.stream, multiLastRequest{MultiLast: subjects[:maxMultiLast+1]}, noop); err == nil || !strings.Contains(err.Error(), "413") {
		t.Fatalf("%d subjects: %v, want 413 Too Many Results", maxMultiLast+1, err)
	}
}

// A server that stops early (max_bytes) is asked again for the rest.
func TestGetManyContinues(t *testing.T) {
	ctx := ctxT(t)
	bk := bucketT(t, openT(t, Options{Dir: t.TempDir()}), "presence")
	bk.(*kv).maxBytes = 1000 // a few messages per answer
	var keys []string
	for i := range 200 {
		k := ukey(tenantA, fmt.Sprintf("user-%d", i))
		keys = append(keys, k)
		if i%7 == 0 {
			continue
		}
		if _, err := bk.Put(ctx, k, []byte(strings.Repeat("x", i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	checkGetMany(t, bk, keys)
}

// Without direct gets (a stream that does not allow them) GetMany reads one
// key at a time, with the same answers.
func TestGetManyWithoutDirect(t *testing.T) {
	ctx := ctxT(t)
	bk := bucketT(t, openT(t, Options{Dir: t.TempDir()}), "presence")
	if !bk.(*kv).direct {
		t.Fatal("the bucket's stream does not allow direct gets")
	}
	for i := range 5 {
		if _, err := bk.Put(ctx, ukey(tenantA, fmt.Sprint(i)), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	bk.(*kv).direct = false
	checkGetMany(t, bk, []string{ukey(tenantA, "3"), ukey(tenantA, "9"), ukey(tenantA, "0")})
}
