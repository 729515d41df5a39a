package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGTERM while the server starts (systemd or Kubernetes stopping a unit
// that is still starting) stops it with exit code 0 and says so. Before,
// the start's error came out as the process's: exit code 1 and a line
// such as `presenced: subscriptions: natsstore: walk subscriptions/"s.":
// context canceled`, which reads as a failure of the subscriptions.
func TestSIGTERMWhileStartingStopsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	data := t.TempDir()
	// Many demo users: the start takes a few seconds, the signal comes
	// in the middle of it.
	cmd := exec.Command(os.Args[0], "serve", "--dev", "--demo-users", "300000", "--addr", "127.0.0.1:0", "--data", data, "--log-level", "info")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	var log strings.Builder
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), `msg="engine ready"`) {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		t.Fatal("no `engine ready` within 60 s")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { <-done; exited <- cmd.Wait() }()
	select {
	case err = <-exited:
	case <-time.After(60 * time.Second):
		t.Fatal("not stopped 60 s after SIGTERM")
	}
	if strings.Contains(stdout.String(), "listening on") {
		t.Skip("the start ended before the signal: nothing to check")
	}
	if err != nil || !strings.Contains(stdout.String(), "stopped while starting") || strings.Contains(log.String(), "context canceled\n") {
		t.Fatalf("SIGTERM while starting: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), log.String())
	}
}
