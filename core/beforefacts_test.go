package core_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/presence"
)

// A write reads the current facts' sessions into a buffer it reuses from
// write to write (core/write.go): each OnWrite callback must still see,
// as BeforeFacts, exactly the facts the user's previous write left, and
// as Facts what this one wrote, while other users' writes run at once
// (with -race: no two writes share the buffer), and the snapshot Do
// returns must not change afterwards.
func TestConcurrentWritesSeeTheirOwnBeforeFacts(t *testing.T) {
	kv := bucket(t)
	fake := clock.NewFake(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
	c := core.New(core.Options{KV: kv, Clock: fake})
	var mu sync.Mutex
	last := map[core.UserRef][]presence.Session{} // what each user's last write left
	var bad []string
	c.OnWrite(func(s core.Snapshot) {
		mu.Lock()
		defer mu.Unlock()
		if !s.HasBefore {
			bad = append(bad, fmt.Sprintf("%s: no BeforeFacts", s.User.UserID))
		} else if !slices.Equal(s.BeforeFacts.Sessions, last[s.User]) {
			bad = append(bad, fmt.Sprintf("%s: BeforeFacts %v, want %v", s.User.UserID, s.BeforeFacts.Sessions, last[s.User]))
		}
		last[s.User] = slices.Clone(s.Facts.Sessions)
	})
	ctx := context.Background()
	const writers, writes = 8, 30
	type kept struct {
		snap core.Snapshot
		want []presence.Session
	}
	keep := make([][]kept, writers)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range writes {
				u := core.UserRef{TenantID: alice.TenantID, UserID: fmt.Sprintf("%08d-0000-4000-8000-%012d", g, i%3)}
				// Sessions come and go: a user has one, two or three.
				var cmd presence.Command = set(fmt.Sprintf("s%d", i%4), []string{"Available", "Busy", "Away"}[i%3], []string{"Available", "InACall", "Away"}[i%3])
				if i%5 == 4 {
					cmd = presence.ClearPresence{SessionID: app + ":s" + fmt.Sprint((i+1)%4)}
				}
				snap, _, err := c.Do(ctx, u, cmd)
				if err != nil && presence.ErrorCode(err) != presence.NotFound {
					t.Error(err)
					return
				}
				if err == nil {
					keep[g] = append(keep[g], kept{snap, slices.Clone(snap.Facts.Sessions)})
				}
			}
		}()
	}
	wg.Wait()
	for _, b := range bad {
		t.Error(b)
	}
	for _, ks := range keep {
		for _, k := range ks {
			if !slices.Equal(k.snap.Facts.Sessions, k.want) {
				t.Errorf("%s: Do's snapshot changed after it returned: %v, was %v", k.snap.User.UserID, k.snap.Facts.Sessions, k.want)
			}
			if k.snap.BeforeFacts.Sessions != nil {
				t.Errorf("%s: Do's snapshot has BeforeFacts, which may share a write's buffer", k.snap.User.UserID)
			}
		}
	}
}
