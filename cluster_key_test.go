package presenced_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/nodetest"
)

// One signing key for the cluster, kept in the engine: a token issued by
// any node is accepted by every node, and every node serves the same
// discovery and JWKS; a code issued at one node is redeemed at another and
// its refresh token used at a third. A single node's key file given to a
// node when the engine holds no key is imported, so the tokens that node
// issued stay valid on every node, and removed. A node restarted with
// another key file says at WARN that that key's tokens are refused and
// signs with the cluster's; a corrupt stored key stops a node's start.
func TestClusterSharesOneSigningKey(t *testing.T) {
	t.Parallel()
	const public = "http://presence.test"
	rec := &levelLog{}
	nodes, natsURLs := clusterOfWith(t, 3, 3, func(i int, e *env) {
		e.direct = true
		if i == 2 {
			e.log = slog.New(rec)
		}
	}, func(c *presenced.Config) { c.PublicURL = public; c.ThrottleRequests = testThrottleRequests })
	adele := nodes[0].user("adele")
	for i, n := range nodes {
		tok := n.appToken()
		for j, m := range nodes {
			if r := m.call("GET", "/v1.0/users/"+adele+"/presence", tok, nil); r.status != 200 {
				t.Fatalf("node %d refuses node %d's token: %d %s", j, i, r.status, r.raw)
			}
		}
		fi, err := os.Stat(filepath.Join(n.dir, "engine"))
		if err != nil || fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("node %d's engine directory, which holds the key: %v %v", i, fi.Mode(), err)
		}
		if _, err := os.Stat(filepath.Join(n.dir, "issuer-key.pem")); !os.IsNotExist(err) {
			t.Errorf("node %d has a key file: %v", i, err)
		}
	}
	for _, path := range []string{"/" + directory.DemoTenantID + "/v2.0/.well-known/openid-configuration", "/" + directory.DemoTenantID + "/discovery/v2.0/keys"} {
		var first []byte
		for i, n := range nodes {
			r := n.call("GET", path, "", nil)
			if r.status != 200 {
				t.Fatalf("node %d: GET %s: %d", i, path, r.status)
			}
			if i == 0 {
				first = r.raw
			} else if !bytes.Equal(r.raw, first) {
				t.Fatalf("node %d serves another %s:\n%s\nnode 0:\n%s", i, path, r.raw, first)
			}
		}
	}

	// The browser sign-in: a code from node 0, redeemed at node 1, its
	// refresh token used at node 2.
	verifier := strings.Repeat("v", 43)
	code := signInAt(t, nodes[0], verifier)
	redeemed := formAt(t, nodes[1], url.Values{"grant_type": {"authorization_code"}, "client_id": {directory.DemoClientID}, "code": {code},
		"redirect_uri": {"http://127.0.0.1:8080/"}, "code_verifier": {verifier}})
	refresh, _ := redeemed["refresh_token"].(string)
	if refresh == "" {
		t.Fatalf("node 1 redeeming node 0's code: %v", redeemed)
	}
	if r := formAt(t, nodes[2], url.Values{"grant_type": {"refresh_token"}, "client_id": {directory.DemoClientID}, "refresh_token": {refresh}}); r["access_token"] == nil {
		t.Fatalf("node 2 refreshing: %v", r)
	}

	nc, err := nats.Connect(strings.Join(natsURLs[:2], ","))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	actx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	meta, err := nodetest.Ask(actx, t, "the meta bucket", func(ctx context.Context) (jetstream.KeyValue, error) {
		return js.KeyValue(ctx, "meta")
	})
	if err != nil {
		t.Fatal(err)
	}

	// A single node's key file, given to node 2 while the engine holds no
	// key (as when a single node's data directory is moved to a cluster's
	// first node): imported, and its tokens valid on every node.
	single := &env{t: t, fake: clock.NewFake(t0), dir: t.TempDir(), addr: "127.0.0.1:0", direct: true,
		cfg: func(c *presenced.Config) { c.PublicURL = public }}
	single.boot()
	oldToken := single.appToken()
	single.stop()
	singleKey, err := os.ReadFile(filepath.Join(single.dir, "issuer-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	n := nodes[2]
	n.stop()
	if _, err := nodetest.Ask(actx, t, "deleting issuer.key", func(ctx context.Context) (struct{}, error) {
		return struct{}{}, meta.Delete(ctx, "issuer.key")
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(n.dir, "issuer-key.pem"), singleKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := n.bootErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(n.dir, "issuer-key.pem")); !os.IsNotExist(err) {
		t.Errorf("node 2 kept the key file it imported: %v", err)
	}
	for _, m := range nodes[:2] {
		m.stop()
		if err := m.bootErr(); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range nodes {
		if r := m.call("GET", "/v1.0/users/"+adele+"/presence", oldToken, nil); r.status != 200 {
			t.Fatalf("node %d refuses the single node's token: %d %s", i, r.status, r.raw)
		}
	}

	// Node 2 restarted with a key file of its own.
	n.stop()
	otherDir := t.TempDir()
	other, err := presenced.New(presenced.Config{Addr: "127.0.0.1:0", DataDir: otherDir, Dev: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	other.Shutdown(context.Background())
	otherKey, err := os.ReadFile(filepath.Join(otherDir, "issuer-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(n.dir, "issuer-key.pem"), otherKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := n.bootErr(); err != nil {
		t.Fatal(err)
	}
	if w := rec.at(slog.LevelWarn, "not the cluster's key", "refused"); len(w) != 1 {
		t.Fatalf("node 2 with another key file warned %q", w)
	}
	if r := n.call("GET", "/v1.0/users/"+adele+"/presence", nodes[0].appToken(), nil); r.status != 200 {
		t.Fatalf("node 2 no longer accepts node 0's token: %d", r.status)
	}

	// A stored key that is not a key stops a start.
	n.stop()
	if _, err := meta.Put(context.Background(), "issuer.key", []byte("not a key")); err != nil {
		t.Fatal(err)
	}
	if err := n.bootErr(); err == nil || !strings.Contains(err.Error(), "stored in the engine") || !strings.Contains(err.Error(), "not a PEM file") {
		t.Fatalf("start with a corrupt stored key: %v", err)
	}
}

// signInAt signs adele in on the board's sign-in page at e and returns the
// code (PKCE with verifier).
func signInAt(t *testing.T, e *env, verifier string) string {
	t.Helper()
	h := sha256.Sum256([]byte(verifier))
	sum := base64.RawURLEncoding.EncodeToString(h[:])
	form := url.Values{"client_id": {directory.DemoClientID}, "response_type": {"code"}, "redirect_uri": {"http://127.0.0.1:8080/"},
		"response_mode": {"fragment"}, "scope": {"openid offline_access https://graph.microsoft.com/.default"}, "state": {"s"},
		"code_challenge": {sum}, "code_challenge_method": {"S256"}, "login": {"adele@contoso.dev"}, "passwd": {directory.DemoPassword}}
	req, _ := http.NewRequest("POST", e.base()+"/"+directory.DemoTenantID+"/oauth2/v2.0/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("sign-in: %d %s", resp.StatusCode, b)
	}
	q, _ := url.ParseQuery(loc.EscapedFragment())
	if q.Get("code") == "" {
		t.Fatalf("sign-in redirected to %s", loc)
	}
	return q.Get("code")
}

// formAt posts a token request to e from the board's origin and returns
// the decoded answer.
func formAt(t *testing.T, e *env, form url.Values) map[string]any {
	t.Helper()
	r := e.call("POST", "/"+directory.DemoTenantID+"/oauth2/v2.0/token", "", form.Encode(), "Content-Type", "application/x-www-form-urlencoded", "Origin", "http://127.0.0.1:8080")
	return r.body
}
