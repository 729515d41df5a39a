package dirstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/dirstore"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// seedFile is the demo with n generated users and one more application
// whose secret is in clear (hashed anew by every import).
func seedFile(n int) *directory.File {
	f := directory.DemoFile(n)
	f.Applications = append(f.Applications, directory.App{ClientID: "0a0a0a0a-0000-4000-8000-00000000000a", TenantID: directory.DemoTenantID,
		Name: "seeded admin", Secret: "seeded-secret", Roles: []string{"User.ReadWrite.All"}})
	return f
}

// whole says what d lacks of f, or has more (nil: d is f, user for user,
// application for application).
func whole(d *directory.Directory, f *directory.File) error {
	if len(d.Tenants()) != len(f.Tenants) {
		return fmt.Errorf("%d tenants, want %d", len(d.Tenants()), len(f.Tenants))
	}
	if len(d.Apps()) != len(f.Applications) {
		return fmt.Errorf("%d applications, want %d", len(d.Apps()), len(f.Applications))
	}
	for _, a := range f.Applications {
		if _, ok := d.App(a.ClientID); !ok {
			return fmt.Errorf("application %s (%s) missing", a.ClientID, a.Name)
		}
	}
	if d.UserCount() != len(f.Users) {
		return fmt.Errorf("%d users, want %d", d.UserCount(), len(f.Users))
	}
	for _, u := range f.Users {
		if _, ok := d.User(u.ID); !ok {
			return fmt.Errorf("user %s missing", u.UserPrincipalName)
		}
	}
	return nil
}

// holdKV holds the first write of key until released, having said it
// reached it: an import stopped at a chosen point, as a slow node's.
type holdKV struct {
	store.SerialKV
	key     string
	once    sync.Once
	reached chan struct{}
	release chan struct{}
}

func hold(kv store.KV, key string) *holdKV {
	return &holdKV{SerialKV: kv.(store.SerialKV), key: key, reached: make(chan struct{}), release: make(chan struct{})}
}

func (h *holdKV) PutAfter(ctx context.Context, key string, value []byte, after uint64) (uint64, error) {
	if key == h.key {
		h.once.Do(func() {
			close(h.reached)
			<-h.release
		})
	}
	return h.SerialKV.PutAfter(ctx, key, value, after)
}

// An import under way at one node and another node's import or clean-up:
// whatever the order, the directory every node ends with, and the one
// stored, is one of the two files whole — never a generation that the
// other node's clean-up took keys of, nor one the other import wrote into.
func TestImportUnderWayAndAnotherNode(t *testing.T) {
	ctx := context.Background()
	f0, f1, f2 := seedFile(10), seedFile(40), seedFile(70)
	for _, tc := range []struct {
		rule string
		// other runs at node a while node b's import of f2 is held just
		// before its switch.
		other func(a *dirstore.Store) error
		// bWins: b's import is made current; else it is refused, and a's
		// directory stays.
		bWins bool
		want  *directory.File
	}{
		{"a newer import under way survives another node's clean-up", func(a *dirstore.Store) error {
			a.DeleteOtherGenerations(ctx)
			return nil
		}, true, f2},
		{"an import overtaken by a later one is not made current", func(a *dirstore.Store) error {
			if err := a.Import(ctx, f1, nil); err != nil {
				return err
			}
			a.DeleteOtherGenerations(ctx)
			return nil
		}, false, f1},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			_, kv := bucket(t)
			a := open(t, kv)
			if err := a.Import(ctx, f0, nil); err != nil {
				t.Fatal(err)
			}
			h := hold(kv, "current")
			b := open(t, h)
			done := make(chan error, 1)
			go func() { done <- b.Import(ctx, f2, nil) }()
			<-h.reached
			if err := tc.other(a); err != nil {
				t.Fatal(err)
			}
			close(h.release)
			err := <-done
			switch {
			case tc.bWins && err != nil:
				t.Fatalf("b's import: %v", err)
			case !tc.bWins && !isCode(err, presence.Conflict):
				t.Fatalf("b's import: %v, want a conflict (overtaken)", err)
			}
			for name, s := range map[string]*dirstore.Store{"a": a, "b": b} {
				within(t, 10*time.Second, "node "+name+" has the winning file whole", func() bool { return whole(s.Directory(), tc.want) == nil })
			}
			a.DeleteOtherGenerations(ctx)
			b.DeleteOtherGenerations(ctx)
			if err := whole(open(t, kv).Directory(), tc.want); err != nil {
				t.Fatalf("the stored directory: %v", err)
			}
		})
	}
}

// Nodes started together each seed the same file (serve --directory on
// every node of a cluster): whatever the interleaving, every node ends
// with the file's directory, whole, and so does a node opened afterwards.
// Each round starts the seeds at random offsets within a few imports'
// time, so that a seed may begin before, during or after another's switch
// and clean-up.
func TestConcurrentSeedsKeepOneWholeDirectory(t *testing.T) {
	ctx := context.Background()
	f := seedFile(300)
	src := dirstore.Source{Kind: "config", SHA256: "same-file"}
	for round := range 8 {
		_, kv := bucket(t)
		stores := make([]*dirstore.Store, 3)
		for i := range stores {
			stores[i] = open(t, kv)
		}
		var wg sync.WaitGroup
		errs := make([]error, len(stores))
		for i, s := range stores {
			delay := time.Duration(rand.IntN(1500)) * time.Millisecond
			wg.Go(func() {
				time.Sleep(delay)
				_, errs[i] = s.Seed(ctx, f, src)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: node %d: %v", round, i, err)
			}
		}
		for i, s := range stores {
			within(t, 10*time.Second, fmt.Sprintf("round %d: node %d has the whole file", round, i), func() bool { return whole(s.Directory(), f) == nil })
			s.DeleteOtherGenerations(ctx)
		}
		if err := whole(open(t, kv).Directory(), f); err != nil {
			t.Fatalf("round %d: the stored directory: %v", round, err)
		}
	}
}

// ackLateKV answers the write of `current` only once the store's watch has
// delivered it (the store then has the new directory), and counts walks
// (reads of a whole generation).
type ackLateKV struct {
	store.SerialKV
	mu    sync.Mutex
	walks int
	users int // the user count that shows the switch applied
	s     *dirstore.Store
}

func (a *ackLateKV) Walk(ctx context.Context, prefix string, fn func(store.Entry) error) error {
	a.mu.Lock()
	a.walks++
	a.mu.Unlock()
	return a.SerialKV.Walk(ctx, prefix, fn)
}

func (a *ackLateKV) PutAfter(ctx context.Context, key string, value []byte, after uint64) (uint64, error) {
	rev, err := a.SerialKV.PutAfter(ctx, key, value, after)
	if key == "current" && err == nil && a.s != nil {
		deadline := time.Now().Add(10 * time.Second)
		for a.s.Directory().UserCount() != a.users && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	return rev, err
}

// An import's own switch delivered by the watch before the write's
// acknowledgement installs the directory the import built: the store
// does not read back the generation it has just written (at a million
// users that read doubled the import's peak memory).
func TestOwnSwitchFromTheWatchIsNotReadBack(t *testing.T) {
	ctx := context.Background()
	_, kv := bucket(t)
	f := seedFile(50)
	a := &ackLateKV{SerialKV: kv.(store.SerialKV), users: len(f.Users)}
	s := open(t, a)
	a.mu.Lock()
	a.s, a.walks = s, 0
	a.mu.Unlock()
	if err := s.Import(ctx, f, nil); err != nil {
		t.Fatal(err)
	}
	if err := whole(s.Directory(), f); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.walks != 0 {
		t.Fatalf("the import read a generation back %d times", a.walks)
	}
}
