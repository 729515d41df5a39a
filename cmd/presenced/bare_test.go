package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/loadgen"
)

const bareDoc = `{"@odata.context":"x","id":"u1","availability":"Available","activity":"Available"}`

// checkBare sends the bare server a GET and a POST and checks its answers:
// the given document, and 200 with no body.
func checkBare(t *testing.T, base string) {
	t.Helper()
	resp, err := http.Get(base + "/v1.0/users/u1/presence")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != bareDoc || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET: %s %q", resp.Status, got)
	}
	resp, err = http.Post(base+"/v1.0/users/u1/presence/setPresence", "application/json", strings.NewReader(`{"sessionId":"s"}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(got) != 0 {
		t.Errorf("POST: %s %q", resp.Status, got)
	}
}

// `presenced bare` serves until its stdin ends — what happens when the
// bench that started it closes it, or dies — and then exits by itself.
func TestBareServesUntilItsStdinEnds(t *testing.T) {
	c, base := startChild(t, "bare", "--addr", "127.0.0.1:0", "--get-body", bareDoc)
	checkBare(t, base)
	pid := c.cmd.Process.Pid
	c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("bare (pid %d) still runs 10s after its stdin ended", pid)
	}
	if code := c.cmd.ProcessState.ExitCode(); code != 0 || running(pid) {
		t.Errorf("bare exited with %d (running: %v): %s", code, running(pid), c.stderr.String())
	}
}

// The load generator starts the baseline from this binary, reads its
// address from the child's first line, and stops it by pid.
func TestBareProcessIsStartedAndStoppedByPID(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p, err := loadgen.StartBareProcess([]string{exe, "bare"}, []byte(bareDoc))
	if err != nil {
		t.Fatal(err)
	}
	pid := p.PID()
	if pid == os.Getpid() || !running(pid) || !strings.HasPrefix(p.URL(), "http://127.0.0.1:") {
		t.Fatalf("child pid %d (running %v, this process %d) at %s", pid, running(pid), os.Getpid(), p.URL())
	}
	checkBare(t, p.URL())
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if running(pid) {
		t.Fatalf("bare (pid %d) still runs after Stop", pid)
	}
	if _, err := http.Get(p.URL()); err == nil {
		t.Errorf("%s still answers after Stop", p.URL())
	}
	if err := p.Stop(); err != nil {
		t.Errorf("a second Stop: %v", err)
	}
}

// A child that cannot start says why, and is not left behind.
func TestBareProcessThatFailsToStart(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	_, err = loadgen.StartBareProcess([]string{exe, "bare", "--no-such-flag"}, []byte(bareDoc))
	if err == nil || !strings.Contains(err.Error(), "did not say where it listens") || !strings.Contains(err.Error(), "no-such-flag") {
		t.Fatalf("a child that fails: %v", err)
	}
}

func TestBareFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bare"}, "--get-body is required"},
		{[]string{"bare", "--get-body", "{}", "now"}, `unexpected "now"`},
		{[]string{"bare", "--get-body", "{}", "--addr", "127.0.0.1:-1"}, "invalid port"},
	} {
		var out, errb bytes.Buffer
		err := bareCmd(c.args[1:], strings.NewReader(""), &out, &errb)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error containing %q", c.args, err, c.want)
		}
	}
	// "bare" is a command, but not one the usage lists.
	var out, errb bytes.Buffer
	_ = run([]string{"help"}, &out, &errb)
	if strings.Contains(out.String(), "bare") {
		t.Errorf("the usage lists the hidden bare command:\n%s", out.String())
	}
}
