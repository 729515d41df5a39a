package dirstore_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/dirstore"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// In a cluster of three nodes (the directory bucket at three replicas),
// the directory is one: a user made at one node is found at the others,
// and two nodes making the same userPrincipalName at once end with one
// user, the other told it exists (or to send again, then that it exists).
// Waits are a minute: a cluster on a loaded 2-core machine replicates in
// seconds.
func TestDirectoryInACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	ctx := context.Background()
	c := enginetest.StartCluster(t, 3, natsstore.Options{Replicas: 3, Logger: quiet})
	stores := make([]*dirstore.Store, 3)
	for i := range stores {
		kv, err := c.Node(i).Bucket(ctx, "directory")
		if err != nil {
			t.Fatal(err)
		}
		// Replicated, as the server opens it in a cluster: a node reading
		// an import whole may be served by a replica still catching up.
		stores[i] = openWith(t, dirstore.Options{KV: kv.(store.SerialKV), Replicated: true})
	}
	if err := stores[0].Import(ctx, directory.DemoFile(0), nil); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 3; i++ {
		within(t, time.Minute, "the import reaches every node", func() bool { return stores[i].Directory().UserCount() == 7 })
	}
	for round := range 5 {
		upn := "race" + string(rune('a'+round)) + "@contoso.dev"
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for k := range 2 {
			wg.Go(func() {
				for range 3 {
					_, errs[k] = stores[k].CreateUser(ctx, directory.UserEntry{TenantID: directory.DemoTenantID, UserPrincipalName: upn})
					if !isCode(errs[k], presence.Unavailable) {
						return
					}
				}
			})
		}
		wg.Wait()
		won := 0
		for k, err := range errs {
			switch {
			case err == nil:
				won++
			case !isCode(err, presence.Conflict):
				t.Fatalf("round %d, node %d: %v", round, k, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d nodes made %s", round, won, upn)
		}
		within(t, time.Minute, "the user reaches the third node", func() bool { _, ok := stores[2].Directory().User(upn); return ok })
	}
}

// laggingKV reads as a node still catching up would for its first walks:
// the current record (a read of the leader) names a generation whose
// keys the walk (served by this node's copy) does not have yet.
type laggingKV struct {
	store.SerialKV
	mu    sync.Mutex
	stale int
}

func (l *laggingKV) Walk(ctx context.Context, prefix string, fn func(store.Entry) error) error {
	l.mu.Lock()
	stale := l.stale > 0
	l.stale--
	l.mu.Unlock()
	if stale {
		return nil
	}
	return l.SerialKV.Walk(ctx, prefix, fn)
}

// A replicated store whose first reads of the directory come from a copy
// still catching up reads it again until it is whole, instead of refusing
// to start; a single node's store still refuses a directory that does not
// validate at once.
func TestReplicaCatchingUpIsReadAgain(t *testing.T) {
	ctx := context.Background()
	_, kv := bucket(t)
	if err := open(t, kv).Import(ctx, directory.DemoFile(0), nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rule       string
		replicated bool
		ok         bool
	}{
		{"a replicated store reads the directory again", true, true},
		{"a single node's store refuses it", false, false},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			s, err := dirstore.Open(ctx, dirstore.Options{KV: &laggingKV{SerialKV: kv.(store.SerialKV), stale: 3}, Clock: clock.NewFake(t0), Logger: quiet, Replicated: tc.replicated})
			if !tc.ok {
				if err == nil || !strings.Contains(err.Error(), "does not validate") {
					t.Fatalf("opened: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if n := s.Directory().UserCount(); n != 7 {
				t.Fatalf("%d users, want the demo's 7", n)
			}
		})
	}
}
