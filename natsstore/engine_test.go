package natsstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/store"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func openT(t testing.TB, o Options) *Engine {
	t.Helper()
	e, err := Open(ctxT(t), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

func bucketT(t testing.TB, e *Engine, name string) store.KV {
	t.Helper()
	kv, err := e.Bucket(ctxT(t), name)
	if err != nil {
		t.Fatalf("Bucket(%q): %v", name, err)
	}
	return kv
}

const (
	tenantA = "0f8fad5b-d9cb-469f-a165-70867728950e"
	tenantB = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	user1   = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
	user2   = "b1ffcd88-8d1a-4df9-ac7e-7cc8ce491b22"
)

func ukey(tenant, user string) string { return "u." + tenant + "." + user }

func TestCRUDAndConflicts(t *testing.T) {
	ctx := ctxT(t)
	kv := bucketT(t, openT(t, Options{Dir: t.TempDir()}), "presence")
	k := ukey(tenantA, user1)

	var rev uint64 // revision of k as the steps go
	type step struct {
		name string
		do   func() error
		want error // nil: success
	}
	put := func(v string, expect func() uint64) func() error {
		return func() error {
			r, err := kv.Put(ctx, k, []byte(v), expect())
			if err == nil {
				if r <= rev {
					return fmt.Errorf("revision went from %d to %d", rev, r)
				}
				rev = r
			}
			return err
		}
	}
	cur := func() uint64 { return rev }
	zero := func() uint64 { return 0 }
	stale := func() uint64 { return rev - 1 }
	future := func() uint64 { return rev + 100 }
	get := func(want string) func() error {
		return func() error {
			e, err := kv.Get(ctx, k)
			if err != nil {
				return err
			}
			if string(e.Value) != want || e.Revision != rev || e.Key != k {
				return fmt.Errorf("got %q@%d key %q, want %q@%d", e.Value, e.Revision, e.Key, want, rev)
			}
			return nil
		}
	}
	del := func(expect func() uint64) func() error {
		return func() error { return kv.Delete(ctx, k, expect()) }
	}
	steps := []step{
		{"get missing", get(""), store.ErrNotFound},
		{"update missing", put("x", func() uint64 { return 1 }), store.ErrConflict},
		{"delete missing at revision", del(func() uint64 { return 1 }), store.ErrConflict},
		{"create", put("available", zero), nil},
		{"get created", get("available"), nil},
		{"create again", put("busy", zero), store.ErrConflict},
		{"update stale", put("busy", stale), store.ErrConflict},
		{"update future", put("busy", future), store.ErrConflict},
		{"update", put("busy", cur), nil},
		{"get updated", get("busy"), nil},
		{"update again", put("away", cur), nil},
		{"delete stale", del(stale), store.ErrConflict},
		{"still there", get("away"), nil},
		{"delete at revision", del(cur), nil},
		{"get deleted", get(""), store.ErrNotFound},
		{"update deleted at old revision", put("x", cur), store.ErrConflict},
		{"create over deleted", put("back", zero), nil},
		{"get recreated", get("back"), nil},
		{"delete unconditional", del(zero), nil},
		{"get deleted again", get(""), store.ErrNotFound},
		{"delete absent unconditional", del(zero), nil},
		{"create after two deletes", put("again", zero), nil},
		{"get final", get("again"), nil},
	}
	for _, s := range steps {
		err := s.do()
		if s.want == nil && err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if s.want != nil && !errors.Is(err, s.want) {
			t.Fatalf("%s: got %v, want %v", s.name, err, s.want)
		}
	}

	// Errors say what failed.
	_, err := kv.Put(ctx, k, []byte("x"), 0)
	if want := fmt.Sprintf("natsstore: put presence/%q", k); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	// Invalid keys fail but are neither conflicts nor not-found.
	if _, err := kv.Put(ctx, "bad key", nil, 0); err == nil || errors.Is(err, store.ErrConflict) {
		t.Errorf("Put(bad key) = %v", err)
	}
}

func TestKeys(t *testing.T) {
	ctx := ctxT(t)
	kv := bucketT(t, openT(t, Options{Dir: t.TempDir()}), "presence")

	keys, err := kv.Keys(ctx, "")
	if err != nil || keys == nil || len(keys) != 0 {
		t.Fatalf("Keys on empty bucket = %#v, %v; want empty non-nil slice", keys, err)
	}
	all := []string{
		ukey(tenantA, user1), ukey(tenantA, user2),
		ukey(tenantB, user1),
		"u." + tenantA + "x.y", // shares a string prefix with tenantA, not a token
		"s.sub1", "s.sub2", "x",
	}
	for _, k := range all {
		if _, err := kv.Put(ctx, k, []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	gone := ukey(tenantB, user2)
	if _, err := kv.Put(ctx, gone, []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, gone, 0); err != nil {
		t.Fatal(err)
	}
	sorted := slices.Sorted(slices.Values(all))
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", sorted},
		{"u.", []string{ukey(tenantA, user1), ukey(tenantA, user2), "u." + tenantA + "x.y", ukey(tenantB, user1)}},
		{"u." + tenantA + ".", []string{ukey(tenantA, user1), ukey(tenantA, user2)}},
		{"u." + tenantA, []string{ukey(tenantA, user1), ukey(tenantA, user2), "u." + tenantA + "x.y"}},
		{"u." + tenantB + ".", []string{ukey(tenantB, user1)}}, // deleted key absent
		{ukey(tenantA, user1), []string{ukey(tenantA, user1)}},
		{"u." + tenantA + ".a0", []string{ukey(tenantA, user1)}},
		{"s", []string{"s.sub1", "s.sub2"}},
		{"x", []string{"x"}},
		{"nope.", []string{}},
		{"nope", []string{}},
		{"u.*.", []string{}},
		{"u.>", []string{}},
		{"u..", []string{}},
		{".", []string{}},
	} {
		got, err := kv.Keys(ctx, tc.prefix)
		if err != nil {
			t.Errorf("Keys(%q): %v", tc.prefix, err)
			continue
		}
		if got == nil || !slices.Equal(got, tc.want) {
			t.Errorf("Keys(%q) = %#v, want %#v", tc.prefix, got, tc.want)
		}
	}

	// A cancelled context is an error, not a short list.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if got, err := kv.Keys(cctx, ""); err == nil {
		t.Errorf("Keys with cancelled ctx = %v, nil error", got)
	}
}

func TestBucketsAndEngines(t *testing.T) {
	ctx := ctxT(t)
	// Two engines in one process, each with its own directory.
	e1 := openT(t, Options{Dir: t.TempDir()})
	e2 := openT(t, Options{Dir: t.TempDir(), ServerName: "other"})
	a1 := bucketT(t, e1, "a")
	if again := bucketT(t, e1, "a"); again != a1 {
		t.Errorf("Bucket is not idempotent")
	}
	b1 := bucketT(t, e1, "b")
	a2 := bucketT(t, e2, "a")
	if _, err := a1.Put(ctx, "k", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	for name, kv := range map[string]store.KV{"other bucket": b1, "other engine": a2} {
		if _, err := kv.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s sees k: %v", name, err)
		}
	}
	if _, err := e1.Bucket(ctx, "bad name!"); err == nil {
		t.Errorf("Bucket(bad name) succeeded")
	}
	if e1.Conn() == nil || e1.JetStream() == nil || !e1.Conn().IsConnected() {
		t.Errorf("Conn/JetStream not usable")
	}
	if err := e1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e1.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := Open(ctx, Options{}); err == nil {
		t.Errorf("Open without Dir succeeded")
	}
}

func TestMemory(t *testing.T) {
	ctx := ctxT(t)
	kv := bucketT(t, openT(t, Options{Memory: true}), "m")
	if _, err := kv.Put(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "k"); err != nil || string(e.Value) != "v" {
		t.Fatalf("Get = %v, %v", e, err)
	}
}

func TestRestart(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	const n = 1000
	revs := make(map[string]uint64, n)
	val := func(i int) []byte { return []byte(fmt.Sprintf(`{"availability":"Available","i":%d}`, i)) }
	key := func(i int) string { return fmt.Sprintf("u.%s.user-%04d", tenantA, i) }

	e, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	kv := bucketT(t, e, "presence")
	var maxRev uint64
	for i := range n {
		r, err := kv.Put(ctx, key(i), val(i), 0)
		if err != nil {
			t.Fatal(err)
		}
		revs[key(i)], maxRev = r, max(maxRev, r)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e = openT(t, Options{Dir: dir})
	kv = bucketT(t, e, "presence")
	for i := range n {
		got, err := kv.Get(ctx, key(i))
		if err != nil {
			t.Fatalf("after restart: %v", err)
		}
		if string(got.Value) != string(val(i)) || got.Revision != revs[key(i)] {
			t.Fatalf("after restart %s = %q@%d, want %q@%d", key(i), got.Value, got.Revision, val(i), revs[key(i)])
		}
	}
	keys, err := kv.Keys(ctx, "u."+tenantA+".")
	if err != nil || len(keys) != n {
		t.Fatalf("Keys after restart: %d keys, %v", len(keys), err)
	}
	r, err := kv.Put(ctx, key(7), []byte("updated"), revs[key(7)])
	if err != nil || r <= maxRev {
		t.Fatalf("update after restart = %d, %v; want revision > %d", r, err, maxRev)
	}
	r2, err := kv.Put(ctx, "new", []byte("x"), 0)
	if err != nil || r2 <= r {
		t.Fatalf("create after restart = %d, %v; want revision > %d", r2, err, r)
	}
}

func TestConcurrentIncrements(t *testing.T) {
	ctx := ctxT(t)
	e1 := openT(t, Options{Dir: t.TempDir()})
	kv := bucketT(t, e1, "counters")
	const workers, each = 8, 50
	var (
		wg        sync.WaitGroup
		conflicts atomic.Int64
	)
	errc := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				for {
					var n int
					var rev uint64
					cur, err := kv.Get(ctx, "c")
					switch {
					case errors.Is(err, store.ErrNotFound):
					case err != nil:
						errc <- err
						return
					default:
						n, _ = strconv.Atoi(string(cur.Value))
						rev = cur.Revision
					}
					_, err = kv.Put(ctx, "c", []byte(strconv.Itoa(n+1)), rev)
					if errors.Is(err, store.ErrConflict) {
						conflicts.Add(1)
						continue
					}
					if err != nil {
						errc <- err
						return
					}
					break
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	got, err := kv.Get(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Value) != strconv.Itoa(workers*each) {
		t.Fatalf("counter = %s, want %d", got.Value, workers*each)
	}
	t.Logf("final %s at revision %d after %d conflicts", got.Value, got.Revision, conflicts.Load())
}

// On a single node an engine call that takes longer than a cluster's
// first short attempt (a second) is not cut off: a busy machine's embedded
// node may take that long to create a bucket, and the server must still
// start. (The call stands in for a slow engine.)
func TestRetryOnASingleNodeWaitsForTheCall(t *testing.T) {
	e := &Engine{}
	slow := func(ctx context.Context) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(1500 * time.Millisecond):
			return nil
		}
	}
	if err := e.retry(context.Background(), "a slow call", slow); err != nil {
		t.Fatalf("a call of 1.5 s on a single node: %v", err)
	}
	calls := 0
	failing := func(context.Context) error { calls++; return errors.New("refused") }
	if err := e.retry(context.Background(), "a failing call", failing); err == nil || calls != 1 {
		t.Fatalf("a failing call: %v after %d calls, want its error after one", err, calls)
	}
}
