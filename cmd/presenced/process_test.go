package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/internal/servertest"
)

// TestMain lets this test binary stand in for the presenced binary: run as
// "<test binary> serve …" or "<test binary> bare …" it is that command.
// bench starts its baseline from os.Executable(), which in a test is this
// binary, so the tests below run the real child processes.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && (os.Args[1] == "serve" || os.Args[1] == "bare") {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startDevServer starts an in-process dev-mode server with demoUsers
// generated users, shut down when the test ends.
func startDevServer(t *testing.T, demoUsers int) *presenced.Server {
	t.Helper()
	return servertest.Start(t, presenced.Config{DataDir: t.TempDir(), Dev: true, DemoUsers: demoUsers})
}

// child is a command of this binary running in its own process.
type child struct {
	cmd    *exec.Cmd
	stdin  *os.File
	stderr *syncBuffer
	done   chan struct{}
}

// syncBuffer is a bytes.Buffer the child's stderr copier and the test may
// use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var urlRE = regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+`)

// startChild runs this binary with args and returns it and the first
// http://127.0.0.1:port URL it writes on stdout (within 30 s). The child is
// stopped by pid when the test ends, if the test has not.
func startChild(t *testing.T, args ...string) (*child, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: exec.Command(exe, args...), stdin: inW, stderr: &syncBuffer{}, done: make(chan struct{})}
	c.cmd.Stdin, c.cmd.Stderr = inR, c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	inR.Close()
	urls := make(chan string, 1)
	go func() {
		// Read every line, so the child never blocks on a full pipe.
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u := urlRE.FindString(sc.Text()); u != "" {
				select {
				case urls <- u:
				default:
				}
			}
		}
		_ = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() { c.stop(t, syscall.SIGKILL) })
	select {
	case u := <-urls:
		return c, u
	case <-c.done:
		t.Fatalf("%v exited before saying where it listens: %s", args, c.stderr.String())
	case <-time.After(2 * time.Minute): // a loaded 2-core machine took 43 s once
		t.Fatalf("%v did not say where it listens within 2 minutes: %s", args, c.stderr.String())
	}
	return nil, ""
}

// stop sends sig to the child's pid and waits (up to 10 s) for it to exit.
func (c *child) stop(t *testing.T, sig syscall.Signal) {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		t.Errorf("%v (pid %d) did not exit within 10s of %v", c.cmd.Args[1:2], c.cmd.Process.Pid, sig)
	}
}

// running reports whether a process with this pid exists (this test reaps
// its children, so an exited child's pid is gone).
func running(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
