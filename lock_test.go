package presenced_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced"
)

// A second server on a data directory in use refuses to start, saying which
// directory and which process holds it, and the first keeps serving.
func TestSecondServerOnOneDataDirectoryRefusesToStart(t *testing.T) {
	e := start(t)
	tok := e.appToken()
	e.must("POST", "/v1.0/users/"+e.user("adele")+"/presence/setPresence", tok, setBody("Busy", "InACall", "PT1H"))

	second, err := presenced.New(presenced.Config{Addr: "127.0.0.1:0", DataDir: e.dir, Dev: true, Clock: e.fake, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	err = second.Start(context.Background())
	if err == nil {
		second.Shutdown(context.Background())
		t.Fatal("a second server started on a data directory in use")
	}
	for _, want := range []string{e.dir, "in use by process " + strconv.Itoa(os.Getpid())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	// The refused server touched nothing: the first one still writes and reads.
	e.must("POST", "/v1.0/users/"+e.user("alex")+"/presence/setPresence", tok, setBody("DoNotDisturb", "Presenting", "PT1H"))
	if r := e.get(tok, e.user("adele")); pair(r) != "Busy/InACall" {
		t.Fatalf("first server after the refusal: %s", pair(r))
	}
	// Once the first has stopped, the directory is free.
	e.restart()
	if r := e.get(e.appToken(), e.user("alex")); pair(r) != "DoNotDisturb/Presenting" {
		t.Fatalf("after restart: %s", pair(r))
	}
}

// With the real binary: a second presenced on the same --data exits with the
// holder's process id; after the holder is killed with SIGKILL, its lock is
// gone with it and a new server starts on the directory at once.
func TestKilledServerDoesNotLockItsDataDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	p := runBinary(t, bin, data)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "serve", "--dev", "--addr", "127.0.0.1:0", "--data", data).CombinedOutput()
	if err == nil {
		t.Fatalf("second server on %s exited 0:\n%s", data, out)
	}
	want := "data directory " + data + " is in use by process " + strconv.Itoa(p.cmd.Process.Pid) + " (presenced serve)"
	if !strings.Contains(string(out), want) {
		t.Fatalf("second server said:\n%s\nwant %q", out, want)
	}

	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	p2 := runBinary(t, bin, data)
	if tok := p2.token(t); tok == "" {
		t.Fatal("no token from the restarted server")
	}
}
