package presenced_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/directory"
)

// presenceOf is an availability and activity to set.
type presenceOf struct{ avail, act string }

func (p presenceOf) String() string { return p.avail + "/" + p.act }

// Each node's cache follows the engine: what one node acknowledged is
// read through every other node, including nodes that had the user
// cached; concurrent writes through all nodes keep every acknowledged
// session; sequenceNumber never goes back across nodes, even on a node
// whose clock is behind; and every node knows the calendar users the
// others write, so a window stays fresh when the node that wrote it is
// gone. The dev clock's offset is one for the cluster.
func TestClusterNodesFollowEachOther(t *testing.T) {
	t.Parallel()
	nodes, _ := clusterOf(t, 3, 3, func(c *presenced.Config) {
		c.SessionsPerApp, c.SessionsPerUser = 64, 64
		c.ThrottleRequests = testThrottleRequests
	})
	tokens := make([]string, len(nodes))
	for i, n := range nodes {
		tokens[i] = n.appToken()
	}
	adele := nodes[0].user("adele")
	readAll := func(uid string) {
		for i, n := range nodes {
			if n.srv != nil {
				nodes[i].get(tokens[i], uid)
			}
		}
	}

	t.Run("a write is read through every node, cached or not", func(t *testing.T) {
		readAll(adele) // every node caches her
		for i, n := range nodes {
			to := []presenceOf{{"Busy", "InACall"}, {"DoNotDisturb", "Presenting"}, {"Away", "Away"}}[i]
			n.must("POST", "/v1.0/users/"+adele+"/presence/setPresence", tokens[i], setBody(to.avail, to.act, "PT1H"))
			for j, m := range nodes {
				waitFor(t, fmt.Sprintf("node %d reads node %d's write", j, i), func() bool { return pair(m.get(tokens[j], adele)) == to.String() })
			}
		}
	})

	t.Run("a work location set through one node is read through the others", func(t *testing.T) {
		me := nodes[2].userToken("adele", "")
		nodes[2].must("POST", "/v1.0/me/presence/setManualLocation", me, map[string]any{"workLocationType": "remote"})
		for j, m := range nodes {
			waitFor(t, fmt.Sprintf("node %d reads the work location", j), func() bool {
				return workLocation(m.get(tokens[j], adele)) == "remote/manual/"
			})
		}
	})

	t.Run("concurrent writes through every node keep every acknowledged session", func(t *testing.T) {
		megan := nodes[0].user("megan")
		readAll(megan)
		const writersPerNode, writesEach = 3, 5
		var (
			mu    sync.Mutex
			acked = map[string]bool{}
			wg    sync.WaitGroup
		)
		for i, n := range nodes {
			for w := range writersPerNode {
				wg.Go(func() {
					for k := range writesEach {
						id := fmt.Sprintf("%s:n%d-w%d-%d", directory.DemoDaemonClientID, i, w, k)
						b := setBody("Available", "Available", "PT1H")
						b["sessionId"] = id
						if r := n.call("POST", "/v1.0/users/"+megan+"/presence/setPresence", tokens[i], b); r.status == 200 {
							mu.Lock()
							acked[id] = true
							mu.Unlock()
						}
					}
				})
			}
		}
		wg.Wait()
		t.Logf("%d of %d writes acknowledged", len(acked), len(nodes)*writersPerNode*writesEach)
		if len(acked) == 0 {
			t.Fatal("no write acknowledged")
		}
		u := core.UserRef{TenantID: directory.DemoTenantID, UserID: megan}
		for i, n := range nodes {
			waitFor(t, fmt.Sprintf("node %d holds every acknowledged session", i), func() bool {
				s, err := n.srv.Core().Read(context.Background(), u)
				if err != nil {
					t.Fatal(err)
				}
				held := map[string]bool{}
				for _, se := range s.Facts.Sessions {
					held[se.ID] = true
				}
				for id := range acked {
					if !held[id] {
						return false
					}
				}
				return true
			})
		}
	})

	t.Run("sequenceNumber never goes back across nodes, a clock behind included", func(t *testing.T) {
		alex := nodes[0].user("alex")
		readAll(alex)
		// Node 0's clock runs 10 s ahead of node 1's.
		nodes[0].fake.Add(10 * time.Second)
		last := ""
		// Every node answers the newest stamp once it has heard of it.
		check := func(what string) {
			t.Helper()
			for j, m := range nodes {
				waitFor(t, fmt.Sprintf("node %d answers the newest sequenceNumber after %s", j, what), func() bool {
					return m.get(tokens[j], alex).str("sequenceNumber") == last
				})
			}
		}
		for k, step := range []struct {
			node int
			to   presenceOf
		}{{0, presenceOf{"Busy", "InACall"}}, {1, presenceOf{"Away", "Away"}}, {0, presenceOf{"Available", "Available"}}, {1, presenceOf{"DoNotDisturb", "Presenting"}}} {
			nodes[step.node].must("POST", "/v1.0/users/"+alex+"/presence/setPresence", tokens[step.node], setBody(step.to.avail, step.to.act, "PT1H"))
			seq := nodes[step.node].get(tokens[step.node], alex).str("sequenceNumber")
			if seq <= last {
				t.Fatalf("step %d: node %d's write stamped %s after %s", k, step.node, seq, last)
			}
			last = seq
			check(fmt.Sprintf("step %d", k))
		}
	})

	t.Run("the dev clock is one for the cluster", func(t *testing.T) {
		offsets := func(want time.Duration) {
			t.Helper()
			for i, n := range nodes {
				waitFor(t, fmt.Sprintf("node %d's clock offset is %v", i, want), func() bool { return n.srv.Clock().Offset() == want })
			}
		}
		if r := nodes[1].call("POST", "/dev/clock/advance?by=PT1H", "", nil); r.status != 200 {
			t.Fatalf("advance: %d %s", r.status, r.raw)
		}
		offsets(time.Hour)
		var wg sync.WaitGroup
		for _, n := range []*env{nodes[0], nodes[2]} {
			wg.Go(func() {
				if r := n.call("POST", "/dev/clock/advance?by=PT10M", "", nil); r.status != 200 {
					t.Errorf("advance: %d %s", r.status, r.raw)
				}
			})
		}
		wg.Wait()
		offsets(time.Hour + 20*time.Minute)
		// Tokens (an hour's) and adele's sessions (PT1H) have expired on
		// every node alike.
		for i, n := range nodes {
			if r := n.call("GET", "/v1.0/users/"+adele+"/presence", tokens[i], nil); r.status != 401 {
				t.Errorf("node %d takes a token an hour and 20 minutes old: %d", i, r.status)
			}
			tokens[i] = n.appToken()

			if got := pair(n.get(tokens[i], adele)); got != "Offline/Offline" {
				t.Errorf("node %d reads adele %s after the move", i, got)
			}
		}
	})

	t.Run("every node keeps other nodes' calendar windows fresh", func(t *testing.T) {
		lynne := nodes[0].user("lynne")
		nodes[0].createEvent(lynne, event("Standup", "2026-11-25T16:00:00", "2026-11-25T16:30:00", "UTC",
			map[string]any{"recurrence": map[string]any{"pattern": map[string]any{"type": "daily", "interval": 1},
				"range": map[string]any{"type": "noEnd", "startDate": "2026-11-25"}}}))
		for i, n := range nodes[1:] {
			waitFor(t, fmt.Sprintf("node %d schedules the refresh of a window node 0 wrote", i+1), func() bool { return n.srv.Mailbox().Scheduled() > 0 })
		}
		u := core.UserRef{TenantID: directory.DemoTenantID, UserID: lynne}
		s, err := nodes[1].srv.Core().Read(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		until := s.Facts.CalendarUntil
		if until.IsZero() {
			t.Fatal("node 1 holds no window")
		}
		// Node 0 is gone; a day and a half later the others extend it.
		nodes[0].stop()
		for _, n := range nodes[1:] {
			n.fake.Add(36 * time.Hour)
		}
		waitFor(t, "the window extended without node 0", func() bool {
			s, err := nodes[2].srv.Core().Read(context.Background(), u)
			return err == nil && s.Facts.CalendarUntil.After(until)
		})
	})
}
