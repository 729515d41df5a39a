package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/directory"
)

// statusOf answers the status of GET url (0 when nothing answered).
func statusOf(url, token string) int {
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// pollUntil asks cond every 20 ms until it holds, for up to 30 s.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within 30 s", what)
		}
	}
}

// The binary, stopped as a supervisor stops it (SIGTERM: systemd, a
// container engine, Kubernetes), first fails /readyz while it still
// serves — the load balancer takes it out of rotation — for
// --shutdown-drain, then stops with exit code 0. Ctrl-C at a terminal
// (SIGINT) has no load balancer to wait for: it stops without the drain.
func TestSIGTERMDrainsBeforeStoppingAndSIGINTDoesNot(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	const drain = 3 * time.Second
	c, base := startChild(t, "serve", "--dev", "--demo-users", "0", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--shutdown-drain", drain.String())
	pollUntil(t, "ready", func() bool { return statusOf(base+"/readyz", "") == 200 })
	resp, err := http.PostForm(base+"/"+directory.DemoTenantID+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {directory.DemoDaemonClientID}, "client_secret": {directory.DemoDaemonSecret}, "scope": {"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	presence := base + "/v1.0/users/" + directory.DemoUserMegan + "/presence"
	if st := statusOf(presence, tok.AccessToken); st != 200 {
		t.Fatalf("GET presence before SIGTERM: %d", st)
	}

	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "/readyz failing after SIGTERM", func() bool { return statusOf(base+"/readyz", "") == 503 })
	// Not ready, and still serving: the process lives, and Graph requests
	// are answered.
	if st := statusOf(base+"/healthz", ""); st != 200 {
		t.Errorf("/healthz while draining: %d", st)
	}
	if st := statusOf(presence, tok.AccessToken); st != 200 {
		t.Errorf("GET presence while draining: %d", st)
	}
	select {
	case <-c.done:
	case <-time.After(drain + 30*time.Second):
		t.Fatalf("still running %v after SIGTERM", drain+30*time.Second)
	}
	// The drain it waited is the one configured (the log says so; the
	// test measures no time).
	if want := "draining: /readyz fails while requests are still served\" for=" + drain.String(); !strings.Contains(c.stderr.String(), want) {
		t.Errorf("no log line %q: %s", want, c.stderr.String())
	}
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM: %s", code, c.stderr.String())
	}

	// SIGINT, with a drain far longer than the test waits.
	c, base = startChild(t, "serve", "--dev", "--demo-users", "0", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--shutdown-drain", "1h")
	pollUntil(t, "ready", func() bool { return statusOf(base+"/readyz", "") == 200 })
	if err := c.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	case <-time.After(60 * time.Second):
		t.Fatal("still running a minute after SIGINT: it waited for the drain")
	}
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGINT: %s", code, c.stderr.String())
	}
}
