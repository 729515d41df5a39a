package natsstore_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/presenced/presenced/internal/benchenv"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/internal/freeport"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/store"
)

// The kill -9 test runs three cluster nodes as child processes (this test
// binary again, as TestClusterNodeProcess), writes through an external
// connection to them, SIGKILLs the node that leads the most partitions,
// and checks that writes resume once JetStream has elected new leaders,
// that no acknowledged write is lost, and that the node catches up when
// it comes back. PRESENCED_KILL_RUNS=n repeats the kill n times, for the
// figures in docs/performance.md.

const nodeEnv = "NATSSTORE_CLUSTER_NODE" // dir|name|cluster port|client port|routes

// TestClusterNodeProcess is a child: one cluster node, until its stdin
// closes (then it stops gracefully) or it is killed.
func TestClusterNodeProcess(t *testing.T) {
	spec := os.Getenv(nodeEnv)
	if spec == "" {
		t.Skip("a cluster node process for TestClusterKillNine")
	}
	f := strings.Split(spec, "|")
	e, err := natsstore.Open(context.Background(), natsstore.Options{
		Dir: f[0], ServerName: f[1],
		// nats-server logs every route it cannot reach while a node is
		// down, and every catch-up after: too much for a test's output.
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Cluster: &natsstore.ClusterOptions{Name: "kill9", Listen: "127.0.0.1:" + f[2], ClientListen: "127.0.0.1:" + f[3], Routes: strings.Split(f[4], ",")},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		os.Exit(2)
	}
	// Tests ask a node whether it leads the meta group (TestClusterFollowOutlivesAKill).
	if _, err := e.Conn().Subscribe("test.leadsmeta."+f[1], func(m *nats.Msg) {
		_ = m.Respond([]byte(strconv.FormatBool(natsstore.LeadsMeta(e))))
	}); err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		os.Exit(2)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := e.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "node close:", err)
		os.Exit(3)
	}
}

// nodeProc is a running cluster node process.
type nodeProc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan error
	ready chan struct{}
}

func startNode(t *testing.T, dir, name string, clusterPort, clientPort int, routes string) *nodeProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestClusterNodeProcess$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%s|%d|%d|%s", nodeEnv, dir, name, clusterPort, clientPort, routes))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &nodeProc{name: name, cmd: cmd, stdin: stdin, done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				close(ready)
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { p.stop(t) })
	go func() {
		select {
		case <-ready:
		case <-time.After(enginetest.StartTimeout):
			_ = cmd.Process.Kill() // the test fails on the wait below
		}
	}()
	p.ready = ready
	return p
}

// stop closes the node's stdin (a graceful stop) and waits, killing it
// (by its PID) if it does not stop within 30 s.
func (p *nodeProc) stop(t *testing.T) {
	if p.stdin == nil {
		return
	}
	p.stdin.Close()
	p.stdin = nil
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *nodeProc) kill() {
	_ = p.cmd.Process.Kill() // SIGKILL
	p.stdin.Close()
	p.stdin = nil
	<-p.done
}

func TestClusterKillNine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three node processes")
	}
	runs := 1
	runs = benchenv.Int("PRESENCED_KILL_RUNS", runs, 1)
	procs, start, urls := startNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ext, err := natsstore.Open(ctx, natsstore.Options{ServerName: "writer", Partitions: 3, External: &natsstore.ExternalOptions{URLs: urls}})
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Close()
	kv, err := ext.Partitioned(ctx, "presence")
	if err != nil {
		t.Fatal(err)
	}

	var gaps []time.Duration
	for run := range runs {
		gap, errs, firstErr := killRun(t, ctx, ext, kv, procs, run, func(i int) { start(i); procs[i].waitReady(t) })
		gaps = append(gaps, gap)
		t.Logf("run %d: writes paused for %v at most; %d writes failed (%v)", run, gap.Round(time.Millisecond), errs, firstErr)
	}
	if runs > 1 {
		slices.Sort(gaps)
		t.Logf("write pause after kill -9 of a leader, %d runs: p50 %v, max %v", runs, gaps[len(gaps)/2].Round(time.Millisecond), gaps[len(gaps)-1].Round(time.Millisecond))
	}
}

// startNodes starts three cluster node processes, k0, k1 and k2, and
// waits until they are ready. start(i) starts node i again (after it was
// stopped or killed: wait for it with waitReady); urls are the nodes'
// client URLs.
func startNodes(t *testing.T) (procs []*nodeProc, start func(i int), urls []string) {
	ports := freeport.Ports(t, 6)
	var routes []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[3+i]))
	}
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	procs = make([]*nodeProc, 3)
	start = func(i int) {
		procs[i] = startNode(t, dirs[i], fmt.Sprintf("k%d", i), ports[i], ports[3+i], strings.Join(routes, ","))
	}
	for i := range 3 {
		start(i)
	}
	for i := range 3 {
		procs[i].waitReady(t)
	}
	return procs, start, urls
}

func (p *nodeProc) waitReady(t *testing.T) {
	t.Helper()
	select {
	case <-p.ready:
	case err := <-p.done:
		t.Fatalf("node %s exited before it was ready: %v", p.name, err)
	}
}

// killRun kills the node that leads the most presence partitions while 8
// writers write through ext, restarts it, and checks what was
// acknowledged. It returns the longest pause of a writer after the kill
// how many writes failed, and the first failure.
func killRun(t *testing.T, ctx context.Context, ext *natsstore.Engine, kv store.KV, procs []*nodeProc, run int, restart func(int)) (time.Duration, int, error) {
	leads := map[string]int{}
	for i := range 3 {
		// Asked again when unanswered (streamOf): after the last run's
		// restart the partitions' leaderships may still move.
		s, err := streamOf(ctx, t, ext, fmt.Sprintf("KV_presence-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		leads[s.CachedInfo().Cluster.Leader]++
	}
	victim := 0
	for i, p := range procs {
		if leads[p.name] > leads[procs[victim].name] {
			victim = i
		}
	}
	type writer struct {
		key    string
		rev    uint64
		acks   []time.Time
		failed int
		err    error
		last   atomic.Int64 // the last ack's time, read while it writes
	}
	ws := make([]*writer, 8)
	var killed atomic.Value
	killed.Store(time.Time{})
	var (
		wg   sync.WaitGroup
		stop = make(chan struct{})
	)
	for w := range ws {
		ws[w] = &writer{key: userKey(100+run, w)}
		wg.Go(func() {
			wr := ws[w]
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := kv.Put(ctx, wr.key, fmt.Appendf(nil, "%d", len(wr.acks)), wr.rev)
				if err != nil {
					if wr.failed++; wr.err == nil {
						wr.err = fmt.Errorf("%v after the kill: %w", time.Since(killed.Load().(time.Time)).Round(time.Millisecond), err)
					}
					if cur, gerr := kv.Get(ctx, wr.key); gerr == nil {
						wr.rev = cur.Revision // the failed write may have been stored
					}
					continue
				}
				wr.rev = r
				now := time.Now()
				wr.acks = append(wr.acks, now)
				wr.last.Store(now.UnixNano())
			}
		})
	}
	time.Sleep(time.Second)
	killedAt := time.Now()
	killed.Store(killedAt)
	procs[victim].kill()
	// Until every writer has been acknowledged a second after the kill
	// (or a minute has passed: the checks below then fail).
	deadline := killedAt.Add(time.Minute)
	for time.Now().Before(deadline) {
		resumed := 0
		for _, wr := range ws {
			if time.Unix(0, wr.last.Load()).After(killedAt.Add(time.Second)) {
				resumed++
			}
		}
		if resumed == len(ws) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	var gap time.Duration
	failed := 0
	var firstErr error
	for _, wr := range ws {
		failed += wr.failed
		if firstErr == nil {
			firstErr = wr.err
		}
		if len(wr.acks) == 0 || wr.acks[len(wr.acks)-1].Before(killedAt) {
			t.Fatalf("run %d: writer %s was never acknowledged after the kill", run, wr.key)
		}
		for i := 1; i < len(wr.acks); i++ {
			if wr.acks[i].After(killedAt) {
				gap = max(gap, wr.acks[i].Sub(wr.acks[i-1]))
			}
		}
	}
	// Every acknowledged write is there: each writer's last.
	for _, wr := range ws {
		got, err := kv.Get(ctx, wr.key)
		if err != nil || got.Revision != wr.rev {
			t.Fatalf("run %d: %s is at revision %d (%v); the last acknowledged write was %d", run, wr.key, got.Revision, err, wr.rev)
		}
	}
	// The killed node comes back and catches up.
	restart(victim)
	waitCaughtUp(t, ctx, ext, procs[victim].name, "KV_presence-0", "KV_presence-1", "KV_presence-2")
	return gap, failed, firstErr
}

// waitCaughtUp waits until node is a current replica, without lag, of
// every one of streams.
func waitCaughtUp(t *testing.T, ctx context.Context, e *natsstore.Engine, node string, streams ...string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		behind := ""
		for _, name := range streams {
			// Each look bounded: the stream's leader alone answers, none
			// while the restarted node's return moves the leadership, and
			// this loop asks again.
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			s, err := e.JetStream().Stream(sctx, name)
			cancel()
			if err != nil {
				behind = err.Error()
				break
			}
			cl := s.CachedInfo().Cluster
			ok := cl.Leader == node
			for _, r := range cl.Replicas {
				if r.Name == node && r.Current && r.Lag == 0 {
					ok = true
				}
			}
			if !ok {
				behind = name
				break
			}
		}
		if behind == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s did not catch up within 60 s: %s", node, behind)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
