// Package nodetest runs the real presenced binary for tests: a cluster of
// `presenced serve` processes with embedded clustered engines on loopback
// ports (docs/cluster.md), which a test can kill, stop, pause and restart
// one at a time. It is the harness of the failure tests of cluster mode
// (docs/design.md#cluster-mode): what a node's death costs is only shown
// by a process that dies.
//
// Everything is bounded in time: a node that is not ready within
// StartTimeout, or does not exit within StopTimeout of a SIGTERM, fails the
// test. Only the processes started here are signalled, by their PID, and
// the test's cleanup kills those still running. Each node's output goes to
// a log file of its own (kept across its restarts), whose tail is printed
// when the test fails.
package nodetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/freeport"
	"github.com/presenced/presenced/loadgen"
)

const (
	// StartTimeout bounds a node's start until its /readyz answers 200
	// (three nodes started together serve after ~3 s; a loaded machine,
	// or a node that catches up, is slower).
	StartTimeout = 90 * time.Second
	// StopTimeout bounds a node's exit after SIGTERM.
	StopTimeout = 60 * time.Second
)

var build struct {
	once sync.Once
	dir  string
	bin  string
	out  []byte
	err  error
}

// repoRoot is the module's root, where ./cmd/presenced is: two levels
// above this file's directory.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Binary builds the presenced binary once per test process and returns
// its path. The build goes to a temporary directory that Cleanup removes.
func Binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		if build.dir, build.err = os.MkdirTemp("", "presenced-nodetest-"); build.err != nil {
			return
		}
		build.bin = filepath.Join(build.dir, "presenced")
		cmd := exec.Command("go", "build", "-o", build.bin, "./cmd/presenced")
		cmd.Dir = repoRoot()
		build.out, build.err = cmd.CombinedOutput()
	})
	if build.err != nil {
		t.Fatalf("nodetest: go build ./cmd/presenced: %v\n%s", build.err, build.out)
	}
	return build.bin
}

// Cleanup removes the binary Binary built; a TestMain calls it after the
// tests ran.
func Cleanup() {
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
}

// Options are a cluster's. The zero value is three nodes of the default
// layout (natsstore.DefaultPartitions partitions, 3 replicas) in dev mode.
type Options struct {
	// Nodes is the number of nodes (default 3).
	Nodes int
	// DemoUsers is --demo-users (default 100: the workloads spread over
	// generated users, and a node's start builds them).
	DemoUsers int
	// Args are more `serve` flags for every node, after the harness's own
	// (so a flag given here wins).
	Args []string
	// Single runs one node without any cluster flag (a single node, as
	// before cluster mode), for figures beside a cluster's.
	Single bool
	// Profile gives each node Go's profiler (serve --debug-addr) on a
	// loopback port of its own, at Node.DebugURL.
	Profile bool
	// Env are more environment variables for every node ("GOMAXPROCS=1"),
	// after the test's own.
	Env []string
}

// Cluster is a set of presenced nodes that form one cluster.
type Cluster struct {
	t     testing.TB
	bin   string
	Nodes []*Node
}

// Node is one `presenced serve` process of a Cluster, on fixed ports that
// it keeps across restarts (its URL is its token issuer).
type Node struct {
	Name string
	// Dir is its data directory.
	Dir string
	// URL is its HTTP base URL, http://127.0.0.1:port.
	URL string
	// NATSURL is where NATS clients reach its embedded server.
	NATSURL string
	// DebugURL is its profiler's base URL (Options.Profile), or "".
	DebugURL string
	args     []string
	env      []string
	logPath  string
	c        *Cluster

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when the current process has exited
	err    error         // its Wait error, once exited
}

// Start starts the cluster's nodes together (a node waits in its start
// for a majority of the others) and returns once every node is ready.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	switch {
	case o.Single:
		o.Nodes = 1
	case o.Nodes == 0:
		o.Nodes = 3
	}
	if o.DemoUsers == 0 {
		o.DemoUsers = 100
	}
	c := &Cluster{t: t, bin: Binary(t)}
	ports := freeport.Ports(t, 4*o.Nodes)
	var routes []string
	for i := range o.Nodes {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[o.Nodes+i]))
	}
	logs := t.TempDir()
	for i := range o.Nodes {
		n := &Node{Name: fmt.Sprintf("node%d", i+1), Dir: t.TempDir(), c: c,
			URL:     fmt.Sprintf("http://127.0.0.1:%d", ports[i]),
			NATSURL: fmt.Sprintf("nats://127.0.0.1:%d", ports[2*o.Nodes+i]),
			logPath: filepath.Join(logs, fmt.Sprintf("node%d.log", i+1))}
		n.env = o.Env
		n.args = []string{"serve", "--dev", "--demo-users", strconv.Itoa(o.DemoUsers),
			"--data", n.Dir, "--addr", strings.TrimPrefix(n.URL, "http://")}
		if !o.Single {
			n.args = append(n.args, "--node-name", n.Name, "--cluster-name", "nodetest",
				"--cluster-listen", fmt.Sprintf("127.0.0.1:%d", ports[o.Nodes+i]), "--routes", strings.Join(routes, ","),
				"--nats-listen", strings.TrimPrefix(n.NATSURL, "nats://"))
		}
		if o.Profile {
			n.DebugURL = fmt.Sprintf("http://127.0.0.1:%d", ports[3*o.Nodes+i])
			n.args = append(n.args, "--debug-addr", strings.TrimPrefix(n.DebugURL, "http://"))
		}
		n.args = append(append(n.args,
			// Tests make many requests with one application and fetch
			// tokens from one address: neither budget is what they test.
			"--throttle-requests", "0", "--token-rate", "0",
			// Access lines of thousands of requests would drown what a
			// failing test needs to see.
			"--access-log=false", "--shutdown-drain", "200ms"), o.Args...)
		c.Nodes = append(c.Nodes, n)
	}
	t.Cleanup(c.cleanup)
	for _, n := range c.Nodes {
		n.Start()
	}
	var wg sync.WaitGroup
	errs := make([]error, len(c.Nodes))
	for i, n := range c.Nodes {
		wg.Go(func() { errs[i] = n.WaitReady() })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("nodetest: the cluster did not start: %v", err)
	}
	return c
}

// cleanup kills, by PID, every node still running, and prints the tail of
// each node's log when the test failed.
func (c *Cluster) cleanup() {
	for _, n := range c.Nodes {
		if n.Running() {
			_ = n.signal(syscall.SIGKILL)
			n.wait(StopTimeout)
		}
	}
	if c.t.Failed() {
		for _, n := range c.Nodes {
			c.t.Logf("nodetest: the end of %s's log (%s):\n%s", n.Name, n.logPath, n.LogTail(60))
			n.keepDump()
		}
	}
}

// Start starts the node's process (again) on its data directory and
// ports, without waiting for it to be ready (Restart waits).
func (n *Node) Start() {
	n.c.t.Helper()
	if n.Running() {
		n.c.t.Fatalf("nodetest: %s is running", n.Name)
	}
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		n.c.t.Fatal(err)
	}
	fmt.Fprintf(logf, "--- nodetest: starting %s\n", n.Name)
	cmd := exec.Command(n.c.bin, n.args...)
	if len(n.env) > 0 {
		cmd.Env = append(os.Environ(), n.env...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		n.c.t.Fatalf("nodetest: starting %s: %v", n.Name, err)
	}
	exited := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.exited, n.err = cmd, exited, nil
	n.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		n.mu.Lock()
		n.err = err
		n.mu.Unlock()
		close(exited)
	}()
}

// Restart starts the node and waits until it is ready.
func (n *Node) Restart() {
	n.c.t.Helper()
	n.Start()
	if err := n.WaitReady(); err != nil {
		n.c.t.Fatalf("nodetest: %v", err)
	}
}

// WaitReady polls the node's /readyz until it answers 200, the process
// exits, or StartTimeout passes.
func (n *Node) WaitReady() error {
	n.mu.Lock()
	exited := n.exited
	n.mu.Unlock()
	hc := &http.Client{Timeout: 2 * time.Second}
	timeout := time.NewTimer(StartTimeout)
	defer timeout.Stop()
	for {
		resp, err := hc.Get(n.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited before it was ready: %v", n.Name, n.exitErr())
		case <-timeout.C:
			// SIGQUIT: the Go runtime writes every goroutine's stack to
			// the node's log and exits, so the log says where it stuck.
			_ = n.signal(syscall.SIGQUIT)
			n.wait(StopTimeout)
			return fmt.Errorf("%s was not ready within %v (its goroutines are in its log: SIGQUIT)", n.Name, StartTimeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (n *Node) exitErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.err
}

// PID is the process id of the node's current process (0 if never
// started).
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// Running reports whether the node's process is running (or paused).
func (n *Node) Running() bool {
	n.mu.Lock()
	exited := n.exited
	n.mu.Unlock()
	if exited == nil {
		return false
	}
	select {
	case <-exited:
		return false
	default:
		return true
	}
}

func (n *Node) signal(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return fmt.Errorf("%s was never started", n.Name)
	}
	return n.cmd.Process.Signal(sig)
}

// wait waits up to d for the current process to exit, and reports
// whether it did.
func (n *Node) wait(d time.Duration) bool {
	n.mu.Lock()
	exited := n.exited
	n.mu.Unlock()
	select {
	case <-exited:
		return true
	case <-time.After(d):
		return false
	}
}

// Kill sends SIGKILL (a crash, a power loss of the process) and waits for
// the process to be gone.
func (n *Node) Kill() {
	n.c.t.Helper()
	if err := n.signal(syscall.SIGKILL); err != nil {
		n.c.t.Fatalf("nodetest: kill %s: %v", n.Name, err)
	}
	if !n.wait(StopTimeout) {
		n.c.t.Fatalf("nodetest: %s still there %v after SIGKILL", n.Name, StopTimeout)
	}
}

// Stop sends SIGTERM (a graceful stop) and waits for a clean exit; a node
// that does not exit within StopTimeout is killed and fails the test.
func (n *Node) Stop() {
	n.c.t.Helper()
	if err := n.signal(syscall.SIGTERM); err != nil {
		n.c.t.Fatalf("nodetest: stop %s: %v", n.Name, err)
	}
	if !n.wait(StopTimeout) {
		_ = n.signal(syscall.SIGKILL)
		n.wait(StopTimeout)
		n.c.t.Fatalf("nodetest: %s did not exit within %v of SIGTERM", n.Name, StopTimeout)
	}
	if err := n.exitErr(); err != nil {
		n.c.t.Errorf("nodetest: %s exited after SIGTERM with %v", n.Name, err)
	}
}

// Pause stops the process with SIGSTOP: it neither runs nor answers, its
// connections stay open — a hung machine, or one cut off.
func (n *Node) Pause() {
	n.c.t.Helper()
	if err := n.signal(syscall.SIGSTOP); err != nil {
		n.c.t.Fatalf("nodetest: SIGSTOP %s: %v", n.Name, err)
	}
}

// Resume lets a paused process run again (SIGCONT).
func (n *Node) Resume() {
	n.c.t.Helper()
	if err := n.signal(syscall.SIGCONT); err != nil {
		n.c.t.Fatalf("nodetest: SIGCONT %s: %v", n.Name, err)
	}
}

// keepDump copies the node's log out of the test's temporary directory
// when it holds a goroutine dump (WaitReady's SIGQUIT), too long for the
// tail the test prints, or when PRESENCED_NODETEST_KEEP_LOGS=1 (a failure
// whose cause is further back than the tail), and says where.
func (n *Node) keepDump() {
	raw, err := os.ReadFile(n.logPath)
	if err != nil || !bytes.Contains(raw, []byte("\ngoroutine ")) && os.Getenv("PRESENCED_NODETEST_KEEP_LOGS") != "1" {
		return
	}
	f, err := os.CreateTemp("", "presenced-nodetest-"+n.Name+"-*.log")
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Write(raw); err == nil {
		n.c.t.Logf("nodetest: %s's whole log, with its goroutines, kept in %s", n.Name, f.Name())
	}
}

// LogTail is the last lines of the node's log, over all its runs.
func (n *Node) LogTail(lines int) string {
	raw, err := os.ReadFile(n.logPath)
	if err != nil {
		return err.Error()
	}
	all := bytes.Split(bytes.TrimRight(raw, "\n"), []byte("\n"))
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return string(bytes.Join(all, []byte("\n")))
}

// AppToken is an application token of the demo daemon
// (Presence.ReadWrite.All) from the node's issuer.
func (n *Node) AppToken() string {
	n.c.t.Helper()
	tok, err := Token(context.Background(), http.DefaultClient, n.URL, url.Values{"grant_type": {"client_credentials"},
		"client_id": {directory.DemoDaemonClientID}, "client_secret": {directory.DemoDaemonSecret},
		"scope": {"https://graph.microsoft.com/.default"}})
	if err != nil {
		n.c.t.Fatalf("nodetest: %s: %v", n.Name, err)
	}
	return tok
}

// Token asks the issuer at base (the demo tenant's) for a token with form.
func Token(ctx context.Context, hc *http.Client, base string, form url.Values) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/"+directory.DemoTenantID+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil || b.AccessToken == "" {
		return "", fmt.Errorf("token from %s: %s %v", base, resp.Status, err)
	}
	return b.AccessToken, nil
}

// CPUTime is the CPU time (user and system) the node's current process
// has used, from /proc (Linux): figures of CPU per request take the
// difference over a run.
func (n *Node) CPUTime() (time.Duration, error) {
	pid := n.PID()
	d, ok := loadgen.ProcCPU(pid)
	if !ok {
		return 0, fmt.Errorf("nodetest: no CPU time of process %d in /proc", pid)
	}
	return d, nil
}
