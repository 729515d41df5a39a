package core_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/core/cachefile"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// presenceKV is the presence bucket of a single-node engine of the test's
// own with parts partitions.
func presenceKV(t *testing.T, parts int) store.KV {
	t.Helper()
	e, err := natsstore.Open(context.Background(), natsstore.Options{Dir: t.TempDir(), Partitions: parts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	kv, err := e.Partitioned(context.Background(), "presence")
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func resumable(kv store.KV) core.Options {
	return core.Options{KV: kv, Resume: kv.(store.Resumable), Logger: quietLog}
}

func save(t *testing.T, c *core.Core) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := c.SaveSnapshot(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// restoreErr decodes b and loads it into c.
func restoreErr(c *core.Core, b []byte) (core.Restored, error) {
	s, err := cachefile.Decode(b)
	if err != nil {
		return core.Restored{}, err
	}
	return c.Restore(context.Background(), s)
}

// loadWays are the two ways a start loads a saved cache: into the core
// over the engine (Restore), or into a cache of its own before the engine
// is open, adopted by the core once it is (Preload, Adopt).
var loadWays = []string{"restore", "preload"}

// load loads b the way how says and returns the core that holds it (a new
// empty core over o's engine when refused).
func load(how string, o core.Options, b []byte) (*core.Core, core.Restored, error) {
	if how == "restore" {
		c := core.New(o)
		r, err := restoreErr(c, b)
		return c, r, err
	}
	s, err := cachefile.Decode(b)
	if err != nil {
		return core.New(o), core.Restored{}, err
	}
	p, err := core.Preload(s)
	if err != nil {
		return core.New(o), core.Restored{}, err
	}
	clear(b) // nothing of the file is kept: entries are copied
	c, r, err := p.Adopt(context.Background(), o)
	if err != nil {
		return core.New(o), r, err
	}
	if _, _, err := p.Adopt(context.Background(), o); err == nil {
		return nil, r, errors.New("a preloaded cache was adopted twice")
	}
	return c, r, nil
}

// sameAsEngine fails t unless c shows every user of us as the engine
// holds it (read by a core with nothing cached).
func sameAsEngine(t *testing.T, c *core.Core, kv store.KV, clk clock.Clock, us []core.UserRef) {
	t.Helper()
	ctx := context.Background()
	got, err := c.ReadMany(ctx, us)
	if err != nil {
		t.Fatal(err)
	}
	want, err := core.New(core.Options{KV: kv, Clock: clk}).ReadMany(ctx, us)
	if err != nil {
		t.Fatal(err)
	}
	for i := range us {
		g, w := got[i], want[i]
		if !reflect.DeepEqual(g.Facts, w.Facts) || g.Seq != w.Seq || !g.View.Equal(w.View) {
			t.Fatalf("%s: the restarted cache shows\n%+v\nthe engine holds\n%+v", us[i].UserID, g.Facts, w.Facts)
		}
	}
}

// A snapshot saved before more writes, deletions and new users, loaded
// and caught up, shows exactly what the engine holds; the users it holds
// are read from memory (no engine read), and the catch-up reads only the
// changes made after it.
func TestRestoreStaleSnapshotCatchesUp(t *testing.T) {
	for _, tc := range []struct {
		parts int
		how   string
	}{{1, "restore"}, {3, "restore"}, {1, "preload"}, {3, "preload"}} {
		parts := tc.parts
		t.Run(fmt.Sprintf("%d partitions, %s", parts, tc.how), func(t *testing.T) {
			fake := clock.NewFake(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
			ctx := context.Background()
			kv := presenceKV(t, parts)
			o := resumable(kv)
			o.Clock = fake
			first := core.New(o)
			const n = 300
			us := make([]core.UserRef, n+50)
			for i := range us {
				us[i] = user(i)
			}
			for i := range n {
				if _, _, err := first.Do(ctx, us[i], set("a", presence.Available, presence.Available)); err != nil {
					t.Fatal(err)
				}
			}
			snap := save(t, first)
			// After the snapshot: changes, deletions, new users, and a
			// user deleted then written again.
			fake.Add(time.Minute)
			for i := 0; i < n; i += 3 {
				if _, _, err := first.Do(ctx, us[i], set("b", presence.Busy, presence.InACall)); err != nil {
					t.Fatal(err)
				}
			}
			for i := 1; i < n; i += 10 {
				if err := first.Remove(ctx, us[i]); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := first.Do(ctx, us[11], set("c", presence.Away, presence.Away)); err != nil {
				t.Fatal(err)
			}
			for i := n; i < len(us); i++ {
				if _, _, err := first.Do(ctx, us[i], set("a", presence.DoNotDisturb, presence.Presenting)); err != nil {
					t.Fatal(err)
				}
			}

			counting := &countingKV{KV: kv}
			o.KV = counting
			next, r, err := load(tc.how, o, snap)
			if err != nil {
				t.Fatal(err)
			}
			if r.Users != n {
				t.Fatalf("restored %d users, the snapshot holds %d", r.Users, n)
			}
			changes, err := next.CatchUp(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			// n/3 rewrites, n/10 deletions, one user written again, 50 new.
			if want := (n+2)/3 + n/10 + 1 + 50; changes > want {
				t.Fatalf("the catch-up read %d changes; %d were made after the snapshot", changes, want)
			}
			counting.readMany(t, next, us, "after the catch-up", 0, 0)
			sameAsEngine(t, next, kv, fake, us)
			// A write through the restarted core meets no conflict: the
			// revisions it holds are the engine's.
			if _, _, err := next.Do(ctx, us[0], set("d", presence.Away, presence.Away)); err != nil || counting.conflicts.Load() != 0 {
				t.Fatalf("write after the restart: %v, %d conflicts", err, counting.conflicts.Load())
			}
		})
	}
}

// slowAckKV returns from a Put some time after the engine acknowledged
// it: the window in which a write is in the engine (and in its positions)
// and not yet in the cache.
type slowAckKV struct{ store.KV }

func (k slowAckKV) Put(ctx context.Context, key string, value []byte, expect uint64) (uint64, error) {
	rev, err := k.KV.Put(ctx, key, value, expect)
	time.Sleep(2 * time.Millisecond)
	return rev, err
}

// A snapshot taken while writes go on never holds a user older than the
// engine without a newer change after its positions: a write the engine
// acknowledged before the positions were read reaches the cache before
// its shard is copied (the writes here stay between acknowledgement and
// cache for 2 ms, so that a save that did not wait for them would miss
// some).
func TestSnapshotDuringWrites(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	ctx := context.Background()
	kv := presenceKV(t, 2)
	o := resumable(kv)
	o.Clock = fake
	writing := o
	writing.KV = slowAckKV{kv}
	first := core.New(writing)
	us := make([]core.UserRef, 200)
	for i := range us {
		us[i] = user(i)
	}
	var (
		stop atomic.Bool
		wg   sync.WaitGroup
	)
	for w := range 4 {
		wg.Go(func() {
			for k := 0; !stop.Load(); k++ {
				u := us[(k*4+w)%len(us)]
				pairs := [][2]string{{presence.Available, presence.Available}, {presence.Busy, presence.InACall}, {presence.Away, presence.Away}}
				p := pairs[k%len(pairs)]
				if _, _, err := first.Do(ctx, u, set(fmt.Sprint("s", k%3), p[0], p[1])); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var snaps [][]byte
	for range 10 {
		time.Sleep(20 * time.Millisecond)
		snaps = append(snaps, save(t, first))
	}
	stop.Store(true)
	wg.Wait()
	for i, snap := range snaps {
		next := core.New(o)
		r, err := restoreErr(next, snap)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := next.CatchUp(ctx, r); err != nil {
			t.Fatal(err)
		}
		t.Logf("snapshot %d: %d users", i, r.Users)
		sameAsEngine(t, next, kv, fake, us)
	}
}

// A snapshot that cannot be used is refused with a reason and leaves the
// cache empty, for the warm-up to fill.
func TestRestoreRefuses(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	ctx := context.Background()
	kv := presenceKV(t, 2)
	o := resumable(kv)
	o.Clock = fake
	first := core.New(o)
	for i := range 20 {
		if _, _, err := first.Do(ctx, user(i), set("a", presence.Available, presence.Available)); err != nil {
			t.Fatal(err)
		}
	}
	good := save(t, first)
	other := presenceKV(t, 2)
	oo := resumable(other)
	oo.Clock = fake
	foreign := save(t, core.New(oo))
	pos, err := kv.(store.Resumable).Positions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	file := func(format uint64, pos []store.Position) []byte {
		h := cachefile.Header{Format: format}
		for _, p := range pos {
			h.Positions = append(h.Positions, cachefile.Position(p))
		}
		var b bytes.Buffer
		w := cachefile.NewWriter(&b, h)
		if err := w.Close(nil); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	ahead := append([]store.Position(nil), pos...)
	ahead[1].Seq += 100
	damaged := bytes.Clone(good)
	damaged[len(damaged)/2] ^= 1
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"damaged", damaged, cachefile.ErrChecksum},
		{"cut short", good[:len(good)-7], cachefile.ErrChecksum},
		{"not a snapshot", []byte("{}"), cachefile.ErrNotSnapshot},
		{"of another engine", foreign, core.ErrSnapshotForeign},
		{"of another entry format", file(99, pos), cachefile.ErrVersion},
		{"ahead of the engine", file(1, ahead), core.ErrSnapshotForeign},
		{"of another partition count", file(1, pos[:1]), core.ErrSnapshotForeign},
	} {
		for _, how := range loadWays {
			t.Run(tc.name+", "+how, func(t *testing.T) {
				c, _, err := load(how, o, bytes.Clone(tc.b))
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				if n := c.CachedUsers(); n != 0 {
					t.Fatalf("%d users cached after a refused snapshot", n)
				}
			})
		}
	}
}

// In a cluster, a node's snapshot taken while other nodes write, loaded
// by the node after more writes and deletions by the others (and while
// they go on writing during its start), shows what the engine holds: the
// snapshot's positions are those its follower reached.
func TestRestoreInAClusterSeesOtherNodesWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	fake := clock.NewFake(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cl := enginetest.StartCluster(t, 3, natsstore.Options{Replicas: 3, Partitions: 3})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	kvs := make([]store.KV, 3)
	cores := make([]*core.Core, 3)
	for i := range kvs {
		var err error
		if kvs[i], err = cl.Node(i).Partitioned(ctx, "presence"); err != nil {
			t.Fatal(err)
		}
	}
	start := func(i int) (*core.Core, *core.Follower) {
		o := resumable(kvs[i])
		o.Clock = fake
		c := core.New(o)
		f, err := c.Follow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return c, f
	}
	for i := range cores {
		c, f := start(i)
		cores[i] = c
		wg.Go(func() { f.Run(ctx) })
	}
	us := make([]core.UserRef, 120)
	for i := range us {
		us[i] = user(i)
		if _, _, err := cores[i%3].Do(ctx, us[i], set("a", presence.Available, presence.Available)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "node 0 caches every user", func() bool { return cores[0].CachedUsers() == len(us) })
	snap := save(t, cores[0])
	for i := 0; i < len(us); i += 2 {
		if _, _, err := cores[1+i%2].Do(ctx, us[i], set("b", presence.Busy, presence.InAConferenceCall)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < len(us); i += 7 {
		if err := cores[2].Remove(ctx, us[i]); err != nil {
			t.Fatal(err)
		}
	}
	// Node 0 restarts: its new core loads the snapshot and follows the
	// engine while node 1 keeps writing.
	var stop atomic.Bool
	var writer sync.WaitGroup
	writer.Go(func() {
		for k := 0; !stop.Load(); k++ {
			if _, _, err := cores[1].Do(ctx, us[(k*5)%len(us)], set(fmt.Sprint("w", k%4), presence.Away, presence.Away)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	o := resumable(kvs[0])
	o.Clock = fake
	next := core.New(o)
	r, err := restoreErr(next, snap)
	if err != nil {
		t.Fatal(err)
	}
	f, err := next.Follow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { f.Run(ctx) })
	if _, err := next.CatchUp(ctx, r); err != nil {
		t.Fatal(err)
	}
	stop.Store(true)
	writer.Wait()
	// What node 1 wrote last reaches node 0 through the watch.
	waitFor(t, "the restarted node shows what the engine holds", func() bool {
		got, err := next.ReadMany(ctx, us)
		if err != nil {
			return false
		}
		want, err := core.New(core.Options{KV: kvs[0], Clock: fake}).ReadMany(ctx, us)
		if err != nil {
			return false
		}
		for i := range got {
			if !reflect.DeepEqual(got[i].Facts, want[i].Facts) {
				return false
			}
		}
		return true
	})
	sameAsEngine(t, next, kvs[0], fake, us)
}
