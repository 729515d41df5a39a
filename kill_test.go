package presenced_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/freeport"
)

// proc is the real presenced binary running as a child process.
type proc struct {
	cmd *exec.Cmd
	url string
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "presenced")
	out, err := exec.Command("go", "build", "-o", bin, "./cmd/presenced").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var listenRE = regexp.MustCompile(`listening on (https?://\S+?),? `)

func runBinary(t *testing.T, bin, data string, extra ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--dev", "--addr", "127.0.0.1:0", "--data", data, "--log-level", "warn"}, extra...)...)
	cmd.Stderr = os.Stderr
	return startBinary(t, cmd)
}

// startBinary starts cmd (a presenced serve) and waits until it says
// where it listens; it is killed when the test ends.
func startBinary(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case u := <-found:
		return &proc{cmd: cmd, url: u}
	case <-time.After(30 * time.Second):
		t.Fatal("presenced did not say where it listens")
	}
	return nil
}

func (p *proc) token(t *testing.T) string { return daemonToken(t, http.DefaultClient, p.url) }

// daemonToken gets an app-only token for the demo daemon from the server at
// base (the binary's built-in issuer).
func daemonToken(t testing.TB, hc *http.Client, base string) string {
	t.Helper()
	resp, err := hc.PostForm(base+"/"+directory.DemoTenantID+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {directory.DemoDaemonClientID},
		"client_secret": {directory.DemoDaemonSecret}, "scope": {"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil || b.AccessToken == "" {
		t.Fatalf("token: %s %v", resp.Status, err)
	}
	return b.AccessToken
}

func (p *proc) post(ctx context.Context, token, path, body string) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, "POST", p.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// recordLog keeps the messages a server logs, with their attributes.
type recordLog struct {
	mu   sync.Mutex
	recs []string
}

func (h *recordLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordLog) WithGroup(string) slog.Handler            { return h }
func (h *recordLog) Handle(_ context.Context, r slog.Record) error {
	line := r.Message
	r.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	h.mu.Lock()
	h.recs = append(h.recs, line)
	h.mu.Unlock()
	return nil
}

func (h *recordLog) find(prefix string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.recs {
		if strings.HasPrefix(r, prefix) {
			return r, true
		}
	}
	return "", false
}

// After a restart without a saved cache the server reads every stored
// user into memory in the background, and says so.
func TestRestartWarmsTheCache(t *testing.T) {
	e := start(t)
	tok := e.appToken()
	for _, name := range []string{"adele", "alex", "megan"} {
		e.must("POST", "/v1.0/users/"+e.user(name)+"/presence/setPresence", tok, setBody("Busy", "InACall", "PT1H"))
	}
	rec := &recordLog{}
	e.log = slog.New(rec)
	e.stop()
	// Without the cache saved at the stop, which the start would load.
	if err := os.Remove(filepath.Join(e.dir, presenced.CacheFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	e.boot()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if line, ok := rec.find("cache warmed"); ok {
			if !strings.Contains(line, "users=3") {
				t.Fatalf("%q: want users=3", line)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no warm-up logged in 30 s: %q", rec.recs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r := e.get(tok, e.user("alex")); pair(r) != "Busy/InACall" {
		t.Fatalf("after warm-up: %s", pair(r))
	}
}

// --debug-addr serves Go's profiler on its own listener, and only there.
func TestDebugAddrServesProfiler(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	debugAddr := fmt.Sprintf("127.0.0.1:%d", freeport.Ports(t, 1)[0])
	p := runBinary(t, buildBinary(t), t.TempDir(), "--debug-addr", debugAddr)
	for _, c := range []struct {
		url  string
		want int
	}{
		{"http://" + debugAddr + "/debug/pprof/heap?gc=1", http.StatusOK},
		{"http://" + debugAddr + "/debug/pprof/goroutine?debug=1", http.StatusOK},
		{p.url + "/debug/pprof/heap", http.StatusNotFound},
	} {
		resp, err := http.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want || c.want == http.StatusOK && len(body) == 0 {
			t.Errorf("GET %s: %d, %d bytes; want %d", c.url, resp.StatusCode, len(body), c.want)
		}
	}
}

// TestKillNineLosesNoAcknowledgedWrite runs the real binary, writes from
// several clients, kills the process with SIGKILL in the middle of the
// writes, starts it again on the same data and checks that every write that
// got its 200 is there. Each write creates its own session, so each can be
// checked on its own (clearPresence answers 404 for a lost one).
// Both ways a start finds the cache: with no saved cache (the warm-up),
// and with one saved by an earlier stop, older than the writes made since
// (loaded, then caught up with the engine's changes after it).
func TestKillNineLosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	t.Run("no saved cache", func(t *testing.T) { killNine(t, bin, false) })
	t.Run("an older saved cache", func(t *testing.T) { killNine(t, bin, true) })
}

func killNine(t *testing.T, bin string, savedBefore bool) {
	data := t.TempDir()
	users := []string{"adele", "alex", "megan", "lynne", "diego"}
	// Every write opens a session of its own, so that each acknowledged
	// one can be checked: the caps on sessions must not refuse them.
	caps := []string{"--sessions-per-app", "1024", "--sessions-per-user", "1024"}
	if savedBefore {
		p0 := runBinary(t, bin, data, caps...)
		tok := p0.token(t)
		for _, u := range users {
			body := fmt.Sprintf(`{"sessionId":"%s:first","availability":"Away","activity":"Away","expirationDuration":"PT4H"}`, directory.DemoDaemonClientID)
			if code, err := p0.post(context.Background(), tok, "/v1.0/users/"+u+"@contoso.dev/presence/setPresence", body); err != nil || code != 200 {
				t.Fatalf("setPresence: %d %v", code, err)
			}
		}
		_ = p0.cmd.Process.Signal(syscall.SIGTERM)
		if err := p0.cmd.Wait(); err != nil {
			t.Fatalf("SIGTERM: %v", err)
		}
		if _, err := os.Stat(filepath.Join(data, presenced.CacheFile)); err != nil {
			t.Fatalf("no saved cache after SIGTERM: %v", err)
		}
	}
	p := runBinary(t, bin, data, caps...)
	tok := p.token(t)

	type ack struct{ user, session string }
	var mu sync.Mutex
	var acked []ack
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				u := users[(w+i)%len(users)] + "@contoso.dev"
				sid := fmt.Sprintf("%s:w%d-%d", directory.DemoDaemonClientID, w, i)
				body := fmt.Sprintf(`{"sessionId":%q,"availability":"Busy","activity":"InACall","expirationDuration":"PT4H"}`, sid)
				code, err := p.post(ctx, tok, "/v1.0/users/"+u+"/presence/setPresence", body)
				if err == nil && code == 200 {
					mu.Lock()
					acked = append(acked, ack{u, sid})
					mu.Unlock()
				}
			}
		}()
	}
	// Let writes flow, then kill in the middle of them.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 400 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	cancel()
	wg.Wait()
	mu.Lock()
	got := append([]ack(nil), acked...)
	mu.Unlock()
	if len(got) < 50 {
		t.Fatalf("only %d writes acknowledged before the kill", len(got))
	}

	p2 := runBinary(t, bin, data)
	tok = p2.token(t)
	lost := 0
	for _, a := range got {
		code, err := p2.post(context.Background(), tok, "/v1.0/users/"+a.user+"/presence/clearPresence", fmt.Sprintf(`{"sessionId":%q}`, a.session))
		if err != nil {
			t.Fatal(err)
		}
		if code != 200 {
			lost++
			if lost < 5 {
				t.Errorf("acknowledged session %s of %s is gone after kill -9 (clearPresence: %d)", a.session, a.user, code)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged writes lost", lost, len(got))
	}
	t.Logf("%d acknowledged writes, all present after SIGKILL and restart", len(got))
	if savedBefore {
		// The first stop's sessions are there too.
		for _, u := range users {
			code, err := p2.post(context.Background(), tok, "/v1.0/users/"+u+"@contoso.dev/presence/clearPresence", fmt.Sprintf(`{"sessionId":"%s:first"}`, directory.DemoDaemonClientID))
			if err != nil || code != 200 {
				t.Fatalf("the session written before the first stop: clearPresence %d %v", code, err)
			}
		}
	}
}

// TestSIGTERMShutsDownCleanly: the binary stops on SIGTERM with exit code 0,
// and what it acknowledged is there on the next start.
func TestSIGTERMShutsDownCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	p := runBinary(t, bin, data)
	tok := p.token(t)
	code, err := p.post(context.Background(), tok, "/v1.0/users/megan@contoso.dev/presence/setPresence",
		`{"sessionId":"`+directory.DemoDaemonClientID+`","availability":"DoNotDisturb","activity":"Presenting","expirationDuration":"PT1H"}`)
	if err != nil || code != 200 {
		t.Fatalf("setPresence: %d %v", code, err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("still running 20 s after SIGTERM")
	}
	p2 := runBinary(t, bin, data)
	req, _ := http.NewRequest("GET", p2.url+"/v1.0/users/megan@contoso.dev/presence", nil)
	req.Header.Set("Authorization", "Bearer "+p2.token(t))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct{ Availability, Activity string }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || got.Availability != "DoNotDisturb" || got.Activity != "Presenting" {
		t.Fatalf("after restart: %+v %v", got, err)
	}
}
