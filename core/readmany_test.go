package core_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// countingKV counts the reads and write conflicts a core causes.
type countingKV struct {
	store.KV
	gets, getManys, conflicts atomic.Int64
}

func (k *countingKV) Get(ctx context.Context, key string) (store.Entry, error) {
	k.gets.Add(1)
	return k.KV.Get(ctx, key)
}

func (k *countingKV) GetMany(ctx context.Context, keys []string) ([]store.Entry, error) {
	k.getManys.Add(1)
	return k.KV.GetMany(ctx, keys)
}

func (k *countingKV) Put(ctx context.Context, key string, value []byte, expect uint64) (uint64, error) {
	rev, err := k.KV.Put(ctx, key, value, expect)
	if errors.Is(err, store.ErrConflict) {
		k.conflicts.Add(1)
	}
	return rev, err
}

// readMany reads us from c and fails t unless kv has served, by then,
// gets Gets and getManys GetManys in all.
func (k *countingKV) readMany(t *testing.T, c *core.Core, us []core.UserRef, what string, gets, getManys int64) []core.Snapshot {
	t.Helper()
	snaps, err := c.ReadMany(context.Background(), us)
	if err != nil {
		t.Fatal(err)
	}
	if g, m := k.gets.Load(), k.getManys.Load(); g != gets || m != getManys {
		t.Fatalf("%s: %d Gets and %d GetManys, want %d and %d", what, g, m, gets, getManys)
	}
	return snaps
}

func user(i int) core.UserRef {
	return core.UserRef{TenantID: alice.TenantID, UserID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)}
}

// fill writes two sessions for each of n users (every seventh is left
// unwritten) and returns the users with what the writer saw last.
func fill(t testing.TB, kv store.KV, clk clock.Clock, n int) ([]core.UserRef, map[core.UserRef]core.Snapshot) {
	t.Helper()
	ctx := context.Background()
	writer := core.New(core.Options{KV: kv, Clock: clk})
	us := make([]core.UserRef, n)
	want := make(map[core.UserRef]core.Snapshot, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	const workers = 8
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				u := user(i)
				us[i] = u
				if i%7 == 0 {
					continue
				}
				var last core.Snapshot
				for _, cmd := range []presence.Command{set("a", "Available", "Available"), set("b", "Busy", "InACall")} {
					snap, _, err := writer.Do(ctx, u, cmd)
					if err != nil {
						t.Error(err)
						return
					}
					last = snap
				}
				mu.Lock()
				want[u] = last
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return us, want
}

// A cold ReadMany of more users than one engine batch holds reads them all
// with one GetMany (no Get), returns exactly what was written, and caches
// each at its stored revision: writes after it do not conflict.
func TestReadManyColdMany(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	ctx := context.Background()
	base := bucket(t)
	us, want := fill(t, base, fake, 1500)
	ask := append([]core.UserRef(nil), us...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(ask), func(i, j int) { ask[i], ask[j] = ask[j], ask[i] })
	ask = append(ask, ask[:10]...) // repeats

	kv := &countingKV{KV: base}
	c := core.New(core.Options{KV: kv, Clock: fake})
	snaps := kv.readMany(t, c, ask, "cold", 0, 1)
	for i, s := range snaps {
		u := ask[i]
		w, written := want[u]
		if s.User != u {
			t.Fatalf("snapshot %d is of %v, want %v", i, s.User, u)
		}
		if !written {
			if len(s.Facts.Sessions) != 0 || s.View.Pair.String() != "Offline/Offline" {
				t.Fatalf("%v was never written, read %+v", u, s.Facts)
			}
			continue
		}
		if !reflect.DeepEqual(s.Facts, w.Facts) {
			t.Fatalf("%v: read\n%+v\nwrote\n%+v", u, s.Facts, w.Facts)
		}
	}

	// Now cached: no more engine reads, and the same answers.
	again := kv.readMany(t, c, ask, "warm", 0, 1)
	if !reflect.DeepEqual(again, snaps) {
		t.Fatal("warm ReadMany differs from the cold one")
	}
	for i := 0; i < len(us); i += 10 {
		if _, _, err := c.Do(ctx, us[i], set("c", "Away", "Away")); err != nil {
			t.Fatal(err)
		}
	}
	if n := kv.conflicts.Load(); n != 0 {
		t.Fatalf("%d revision conflicts after ReadMany", n)
	}
}

// racingKV runs during (after the engine read of) the next GetMany.
type racingKV struct {
	store.KV
	during func()
}

func (k *racingKV) GetMany(ctx context.Context, keys []string) ([]store.Entry, error) {
	got, err := k.KV.GetMany(ctx, keys)
	if f := k.during; f != nil {
		k.during = nil
		f()
	}
	return got, err
}

// A write that this node makes while a cold ReadMany reads the engine wins
// over what that read found: the older copy is not cached over it.
func TestReadManyKeepsWhatWasCachedMeanwhile(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	ctx := context.Background()
	base := bucket(t)
	if _, _, err := core.New(core.Options{KV: base, Clock: fake}).Do(ctx, alice, set("desk", "Available", "Available")); err != nil {
		t.Fatal(err)
	}
	counting := &countingKV{KV: base}
	kv := &racingKV{KV: counting}
	c := core.New(core.Options{KV: kv, Clock: fake})
	kv.during = func() {
		if _, _, err := c.Do(ctx, alice, set("desk", "Busy", "InACall")); err != nil {
			t.Error(err)
		}
	}
	snaps, err := c.ReadMany(ctx, []core.UserRef{user(1), alice})
	if err != nil {
		t.Fatal(err)
	}
	if got := snaps[1].View.Pair.String(); got != "Busy/InACall" {
		t.Fatalf("ReadMany answered %s, want the write made meanwhile, Busy/InACall", got)
	}
	if snap, _ := c.Read(ctx, alice); snap.View.Pair.String() != "Busy/InACall" {
		t.Fatalf("cached %s after ReadMany, want Busy/InACall", snap.View.Pair)
	}
	// And the cached revision is the stored one: the next write goes
	// through without a conflict.
	if _, _, err := c.Do(ctx, alice, set("desk", "Away", "Away")); err != nil {
		t.Fatal(err)
	}
	if n := counting.conflicts.Load(); n != 0 {
		t.Fatalf("%d revision conflicts", n)
	}
}

// The engine's failure reaches the caller as Unavailable.
func TestReadManyEngineDown(t *testing.T) {
	ctx := context.Background()
	e := enginetest.Open(t)
	kv, err := e.Bucket(ctx, "presence")
	if err != nil {
		t.Fatal(err)
	}
	c := core.New(core.Options{KV: kv, Clock: clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))})
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadMany(ctx, []core.UserRef{alice, user(1)}); presence.ErrorCode(err) != presence.Unavailable {
		t.Fatalf("err %v, want Unavailable", err)
	}
}

// ReadEach hands over the same snapshots as ReadMany, in order, and stops
// at the callback's first error. ReadEach reuses the sessions' backing
// array from one user to the next (the callback copies what it keeps);
// ReadMany's snapshots are each their own.
func TestReadEach(t *testing.T) {
	ctx := context.Background()
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	c := core.New(core.Options{KV: bucket(t), Clock: fake})
	us := make([]core.UserRef, 5)
	for i := range us {
		us[i] = core.UserRef{TenantID: alice.TenantID, UserID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)}
		if i%2 == 0 { // the odd ones were never written
			pairs := [][2]string{{"Busy", "InACall"}, {"Away", "Away"}, {"DoNotDisturb", "Presenting"}}
			for k := 0; k < 3-i/2; k++ { // 3, 2 and 1 sessions (so a reused buffer has room), each user its own
				p := pairs[(i/2+k)%len(pairs)]
				if _, _, err := c.Do(ctx, us[i], set(fmt.Sprint("s", k), p[0], p[1])); err != nil {
					t.Fatal(err)
				}
				fake.Add(time.Second)
			}
		}
	}
	want, err := c.ReadMany(ctx, us)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readEachAll(ctx, c, us)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ReadEach\n%+v\nReadMany\n%+v", got, want)
	}
	for i, n := range []int{3, 0, 2, 0, 1} {
		if len(want[i].Facts.Sessions) != n {
			t.Fatalf("user %d: %d sessions, want %d", i, len(want[i].Facts.Sessions), n)
		}
	}
	if want[0].Facts.Sessions[0] == want[2].Facts.Sessions[0] || want[2].Facts.Sessions[0] == want[4].Facts.Sessions[0] {
		t.Fatal("ReadMany's snapshots share their sessions")
	}
	stop := errors.New("enough")
	calls := 0
	err = c.ReadEach(ctx, us, func(*core.Snapshot) error {
		if calls++; calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 2 {
		t.Fatalf("ReadEach went on after an error: %v after %d calls", err, calls)
	}
}

// readEachAll is ReadEach's snapshots kept, each a copy of its own (the
// one ReadEach passes is reused).
func readEachAll(ctx context.Context, c *core.Core, us []core.UserRef) ([]core.Snapshot, error) {
	var got []core.Snapshot
	err := c.ReadEach(ctx, us, func(s *core.Snapshot) error {
		cp := *s
		cp.Facts.Sessions = slices.Clone(s.Facts.Sessions)
		got = append(got, cp)
		return nil
	})
	return got, err
}
