package natsstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/diskfault"
	"github.com/presenced/presenced/store"
)

// walkAll collects what Walk passes, checking that it comes in stream
// order (revisions increasing).
func walkAll(t *testing.T, kv store.KV, prefix string) []store.Entry {
	t.Helper()
	var got []store.Entry
	err := kv.Walk(ctxT(t), prefix, func(e store.Entry) error {
		if n := len(got); n > 0 && e.Revision <= got[n-1].Revision {
			return fmt.Errorf("%s@%d after %s@%d: not in stream order", e.Key, e.Revision, got[n-1].Key, got[n-1].Revision)
		}
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatalf("Walk(%q): %v", prefix, err)
	}
	return got
}

// Walk passes exactly the live keys Keys lists, each as Get reads it, in
// the order they were last written.
func TestWalk(t *testing.T) {
	for _, mem := range []bool{false, true} {
		t.Run(fmt.Sprintf("memory=%v", mem), func(t *testing.T) {
			ctx := ctxT(t)
			kv := bucketT(t, openT(t, Options{Dir: t.TempDir(), Memory: mem}), "presence")
			if got := walkAll(t, kv, ""); len(got) != 0 {
				t.Fatalf("empty bucket: %+v", got)
			}
			keys := []string{
				ukey(tenantA, user1), ukey(tenantA, user2), ukey(tenantB, user1),
				"u." + tenantA + "x.y", // shares a string prefix with tenantA, not a token
				"s.sub1", "x",
			}
			for i, k := range keys {
				if _, err := kv.Put(ctx, k, []byte(fmt.Sprintf("v%d", i)), 0); err != nil {
					t.Fatal(err)
				}
			}
			// Rewritten: passed once, at its last revision, after the others.
			e, _ := kv.Get(ctx, ukey(tenantA, user1))
			if _, err := kv.Put(ctx, ukey(tenantA, user1), []byte("again"), e.Revision); err != nil {
				t.Fatal(err)
			}
			// Deleted: not passed.
			gone := ukey(tenantB, user2)
			if _, err := kv.Put(ctx, gone, []byte("v"), 0); err != nil {
				t.Fatal(err)
			}
			if err := kv.Delete(ctx, gone, 0); err != nil {
				t.Fatal(err)
			}
			for _, prefix := range []string{"", "u.", "u." + tenantA + ".", "u." + tenantA, "u." + tenantB + ".", ukey(tenantA, user1), "s", "nope.", "u.*", "u.>"} {
				want, err := kv.Keys(ctx, prefix)
				if err != nil {
					t.Fatal(err)
				}
				got := walkAll(t, kv, prefix)
				var gotKeys []string
				for _, e := range got {
					gotKeys = append(gotKeys, e.Key)
					g, err := kv.Get(ctx, e.Key)
					if err != nil {
						t.Fatal(err)
					}
					if string(e.Value) != string(g.Value) || e.Revision != g.Revision {
						t.Fatalf("Walk(%q) passed %s as %q@%d, Get reads %q@%d", prefix, e.Key, e.Value, e.Revision, g.Value, g.Revision)
					}
				}
				if slices.Sort(gotKeys); !slices.Equal(gotKeys, want) && !(len(gotKeys) == 0 && len(want) == 0) {
					t.Fatalf("Walk(%q) passed %q, Keys lists %q", prefix, gotKeys, want)
				}
			}
			if got := walkAll(t, kv, "u."); got[len(got)-1].Key != ukey(tenantA, user1) {
				t.Fatalf("the key written last is passed at %s", got[len(got)-1].Key)
			}
		})
	}
}

// putN writes n keys under tenantA, 100 bytes each, 8 at a time.
func putN(t testing.TB, kv store.KV, n int) []string {
	t.Helper()
	ctx := context.Background()
	keys := make([]string, n)
	val := make([]byte, 100)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				keys[i] = ukey(tenantA, fmt.Sprintf("user-%07d", i))
				if _, err := kv.Put(ctx, keys[i], val, 0); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return keys
}

// Walk ends when fn fails or ctx ends, with that error, and leaves no
// goroutine behind although the engine had more to send.
func TestWalkStops(t *testing.T) {
	kv := bucketT(t, openT(t, Options{Dir: t.TempDir()}), "presence")
	putN(t, kv, 3000)
	before := runtime.NumGoroutine()

	stop := errors.New("enough")
	n := 0
	err := kv.Walk(ctxT(t), "u.", func(store.Entry) error {
		if n++; n == 10 {
			time.Sleep(50 * time.Millisecond) // let the engine fill the buffers
			return stop
		}
		return nil
	})
	if err != stop || n != 10 {
		t.Fatalf("Walk returned %v after %d entries, want %v after 10", err, n, stop)
	}

	ctx, cancel := context.WithCancel(ctxT(t))
	n = 0
	err = kv.Walk(ctx, "u.", func(store.Entry) error {
		if n++; n == 10 {
			cancel()
			time.Sleep(50 * time.Millisecond)
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n > 11 {
		t.Fatalf("Walk returned %v after %d entries, want context.Canceled after 10 or 11", err, n)
	}

	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the walks:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A slow fn loses nothing (flow control holds the engine back), and keys
// written during the walk do not keep it from ending once the writes stop:
// every key live at the start is passed, at its old or its new revision.
//
// The writer rewrites the even-indexed keys in turn (each every 5,000
// writes) and creates a key between two rewrites, about as fast as this
// fn (20 ms every 500 keys) lets the walk read: the walk used to lose
// keys rewritten twice ahead of it (TestWalkPassesAKeyRewrittenTwice has
// the exact case). It stops after slowAndWrittenWrites: at that pace a key
// rewritten ahead of the walk each time just before it gets there cannot
// be read in stream order, and an exact walk ends only when the writes
// slow down (see Walk); writes slower than the walk do not keep it going
// (TestWalkEndsUnderSteadyWrites).
func TestWalkSlowAndWritten(t *testing.T) {
	const slowAndWrittenWrites = 20_000 // four rewrites of each even key
	ctx := ctxT(t)
	kv := bucketT(t, openT(t, Options{Dir: t.TempDir()}), "presence")
	keys := putN(t, kv, 5000)
	start := make(map[string]uint64, len(keys))
	for _, e := range walkAll(t, kv, "u.") {
		start[e.Key] = e.Revision
	}

	var stopWriting atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < slowAndWrittenWrites && !stopWriting.Load(); i++ {
			k := keys[i%len(keys)]
			if i%2 == 1 {
				k = ukey(tenantB, fmt.Sprintf("new-%d", i)) // created during the walk
			}
			e, err := kv.Get(ctx, k)
			if errors.Is(err, store.ErrNotFound) {
				e = store.Entry{}
			} else if err != nil {
				t.Error(err)
				return
			}
			if _, err := kv.Put(ctx, k, []byte("rewritten"), e.Revision); err != nil {
				t.Error(err)
				return
			}
		}
	})
	seen := make(map[string]uint64)
	n := 0
	err := kv.Walk(ctx, "u.", func(e store.Entry) error {
		if n++; n%500 == 0 {
			time.Sleep(20 * time.Millisecond) // slow now and then
		}
		if e.Revision > seen[e.Key] {
			seen[e.Key] = e.Revision
		}
		return nil
	})
	stopWriting.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	for k, rev := range start {
		if seen[k] < rev {
			t.Fatalf("%s passed at revision %d, it was at %d when the walk started", k, seen[k], rev)
		}
	}
}

// The exact case the walk used to lose: a key K not reached yet is
// rewritten (S1) before the stream's last sequence as of the walk's
// passing its first pick, and again (S2) after it, before the walk
// reaches S1 — so neither the message picked at the start, nor S1, nor
// (beyond where the walk stopped) S2 was delivered. The walk's fn holds
// it at its first key while X (a new key), 1,500 other new keys (more
// than a pull's prefetch, so that S1 is not fetched before S2 replaces
// it), S1 and Y (a new key) are written; then at the key after X while
// S2 is written. Every key live at the start must be passed, K at S2.
func TestWalkPassesAKeyRewrittenTwice(t *testing.T) {
	ctx := ctxT(t)
	kv := bucketT(t, openT(t, Options{Dir: t.TempDir()}), "presence")
	keys := putN(t, kv, 5000) // more than a pull's prefetch
	start := make(map[string]uint64, len(keys))
	for _, e := range walkAll(t, kv, "u.") {
		start[e.Key] = e.Revision
	}
	far := keys[4000] // beyond what the walk's first pull fetches
	w := WalkTwice{T: t, Ctx: ctx, KV: kv}
	others := make([]string, 1500)
	for i := range others {
		others[i] = ukey(tenantB, fmt.Sprintf("other-%04d", i))
	}
	seen, s1, s2 := w.Run(far, ukey(tenantB, "x"), ukey(tenantB, "y"), others, true)
	w.Check(seen, start, far, s1, s2)
}

// WalkTwice is the writes and the check of the rewritten-twice case
// (TestWalkPassesAKeyRewrittenTwice, and the cluster's in
// walktwice_test.go; exported for that external test).
type WalkTwice struct {
	T   testing.TB
	Ctx context.Context
	KV  store.KV
}

// Rewrite rewrites k at the revision it holds and returns the new one.
func (w WalkTwice) Rewrite(k string) uint64 {
	w.T.Helper()
	e, err := w.KV.Get(w.Ctx, k)
	if err != nil {
		w.T.Fatal(err)
	}
	rev, err := w.KV.Put(w.Ctx, k, []byte("rewritten"), e.Revision)
	if err != nil {
		w.T.Fatal(err)
	}
	return rev
}

// Create writes the new key k.
func (w WalkTwice) Create(k string) {
	w.T.Helper()
	if _, err := w.KV.Put(w.Ctx, k, []byte("new"), 0); err != nil {
		w.T.Fatal(err)
	}
}

// Run walks "u." with the case's writes: its fn holds the walk at its
// first key while x (a new key), others (new keys: more than a pull's
// prefetch or a fetch's page, so that S1 is not fetched before S2
// replaces it), S1 (far rewritten) and y (a new key) are written; then at
// x (afterX: at the key after x) while S2 is written. It returns what the
// walk passed (each key's highest revision), S1 and S2.
func (w WalkTwice) Run(far, x, y string, others []string, afterX bool) (seen map[string]uint64, s1, s2 uint64) {
	w.T.Helper()
	atFirst, goOn := make(chan struct{}), make(chan struct{})
	held, goOnHeld := make(chan struct{}), make(chan struct{})
	seen = make(map[string]uint64)
	done := make(chan error, 1)
	go func() {
		n, sawX, wasHeld := 0, false, false
		done <- w.KV.Walk(w.Ctx, "u.", func(e store.Entry) error {
			seen[e.Key] = max(seen[e.Key], e.Revision)
			if n++; n == 1 {
				close(atFirst)
				<-goOn
			}
			isX := e.Key == x && n > 1
			if !wasHeld && (afterX && sawX || !afterX && isX) {
				wasHeld = true
				close(held)
				<-goOnHeld
			}
			sawX = sawX || isX
			return nil
		})
	}()
	<-atFirst
	w.Create(x)
	for _, k := range others {
		w.Create(k)
	}
	s1 = w.Rewrite(far)
	w.Create(y)
	close(goOn)
	select {
	case <-held:
	case err := <-done:
		if afterX {
			w.T.Fatalf("the walk ended (%v) before passing the key after %s", err, x)
		}
		w.T.Fatalf("the walk ended (%v) before passing %s", err, x)
	}
	s2 = w.Rewrite(far)
	close(goOnHeld)
	if err := <-done; err != nil {
		w.T.Fatal(err)
	}
	return seen, s1, s2
}

// Check fails the test unless the walk passed far at S2 (not at its start
// revision or S1: then the case was not made) and every key at or past
// the revision it had when the walk started.
func (w WalkTwice) Check(seen, start map[string]uint64, far string, s1, s2 uint64) {
	w.T.Helper()
	if seen[far] == start[far] || seen[far] == s1 {
		w.T.Fatalf("%s passed at %d (start %d, S1 %d): the walk reached it before its rewrite; the test did not make the case", far, seen[far], start[far], s1)
	}
	if seen[far] != s2 {
		w.T.Fatalf("%s passed at revision %d, want S2 = %d (it was at %d when the walk started, rewritten at %d ahead of the walk, then at %d)", far, seen[far], s2, start[far], s1, s2)
	}
	for k, rev := range start {
		if seen[k] < rev {
			w.T.Fatalf("%s passed at revision %d, it was at %d when the walk started", k, seen[k], rev)
		}
	}
}

// Writes that keep coming, slower than the walk reads, do not keep it
// walking: here new keys under the walk's prefix, written one after the
// other as fast as the engine acknowledges them, while the walk reads
// 5,000 keys; it must end within the test's time, the writer still
// writing. (A walk that read in rounds, each ending at the stream's last
// sequence as of its start and counting afresh, cannot catch up with such
// a writer, and a write between a round's two reads leaves its count one
// short: it ended only on a round without one, after 39 to 144 rounds,
// 0.23-0.63 s, where this walk takes one pass, 0.10-0.11 s; docs/design.md.)
func TestWalkEndsUnderSteadyWrites(t *testing.T) {
	ctx, cancel := context.WithTimeout(ctxT(t), 30*time.Second)
	defer cancel()
	kv := bucketT(t, openT(t, Options{Dir: t.TempDir()}), "presence")
	keys := putN(t, kv, 5000)

	var stopWriting atomic.Bool
	var wg sync.WaitGroup
	var written atomic.Int64
	wg.Go(func() {
		for i := 0; !stopWriting.Load(); i++ {
			if _, err := kv.Put(ctx, ukey(tenantB, fmt.Sprintf("steady-%d", i)), []byte("v"), 0); err != nil {
				if ctx.Err() == nil {
					t.Error(err)
				}
				return
			}
			written.Add(1)
		}
	})
	for written.Load() < 100 && ctx.Err() == nil {
		time.Sleep(time.Millisecond) // the writer is under way
	}
	seen := make(map[string]bool, len(keys))
	err := kv.Walk(ctx, "u.", func(e store.Entry) error {
		seen[e.Key] = true
		return nil
	})
	before := written.Load()
	stopWriting.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("Walk under steady writes: %v (%d written meanwhile)", err, before)
	}
	for _, k := range keys {
		if !seen[k] {
			t.Fatalf("%s not passed", k)
		}
	}
	t.Logf("the walk ended with %d keys written by then", before)
}

// BenchmarkWalk walks 100,000 keys of 130 bytes (a user's facts, two
// sessions): "rate" reports the time and the process's CPU time (engine,
// client and all) per key; "heap" the most live heap (after a GC, every
// 5,000 keys) the walk added while it ran, against 21 MB of keys and
// values in all. Run with
//
//	go test -run '^$' -bench Walk -benchtime 3x ./natsstore/
func BenchmarkWalk(b *testing.B) {
	const n = 100_000
	kv := bucketT(b, openT(b, Options{Dir: b.TempDir()}), "presence")
	ctx := context.Background()
	val := make([]byte, 130)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				if _, err := kv.Put(ctx, ukey(tenantA, fmt.Sprintf("%08x-5ca1-4000-8000-%012x", i, i)), val, 0); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	walk := func(b *testing.B, each func()) {
		seen := 0
		if err := kv.Walk(ctx, "u.", func(store.Entry) error {
			seen++
			each()
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		if seen != n {
			b.Fatalf("walked %d keys of %d", seen, n)
		}
	}
	b.Run("rate", func(b *testing.B) {
		for b.Loop() {
			start, cpu := time.Now(), processCPUTime()
			walk(b, func() {})
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/n, "ns/key")
			b.ReportMetric(float64((processCPUTime()-cpu).Nanoseconds())/n, "cpu-ns/key")
		}
	})
	b.Run("heap", func(b *testing.B) {
		var ms runtime.MemStats
		live := func() uint64 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			return ms.HeapAlloc
		}
		var peak uint64
		for b.Loop() {
			base := live()
			seen := 0
			walk(b, func() {
				if seen++; seen%5000 == 0 {
					l := live()
					peak = max(peak, l-min(base, l))
				}
			})
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-live-heap-MB")
	})
}

// A record the engine counts but cannot read (its bytes damaged in a block
// the engine's index vouches for) ends Walk with ErrUnreadable after every
// readable key, instead of a wait that never ends.
func TestWalkReportsUnreadableRecords(t *testing.T) {
	dir := t.TempDir()
	e, err := Open(ctxT(t), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	fillBucket(t, bucketT(t, e, "p"), 5, 1)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	diskfault.FlipMiddle(t, diskfault.LastBlock(t, dir, "KV_p"), 16)

	kv := bucketT(t, openT(t, Options{Dir: dir}), "p")
	ctx, cancel := context.WithTimeout(ctxT(t), 30*time.Second)
	defer cancel()
	var got []string
	err = kv.Walk(ctx, "", func(e store.Entry) error { got = append(got, e.Key); return nil })
	var ue *UnreadableError
	if !errors.Is(err, store.ErrUnreadable) || !errors.As(err, &ue) || ue.Records != 1 || ue.Stream != "KV_p" {
		t.Fatalf("Walk: %v, want 1 unreadable record of KV_p", err)
	}
	if len(got) != 4 {
		t.Fatalf("Walk passed %q, want the 4 readable keys", got)
	}
}

// A walk whose consumer stops delivering while it counts more pending (its
// pull request lost on the way to the server that serves it, as seen right
// after a node's restart) makes its consumer again from the last key it
// passed, instead of waiting for ever: here the consumer is paused under
// the walk. Every key is passed once.
func TestWalkMakesAStalledConsumerAgain(t *testing.T) {
	ctx, e, kv := stallSetup(t, &walkIdle)
	const n = 2000 // more than one pull of the consumer's
	for i := range n {
		if _, err := kv.Put(ctx, ukey(tenantA, fmt.Sprintf("user%05d", i)), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	paused := false
	err := kv.Walk(ctx, "u.", func(en store.Entry) error {
		seen[en.Key]++
		if paused {
			return nil
		}
		paused = true
		return pauseConsumers(ctx, e, "KV_presence")
	})
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	if len(seen) != n {
		t.Fatalf("walk passed %d keys, want %d", len(seen), n)
	}
	for k, c := range seen {
		if c != 1 {
			t.Fatalf("%s passed %d times", k, c)
		}
	}
}
