package presenced_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/internal/freeport"
	"github.com/presenced/presenced/internal/nodetest"
	"github.com/presenced/presenced/natsstore"
)

// clusterOf starts n dev-mode servers in this process as one cluster: each
// embeds a node of one NATS cluster (routes on loopback ports) with its own
// data directory, and listens for NATS clients on natsPorts. They start
// together: a node waits in Start until a majority is up.
//
// Every TestCluster* test of this package calls t.Parallel(): most of
// their time is spent waiting (nodes starting, elections, leases), so
// they run two at a time beside each other after the other tests, which
// keeps the package within go test's default ten minutes.
func clusterOf(t *testing.T, n int, partitions int, more ...func(*presenced.Config)) (envs []*env, natsURLs []string) {
	t.Helper()
	return clusterOfWith(t, n, partitions, nil, more...)
}

// clusterOfWith is clusterOf with each node's env changed by node (when
// set) before it starts.
func clusterOfWith(t *testing.T, n int, partitions int, node func(i int, e *env), more ...func(*presenced.Config)) (envs []*env, natsURLs []string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	ports := freeport.Ports(t, 2*n)
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
		natsURLs = append(natsURLs, fmt.Sprintf("nats://127.0.0.1:%d", ports[n+i]))
	}
	envs = make([]*env, n)
	for i := range n {
		envs[i] = &env{t: t, fake: clock.NewFake(t0), dir: t.TempDir(), addr: "127.0.0.1:0", cfg: func(c *presenced.Config) {
			c.Partitions = partitions
			c.Cluster = &presenced.ClusterConfig{NodeName: fmt.Sprintf("node-%d", i), ClusterName: "presenced-test",
				ClusterListen: fmt.Sprintf("127.0.0.1:%d", ports[i]), Routes: routes, NATSListen: fmt.Sprintf("127.0.0.1:%d", ports[n+i])}
			for _, f := range more {
				f(c)
			}
		}}
	}
	for i, e := range envs {
		if node != nil {
			node(i, e)
		}
		if e.log == nil {
			e.log = slog.New(tailOnFailure(t, i))
		}
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, e := range envs {
		wg.Go(func() { errs[i] = e.bootErr() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	return envs, natsURLs
}

// bootErr is boot without failing the test (for several at once).
func (e *env) bootErr() error {
	log := e.log
	if log == nil {
		log = quiet
	}
	cfg := presenced.Config{Addr: e.addr, DataDir: e.dir, Dev: true, Clock: e.fake, Logger: log, Directory: e.d}
	if e.cfg != nil {
		e.cfg(&cfg)
	}
	srv, err := presenced.New(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), enginetest.StartTimeout)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		return err
	}
	e.srv = srv
	e.addr = srv.Addr().String()
	e.t.Cleanup(func() { e.stop() })
	return nil
}

// Any node answers for any user: a write through one node is read through
// another; writes to one user through different nodes keep every session
// (a node whose copy is stale meets a revision conflict, reloads from the
// stream's leader and applies its command again); an external-mode node
// on the same NATS serves the same data.
func TestClusterNodesServeEachOthersWrites(t *testing.T) {
	t.Parallel()
	nodes, natsURLs := clusterOf(t, 3, 3)
	adele := nodes[0].user("adele")

	nodes[0].must("POST", "/v1.0/users/"+adele+"/presence/setPresence", nodes[0].appToken(), setBody("Available", "Available", "PT1H"))
	if got := pair(nodes[1].get(nodes[1].appToken(), adele)); got != "Available/Available" {
		t.Fatalf("node 1 reads %s after node 0's write", got)
	}
	// Node 1 now holds adele in its cache; node 0 too. Node 1 adds the
	// public client's session; node 0, whose copy is stale, changes its
	// own: the public client's Busy must survive.
	nodes[1].must("POST", "/v1.0/me/presence/setPresence", nodes[1].userToken("adele", ""),
		map[string]any{"sessionId": directory.DemoClientID, "availability": "Busy", "activity": "InACall", "expirationDuration": "PT1H"})
	nodes[0].must("POST", "/v1.0/users/"+adele+"/presence/setPresence", nodes[0].appToken(), setBody("Away", "Away", "PT1H"))
	if got := pair(nodes[2].get(nodes[2].appToken(), adele)); got != "Busy/InACall" {
		t.Fatalf("node 2 reads %s; want Busy/InACall (both sessions kept)", got)
	}

	ext := &env{t: t, fake: clock.NewFake(t0), dir: t.TempDir(), addr: "127.0.0.1:0", cfg: func(c *presenced.Config) {
		c.Cluster = &presenced.ClusterConfig{NodeName: "external", NATSURLs: natsURLs}
	}}
	if err := ext.bootErr(); err != nil {
		t.Fatalf("external-mode node: %v", err)
	}
	if got := pair(ext.get(ext.appToken(), adele)); got != "Busy/InACall" {
		t.Fatalf("the external-mode node reads %s", got)
	}
}

// A node started with another layout than its cluster's does not start,
// and says what is stored.
func TestClusterNodeWithAnotherLayoutIsRefused(t *testing.T) {
	t.Parallel()
	nodes, _ := clusterOf(t, 3, 3)
	n := nodes[2]
	n.stop()
	prev := n.cfg
	n.cfg = func(c *presenced.Config) { prev(c); c.Partitions = 5 }
	done := make(chan error, 1)
	go func() { done <- n.bootErr() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "created with 3 partitions and 3 replicas") || !strings.Contains(err.Error(), "--partitions 3 --replicas 3") {
			t.Fatalf("start with 5 partitions: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the refused start did not return")
	}
}

// The manifest on a cluster node records what the cluster held: a node
// that lost its own engine files starts (its peers hold the data, and it
// catches up from them), while a cluster that lost what a node recorded
// stops that node's start, as on a single node.
func TestClusterNodeDataSafety(t *testing.T) {
	t.Parallel()
	nodes, natsURLs := clusterOf(t, 3, 1, func(c *presenced.Config) { c.SyncAlways = true })
	adele := nodes[0].user("adele")
	nodes[0].must("POST", "/v1.0/users/"+adele+"/presence/setPresence", nodes[0].appToken(), setBody("DoNotDisturb", "Presenting", "PT1H"))
	// With --sync-always the manifest vouches for what it saw at its next
	// checkpoint (every 10 s).
	n := nodes[2]
	manifest := filepath.Join(n.dir, presenced.ManifestFile)
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, found, err := natsstore.ReadManifest(manifest)
		if err == nil && found && m.Cluster == "presenced-test" && m.Streams["KV_presence"].Msgs > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint recorded the write within 30 s: %+v %v", m, err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Node 2 loses its engine files: not data loss.
	n.stop()
	if err := os.RemoveAll(filepath.Join(n.dir, "engine")); err != nil {
		t.Fatal(err)
	}
	if err := n.bootErr(); err != nil {
		t.Fatalf("a node without its engine files: %v", err)
	}
	if got := pair(n.get(n.appToken(), adele)); got != "DoNotDisturb/Presenting" {
		t.Fatalf("the node that lost its files reads %s", got)
	}

	// The cluster loses what node 2 recorded (an operator purged the
	// bucket): node 2 does not start.
	n.stop()
	nc, err := nats.Connect(strings.Join(natsURLs[:2], ","))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Both requests are answered by the stream's leader only: asked again
	// when one goes unanswered while the leadership moves (nodetest.Ask).
	s, err := nodetest.Ask(ctx, t, "KV_presence's info", func(ctx context.Context) (jetstream.Stream, error) {
		return js.Stream(ctx, "KV_presence")
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodetest.Ask(ctx, t, "KV_presence's purge", func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.Purge(ctx)
	}); err != nil {
		t.Fatal(err)
	}
	if err := n.bootErr(); !errors.Is(err, presenced.ErrDataLoss) {
		t.Fatalf("a node whose cluster lost what it recorded: %v; want ErrDataLoss", err)
	}
}

// A node's Start context bounds its start, not its life: once Start has
// returned, that context ending (serve's signal context at SIGTERM, a
// caller's timeout; bootErr ends it at once) does not end the watches the
// node follows the engine with, which would log a broken watch and walk
// every user again.
func TestClusterNodeFollowsPastItsStartContext(t *testing.T) {
	t.Parallel()
	logs := []*levelLog{{}, {}, {}}
	nodes, _ := clusterOfWith(t, 3, 3, func(i int, e *env) { e.log = slog.New(logs[i]) })
	adele := nodes[0].user("adele")
	tok1 := nodes[1].appToken()
	nodes[1].get(tok1, adele) // node 1 caches her
	nodes[0].must("POST", "/v1.0/users/"+adele+"/presence/setPresence", nodes[0].appToken(), setBody("Busy", "InACall", "PT1H"))
	waitFor(t, "node 1 reads node 0's write", func() bool { return pair(nodes[1].get(tok1, adele)) == "Busy/InACall" })
	for i, l := range logs {
		if got := l.at(slog.LevelWarn, "watch"); len(got) > 0 {
			t.Errorf("node %d: %q", i, got)
		}
	}
}
