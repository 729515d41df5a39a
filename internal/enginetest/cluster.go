package enginetest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/freeport"
	"github.com/presenced/presenced/natsstore"
)

// Cluster is a NATS JetStream cluster of embedded engines started in the
// test's process, on loopback ports, each node with a data directory of
// its own. Its nodes are stopped when the test ends.
type Cluster struct {
	t     testing.TB
	mu    sync.Mutex
	nodes []*natsstore.Engine // nil: stopped
	opts  []natsstore.Options
	// opened is closed once the first opening of every node returned,
	// with its errors in openErr.
	opened  chan struct{}
	openErr []error
}

// StartTimeout bounds a cluster's start (nodes elect a meta leader within a
// few seconds; a loaded machine is slower).
const StartTimeout = 60 * time.Second

// StartCluster starts n nodes (3 or 5; 1 is a cluster of one) that form
// one cluster: every node's routes name every node. o is the template of
// every node's options (Replicas, Partitions, Logger, …, and Cluster.TLS);
// Dir, ServerName and the rest of Cluster are set per node. It returns once every node is open (the
// meta group has a leader); buckets with 3 replicas can be created then.
func StartCluster(t testing.TB, n int, o natsstore.Options) *Cluster {
	t.Helper()
	c, _ := startCluster(t, n, n, o)
	c.Wait()
	return c
}

// Join is how a node the test starts itself (a presenced server under
// test) joins the cluster of StartPeers: its name, the cluster's, the
// address its routes listen on, and every member's route.
type Join struct {
	NodeName, ClusterName, Listen string
	Routes                        []string
}

// StartPeers starts opening n nodes of a cluster of n+1 whose last member
// the test starts itself, as join says, and returns at once: a new
// JetStream cluster elects its first meta leader only once every member
// named in the routes is up, so the peers wait in their opening for that
// member. Wait waits for them.
func StartPeers(t testing.TB, n int, o natsstore.Options) (*Cluster, Join) {
	t.Helper()
	c, routes := startCluster(t, n, n+1, o)
	return c, Join{NodeName: fmt.Sprintf("n%d", n), ClusterName: clusterName, Listen: strings.TrimPrefix(routes[n], "nats://"), Routes: routes}
}

// clusterName is the NATS cluster's name in every test cluster.
const clusterName = "presenced-test"

// startCluster starts opening n nodes of a cluster of members nodes on
// loopback ports, and returns it with every member's route.
func startCluster(t testing.TB, n, members int, o natsstore.Options) (*Cluster, []string) {
	t.Helper()
	ports := freeport.Ports(t, members)
	routes := make([]string, members)
	for i, p := range ports {
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", p)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Cluster{t: t, nodes: make([]*natsstore.Engine, n), opts: make([]natsstore.Options, n),
		opened: make(chan struct{}), openErr: make([]error, n)}
	for i := range n {
		no := o
		no.Dir = t.TempDir()
		no.ServerName = fmt.Sprintf("n%d", i)
		no.Cluster = &natsstore.ClusterOptions{
			Name:   clusterName,
			Listen: fmt.Sprintf("127.0.0.1:%d", ports[i]),
			Routes: routes,
		}
		if o.Cluster != nil {
			no.Cluster.TLS = o.Cluster.TLS // the template's route TLS, for every node
		}
		c.opts[i] = no
	}
	t.Cleanup(c.stopAll)
	// Each node waits in Open for a majority: open them together.
	go func() {
		defer close(c.opened)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { c.openErr[i] = c.open(i) })
		}
		wg.Wait()
	}()
	return c, routes
}

// Wait waits until every node the cluster started is open (each opening
// is bounded by StartTimeout), and fails the test if one could not be.
func (c *Cluster) Wait() {
	c.t.Helper()
	<-c.opened
	for i, err := range c.openErr {
		if err != nil {
			c.t.Fatalf("enginetest: node %d of %d: %v", i, len(c.opts), err)
		}
	}
}

func (c *Cluster) open(i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	e, err := natsstore.Open(ctx, c.opts[i])
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.nodes[i] = e
	c.mu.Unlock()
	return nil
}

// Node is node i's engine (nil while it is stopped).
func (c *Cluster) Node(i int) *natsstore.Engine {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Len is the number of nodes.
func (c *Cluster) Len() int { return len(c.opts) }

// Options are node i's options, as it was opened with.
func (c *Cluster) Options(i int) natsstore.Options { return c.opts[i] }

// Stop closes node i gracefully (natsstore.Engine.Close: it hands its
// leaderships over first).
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	c.mu.Lock()
	e := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if e == nil {
		return
	}
	if err := e.Close(); err != nil {
		c.t.Errorf("enginetest: closing node %d: %v", i, err)
	}
}

// Restart opens stopped node i again, with its data directory, and waits
// until it is open.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if err := c.RestartWith(i, nil); err != nil {
		c.t.Fatalf("enginetest: restarting node %d: %v", i, err)
	}
}

// RestartWith opens stopped node i again with its options changed by
// change (nil: as they were), and returns Open's error.
func (c *Cluster) RestartWith(i int, change func(*natsstore.Options)) error {
	c.t.Helper()
	if c.Node(i) != nil {
		c.t.Fatalf("enginetest: node %d is running", i)
	}
	if change != nil {
		change(&c.opts[i])
	}
	return c.open(i)
}

// ClientURLs are the nodes' NATS client URLs, for external mode.
func (c *Cluster) ClientURLs() []string {
	var urls []string
	for i := range c.opts {
		if e := c.Node(i); e != nil {
			urls = append(urls, e.ClientURL())
		}
	}
	return urls
}

func (c *Cluster) stopAll() {
	<-c.opened // an opening still under way would leave its node running
	var wg sync.WaitGroup
	for i := range c.opts {
		wg.Go(func() { c.Stop(i) })
	}
	wg.Wait()
}
