package natsstore_test

import (
	"fmt"
	"testing"

	"github.com/presenced/presenced/natsstore"
)

// A cluster of nodes of an earlier presenced (nats-server's default
// routes: a pool of three to each peer and one for its system account)
// is upgraded node by node to this one's single route to each peer
// (embedded.go's routePoolSize): after each node's restart, every node
// reaches every other and a write through the restarted node is read on
// every node. nats-server supports peers of other pool sizes since
// v2.11 (for such upgrades); this checks it holds for our nodes.
func TestClusterRoutesChangedNodeByNode(t *testing.T) {
	restore := natsstore.SetRoutes(0, nil) // the earlier nodes'
	defer restore()
	c := startCluster(t, natsstore.Options{Partitions: 3})
	restore()
	ctx := clusterCtx(t)
	for i := range c.Len() {
		c.Stop(i)
		c.Restart(i)
		for j := range c.Len() {
			waitFor(t, fmt.Sprintf("node %d's routes after node %d's restart", j, i), func() error {
				if peers, _ := natsstore.Routes(c.Node(j)); len(peers) != c.Len()-1 {
					return fmt.Errorf("routes to %d peers (%v), want %d", len(peers), peers, c.Len()-1)
				}
				return nil
			})
		}
		k := userKey(9, i)
		rev, err := partitioned(t, c.Node(i)).Put(ctx, k, []byte(fmt.Sprint(i)), 0)
		if err != nil {
			t.Fatalf("a write through node %d after its restart: %v", i, err)
		}
		for j := range c.Len() {
			waitFor(t, fmt.Sprintf("node %d reads node %d's write", j, i), func() error {
				ent, err := partitioned(t, c.Node(j)).Get(ctx, k)
				if err != nil {
					return err
				}
				if ent.Revision != rev {
					return fmt.Errorf("revision %d, want %d", ent.Revision, rev)
				}
				return nil
			})
		}
	}
	oneRouteToEachPeer(t, c)
}
