package presenced_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/testcert"
)

// tlsClient trusts ca only and speaks HTTP/2 when the server offers it.
// keepAlive false makes every request a new connection (a new handshake).
func tlsClient(ca *testcert.CA, keepAlive bool) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true, DisableKeepAlives: !keepAlive,
	}}
}

// startTLS starts a dev server speaking TLS, with a certificate of a CA of
// the test's own.
func startTLS(t *testing.T) (*env, *testcert.CA) {
	t.Helper()
	now := time.Now()
	ca := testcert.NewCA(t, now)
	certFile, keyFile := testcert.Write(t, t.TempDir(), ca.Issue(t, now, 1))
	e := &env{t: t, fake: clock.NewFake(t0), dir: t.TempDir(), addr: "127.0.0.1:0", cfg: func(c *presenced.Config) {
		c.TLSCertFile, c.TLSKeyFile = certFile, keyFile
	}}
	e.boot()
	return e, ca
}

// getJSON sends a request and decodes its JSON answer.
func getJSON(t *testing.T, c *http.Client, req *http.Request) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("%s %s: %s %q", req.Method, req.URL, resp.Status, raw)
	}
	return resp, body
}

// With a certificate the server speaks https only, with HTTP/2, and every
// URL it writes — the token issuer, discovery, @odata.context — is https.
func TestTLSServesHTTPSWithHTTP2(t *testing.T) {
	e, ca := startTLS(t)
	base := e.srv.URL()
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("URL %s", base)
	}
	c := tlsClient(ca, true)
	resp, err := c.PostForm(base+"/"+directory.DemoTenantID+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {directory.DemoDaemonClientID}, "client_secret": {directory.DemoDaemonSecret}, "scope": {"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || tok.AccessToken == "" {
		t.Fatalf("token over TLS: %s %s", resp.Proto, resp.Status)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok.AccessToken, ".")[1])
	var claims struct {
		Iss string `json:"iss"`
	}
	_ = json.Unmarshal(payload, &claims)
	if claims.Iss != base+"/"+directory.DemoTenantID+"/v2.0" {
		t.Errorf("iss = %q", claims.Iss)
	}

	req, _ := http.NewRequest("GET", base+"/v1.0/users/"+e.user("adele")+"/presence", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, body := getJSON(t, c, req)
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || !strings.HasPrefix(body["@odata.context"].(string), "https://") {
		t.Errorf("GET presence over TLS: %s %s %v", resp.Proto, resp.Status, body["@odata.context"])
	}
	req, _ = http.NewRequest("GET", base+"/"+directory.DemoTenantID+"/v2.0/.well-known/openid-configuration", nil)
	if _, d := getJSON(t, c, req); !strings.HasPrefix(d["token_endpoint"].(string), "https://") || !strings.HasPrefix(d["issuer"].(string), "https://") {
		t.Errorf("discovery: %v %v", d["token_endpoint"], d["issuer"])
	}
	// Plain http on the TLS port is refused (net/http answers 400).
	if r, err := http.Get(strings.Replace(base, "https://", "http://", 1) + "/healthz"); err == nil {
		r.Body.Close()
		if r.StatusCode == 200 {
			t.Error("plain http served beside TLS")
		}
	}
}

// The certificate is rotated by SIGHUP while requests run: new
// connections get the new certificate, open ones carry on, no request
// fails. The binary is configured through the environment alone
// (PRESENCED_*), with JSON logs.
func TestTLSCertificateRotatesOnSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	now := time.Now()
	ca := testcert.NewCA(t, now)
	dir := t.TempDir()
	certFile, keyFile := testcert.Write(t, dir, ca.Issue(t, now, 1))
	cmd := exec.Command(bin, "serve", "--log-level", "info")
	cmd.Env = append(os.Environ(), "PRESENCED_DEV=true", "PRESENCED_ADDR=127.0.0.1:0", "PRESENCED_DATA="+t.TempDir(),
		"PRESENCED_TLS_CERT="+certFile, "PRESENCED_TLS_KEY="+keyFile, "PRESENCED_LOG_FORMAT=json", "PRESENCED_SHUTDOWN_DRAIN=100ms")
	stderr, _ := cmd.StderrPipe()
	var logMu sync.Mutex
	var logLines []string
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			logLines = append(logLines, sc.Text())
			logMu.Unlock()
		}
	}()
	base := startBinary(t, cmd).url
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("listening on %s", base)
	}
	tok := daemonToken(t, tlsClient(ca, true), base)
	adele := base + "/v1.0/users/adele@contoso.dev/presence"

	serial := func() int64 {
		resp, err := tlsClient(ca, false).Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].SerialNumber.Int64()
	}
	if s := serial(); s != 1 {
		t.Fatalf("serving certificate %d, want 1", s)
	}

	// Requests run throughout: some on one kept-alive HTTP/2 connection,
	// some with a new handshake each.
	ctx, cancel := context.WithCancel(context.Background())
	var sent, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := tlsClient(ca, i%2 == 0)
			for ctx.Err() == nil {
				req, _ := http.NewRequest("GET", adele, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := c.Do(req)
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, resp.Status)
				}
			}
		}()
	}
	waitFor(t, "requests running", func() bool { return sent.Load() > 20 })
	testcert.Write(t, dir, ca.Issue(t, now, 2))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "serving the new certificate", func() bool { return serial() == 2 })
	at := sent.Load()
	waitFor(t, "requests after the rotation", func() bool { return sent.Load() > at+20 })
	cancel()
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed across the rotation, the first: %v", n, sent.Load(), firstErr.Load())
	}

	// A broken pair is refused and the current certificate stays.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the refusal logged", func() bool {
		logMu.Lock()
		defer logMu.Unlock()
		for _, l := range logLines {
			if strings.Contains(l, `"msg":"TLS certificate not reloaded; the previous one stays"`) {
				return true
			}
		}
		return false
	})
	if s := serial(); s != 2 {
		t.Fatalf("after a broken reload serving %d, want 2", s)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The logs end when the process does (read them all before Wait,
	// which closes the pipe).
	select {
	case <-logsDone:
	case <-time.After(20 * time.Second):
		t.Fatal("still running 20 s after SIGTERM")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	for _, l := range logLines {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil {
			t.Errorf("not a JSON log line: %s", l)
		}
	}
}
