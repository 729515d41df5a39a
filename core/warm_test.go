package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// walkingKV runs before(e) ahead of handing each walked entry to Warm.
type walkingKV struct {
	store.KV
	before func(store.Entry)
}

func (k *walkingKV) Walk(ctx context.Context, prefix string, fn func(store.Entry) error) error {
	return k.KV.Walk(ctx, prefix, func(e store.Entry) error {
		if k.before != nil {
			k.before(e)
		}
		return fn(e)
	})
}

// Warm caches every stored user (binary and older JSON values) at its
// stored revision: reads then ask the engine nothing, and writes do not
// conflict.
func TestWarm(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	ctx := context.Background()
	base := bucket(t)
	us, want := fill(t, base, fake, 1500)
	// Users stored as JSON by an earlier version.
	for i := 1500; i < 1510; i++ {
		u := user(i)
		f := presence.Facts{Sessions: []presence.Session{{ID: app + ":old", Pair: presence.Pair{Availability: presence.Away, Activity: presence.Away}, RefreshedAt: fake.Now(), ExpiresAt: fake.Now().Add(time.Hour)}}}
		v, _ := json.Marshal(f)
		if _, err := base.Put(ctx, u.Key(), v, 0); err != nil {
			t.Fatal(err)
		}
		us = append(us, u)
		want[u] = core.Snapshot{User: u, Facts: f}
	}
	// Keys that name no user, or are not under "u.", are passed over.
	for _, k := range []string{"u.lonely", "s.x.y"} {
		if _, err := base.Put(ctx, k, []byte("{}"), 0); err != nil {
			t.Fatal(err)
		}
	}

	kv := &countingKV{KV: base}
	c := core.New(core.Options{KV: kv, Clock: fake})
	n, err := c.Warm(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Fatalf("Warm cached %d users, %d are stored", n, len(want))
	}
	var stored []core.UserRef
	for _, u := range us {
		if _, ok := want[u]; ok {
			stored = append(stored, u)
		}
	}
	snaps := kv.readMany(t, c, stored, "after Warm, reading the stored users", 0, 0)
	for _, s := range snaps {
		if w := want[s.User]; !reflect.DeepEqual(s.Facts, w.Facts) {
			t.Fatalf("%v warmed as\n%+v\nstored\n%+v", s.User, s.Facts, w.Facts)
		}
	}
	for i := 0; i < len(stored); i += 10 {
		if _, _, err := c.Do(ctx, stored[i], set("c", "Away", "Away")); err != nil {
			t.Fatal(err)
		}
	}
	if n := kv.conflicts.Load(); n != 0 {
		t.Fatalf("%d revision conflicts after Warm", n)
	}
	// Everyone is cached now: a second Warm caches nobody.
	if n, err := c.Warm(ctx); n != 0 || err != nil {
		t.Fatalf("second Warm: %d users, %v", n, err)
	}
}

// A write that this node makes after Warm read a user from the engine,
// but before Warm caches it, wins: Warm does not cache the older value
// over it.
func TestWarmNeverReplacesAWrite(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	ctx := context.Background()
	base := bucket(t)
	us, _ := fill(t, base, fake, 50)
	counting := &countingKV{KV: base}
	kv := &walkingKV{KV: counting}
	c := core.New(core.Options{KV: kv, Clock: fake})
	target := us[1]
	kv.before = func(e store.Entry) {
		if e.Key == target.Key() {
			if _, _, err := c.Do(ctx, target, set("desk", "DoNotDisturb", "Presenting")); err != nil {
				t.Error(err)
			}
		}
	}
	if _, err := c.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	snap, err := c.Read(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	if got := snap.View.Pair.String(); got != "DoNotDisturb/Presenting" {
		t.Fatalf("after Warm %v reads %s, want the write made during it, DoNotDisturb/Presenting", target, got)
	}
	if _, _, err := c.Do(ctx, target, set("desk", "Away", "Away")); err != nil {
		t.Fatal(err)
	}
	if n := counting.conflicts.Load(); n != 0 {
		t.Fatalf("%d revision conflicts", n)
	}
}

// Writers and readers running all through a Warm: afterwards the cache
// holds exactly what the engine holds, for every user.
func TestWarmWithConcurrentWriters(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	ctx := context.Background()
	base := bucket(t)
	us, _ := fill(t, base, fake, 3000)
	kv := &countingKV{KV: base}
	c := core.New(core.Options{KV: kv, Clock: fake})

	var done atomic.Bool
	var wg sync.WaitGroup
	pairs := [][2]string{{"Busy", "InACall"}, {"Away", "Away"}, {"DoNotDisturb", "Presenting"}, {"Available", "Available"}}
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; !done.Load() || i < 200; i++ {
				u := us[r.IntN(len(us))]
				p := pairs[r.IntN(len(pairs))]
				if w == 3 {
					if _, err := c.ReadMany(ctx, []core.UserRef{u, us[r.IntN(len(us))]}); err != nil {
						t.Error(err)
						return
					}
					continue
				}
				if _, _, err := c.Do(ctx, u, set("w", p[0], p[1])); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	n, err := c.Warm(ctx)
	done.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Warm cached %d users while others wrote and read", n)
	if conflicts := kv.conflicts.Load(); conflicts != 0 {
		t.Fatalf("%d revision conflicts: the cache fell behind the engine", conflicts)
	}
	cached, err := c.ReadMany(ctx, us)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := core.New(core.Options{KV: base, Clock: fake}).ReadMany(ctx, us)
	if err != nil {
		t.Fatal(err)
	}
	for i := range us {
		if !reflect.DeepEqual(cached[i].Facts, stored[i].Facts) {
			t.Fatalf("%v cached as\n%+v\nstored as\n%+v", us[i], cached[i].Facts, stored[i].Facts)
		}
	}
}

// Warm stops when ctx ends, with its error, having cached what it read.
func TestWarmStops(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	base := bucket(t)
	fill(t, base, fake, 700)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := 0
	kv := &walkingKV{KV: base, before: func(store.Entry) {
		if seen++; seen == 100 {
			cancel()
		}
	}}
	n, err := core.New(core.Options{KV: kv, Clock: fake}).Warm(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Warm returned %v, want context.Canceled", err)
	}
	if n < 99 || n > 100 || seen > 100 {
		t.Fatalf("Warm cached %d users of %d read after the cancel at 100", n, seen)
	}
}

// A stored value that cannot be decoded is left out and reported; the
// other users are cached.
func TestWarmReportsUnreadableValues(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	ctx := context.Background()
	base := bucket(t)
	_, want := fill(t, base, fake, 30)
	bad := user(1000)
	if _, err := base.Put(ctx, bad.Key(), []byte("\x07not facts"), 0); err != nil {
		t.Fatal(err)
	}
	c := core.New(core.Options{KV: base, Clock: fake})
	n, err := c.Warm(ctx)
	if err == nil || !strings.Contains(err.Error(), "1 stored users could not be read") || !strings.Contains(err.Error(), bad.Key()) {
		t.Fatalf("Warm returned %v, want it to name the unreadable %s", err, bad.Key())
	}
	if n != len(want) {
		t.Fatalf("Warm cached %d users, want the %d readable ones", n, len(want))
	}
	if _, err := c.Read(ctx, bad); err == nil {
		t.Fatal("reading the unreadable user did not fail")
	}
}
