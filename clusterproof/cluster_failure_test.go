package clusterproof_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/benchenv"
	"github.com/presenced/presenced/internal/nodetest"
)

// The failure tests of cluster mode (issue #10): three `presenced serve`
// processes, the workload of cluster_workload_test.go through all of them,
// and one node killed, stopped, paused or restarted. PRESENCED_CLUSTER_RUNS=n
// repeats the kill and the graceful stop n times on one cluster, for the
// figures in docs/performance.md.

// clusterWriters is how many writers the failure tests run (each paced at
// writeEvery).
const clusterWriters = 9

func startFailureCluster(t *testing.T) (*nodetest.Cluster, *workload) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs three presenced processes")
	}
	c := nodetest.Start(t, nodetest.Options{DemoUsers: workloadUsers, Args: workloadArgs})
	w := startWorkload(t, c, clusterWriters)
	if !w.waitAcks(time.Now(), 30*time.Second) {
		t.Fatal("the writers were not all acknowledged within 30 s of the start")
	}
	return c, w
}

func clusterRuns() int {
	return benchenv.Int("PRESENCED_CLUSTER_RUNS", 1, 1)
}

// indexOf is node n's index in c.
func indexOf(c *nodetest.Cluster, n *nodetest.Node) int {
	return slices.Index(c.Nodes, n)
}

// pausesText is the pauses of several runs, with their p50 and max.
func pausesText(gaps []time.Duration) string {
	s := slices.Clone(gaps)
	slices.Sort(s)
	for i := range s {
		s[i] = s[i].Round(time.Millisecond)
	}
	return fmt.Sprintf("p50 %v, max %v (the p99 of %d runs), all %v", s[len(s)/2], s[len(s)-1], len(s), s)
}

// finish stops the workload, logs what the clients saw (and the pauses
// of several runs after what), and checks that reads and writes through
// the nodes that stayed up never failed (mayFail aside) and that nothing
// acknowledged is missing through any node.
func (w *workload) finish(after string, gaps []time.Duration, mayFail ...string) {
	w.t.Helper()
	w.stop()
	_, text := w.summary()
	w.t.Log(text)
	if len(gaps) > 1 {
		w.t.Logf("write pause after %s, %d runs: %s", after, len(gaps), pausesText(gaps))
	}
	w.checkClients()
	w.checkNoFailureThrough(mayFail...)
	w.verify(10 * time.Second)
}

// kill -9 of the node that leads the most partitions, during writes through
// all three nodes: every acknowledged write is afterwards on every node,
// reads through the survivors never fail, writes to the partitions it led
// wait for JetStream's new leaders and then go on (a write in the gap is
// not refused), and the node restarts and catches up.
func TestClusterProcessKillNine(t *testing.T) {
	c, w := startFailureCluster(t)
	ctx := context.Background()
	var gaps []time.Duration
	var victims []string
	for run := range clusterRuns() {
		victim, led, err := c.BusiestLeader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := indexOf(c, victim)
		victims = append(victims, victim.Name)
		// Readers and writers stop choosing the node as it dies (a load
		// balancer's health check would, within moments): what was in
		// flight to it is cut.
		w.setUp(i, false)
		killedAt := time.Now()
		victim.Kill()
		if !w.waitAcks(killedAt.Add(time.Second), time.Minute) {
			t.Fatalf("run %d: writes did not resume within a minute of the kill of %s", run, victim.Name)
		}
		resumed := time.Now()
		gap := w.gap(killedAt, resumed)
		gaps = append(gaps, gap)
		t.Logf("run %d: SIGKILL of %s, which led %d partitions: writes paused for %v at most", run, victim.Name, led, gap.Round(time.Millisecond))
		victim.Restart()
		w.setUp(i, true)
		if !w.waitAcks(time.Now(), 30*time.Second) {
			t.Fatalf("run %d: writes did not go on after %s came back", run, victim.Name)
		}
	}
	w.finish("kill -9 of a leader", gaps, victims...)
}

// A graceful stop (SIGTERM) of the node that leads the most partitions:
// it hands its leaderships over before it stops, so writes pause for well
// under a second, no write through any node fails, and nothing
// acknowledged is lost.
func TestClusterProcessGracefulStop(t *testing.T) {
	c, w := startFailureCluster(t)
	ctx := context.Background()
	var gaps []time.Duration
	for run := range clusterRuns() {
		w.waitMore(200)
		victim, led, err := c.BusiestLeader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := indexOf(c, victim)
		// A load balancer stops sending to a node once its /readyz fails,
		// which it does first thing on SIGTERM (for --shutdown-drain).
		w.setUp(i, false)
		stoppedAt := time.Now()
		victim.Stop()
		took := time.Since(stoppedAt)
		if !w.waitAcks(stoppedAt.Add(time.Second), time.Minute) {
			t.Fatalf("run %d: writes did not go on within a minute of the stop of %s", run, victim.Name)
		}
		gap := w.gap(stoppedAt, time.Now())
		gaps = append(gaps, gap)
		t.Logf("run %d: SIGTERM of %s, which led %d partitions, stopped in %v: writes paused for %v at most",
			run, victim.Name, led, took.Round(time.Millisecond), gap.Round(time.Millisecond))
		victim.Restart()
		w.setUp(i, true)
	}
	w.waitMore(200)
	w.finish("SIGTERM of a leader", gaps)
}

// SIGSTOP of the node that leads the most partitions for 10 s, then
// SIGCONT (a hung machine, or one cut off from the others): the others
// elect new leaders and go on; what the paused node had been sent is
// answered when it runs again, and nothing it acknowledged is forgotten —
// no acknowledged write is lost, and no session appears that no write
// asked for.
func TestClusterProcessPause(t *testing.T) {
	c, w := startFailureCluster(t)
	w.waitMore(200)
	victim, led, err := c.BusiestLeader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	i := indexOf(c, victim)
	victim.Pause()
	pausedAt := time.Now()
	// Clients that have not noticed send it writes, which wait in its
	// sockets; then nothing more is sent to it (a load balancer's health
	// check would time out within seconds).
	held := w.burst(i, 30)
	w.setUp(i, false)
	if !w.waitAcksExcept(pausedAt.Add(time.Second), time.Minute, i) {
		t.Fatalf("writes through the other nodes did not go on within a minute of the pause of %s", victim.Name)
	}
	t.Logf("SIGSTOP of %s at %s, which led %d partitions: the other nodes' writes paused for %v at most", victim.Name, pausedAt.Format("15:04:05.000"), led,
		w.gapExcept(pausedAt, time.Now(), i).Round(time.Millisecond))
	time.Sleep(time.Until(pausedAt.Add(10 * time.Second))) // the pause itself: 10 s, as the scenario says
	victim.Resume()
	resumedAt := time.Now()
	if err := victim.WaitReady(); err != nil {
		t.Fatal(err)
	}
	w.setUp(i, true)
	w.waitMore(300)
	w.stop()
	_, text := w.summary()
	t.Log(text)
	select {
	case <-held:
	case <-time.After(time.Minute):
		t.Fatal("the writes sent to the paused node were not answered within a minute of SIGCONT")
	}
	answered := w.answeredAfter(i, resumedAt)
	t.Logf("the writes %s held while paused were answered after SIGCONT: %d acknowledged, %d failed (%v)",
		victim.Name, answered[acked], answered[unknown], w.countsOf(victim.Name))
	w.checkClients()
	w.checkNoFailureThrough(victim.Name)
	w.verify(10 * time.Second)
}

// A rolling restart — each node in turn stopped with SIGTERM and started
// again — under load: nothing acknowledged is lost, and the errors clients
// saw are counted (none are expected: each stop hands over its
// leaderships and the load moves off the node first).
func TestClusterProcessRollingRestart(t *testing.T) {
	c, w := startFailureCluster(t)
	var gaps []time.Duration
	for i, n := range c.Nodes {
		w.waitMore(100)
		w.setUp(i, false)
		at := time.Now()
		n.Stop()
		n.Restart()
		w.setUp(i, true)
		w.waitMore(100)
		gaps = append(gaps, w.gap(at, time.Now()))
	}
	t.Logf("the longest writes paused around each node's restart: %v", gaps)
	w.waitMore(100)
	w.finish("a rolling restart", nil)
}
