package auth

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/auth/throttle"
	"github.com/presenced/presenced/directory"
)

// clientFrom returns an HTTP client whose connections come from the
// loopback address ip (any 127.x.y.z is this host on Linux): a second
// source address for the tests of per-address limits.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// postWith is post through client c.
func (h *httpFixture) postWith(t *testing.T, c *http.Client, tenant string, form url.Values) reply {
	t.Helper()
	return h.doWith(t, c, tokenRequest(h.srv.URL, tenant, form, nil))
}

func passwordForm(user, password string) url.Values {
	return with(userForm(user, "Presence.Read"), "password", password)
}

// The attack: thousands of wrong passwords for one user from one
// address, answered as fast as they came, and the right one still worked.
func TestPasswordGuessingIsCutOff(t *testing.T) {
	h := newHTTPFixtureWith(t, nil, func(o *IssuerOptions) { o.TokenRate.PerSecond = -1 }) // lockout alone
	evaluated := 0
	for i := range 300 {
		r := h.post(t, directory.DemoTenantID, passwordForm("adele@contoso.dev", fmt.Sprintf("guess-%d", i)), nil)
		codes, _ := r.body["error_codes"].([]any)
		switch {
		case len(codes) == 1 && codes[0] == 50126.0:
			evaluated++
		case len(codes) == 1 && codes[0] == 50053.0:
		default:
			t.Fatalf("guess %d: %d %s", i, r.status, r.raw)
		}
	}
	if evaluated >= throttle.DefaultLockoutThreshold {
		t.Errorf("%d of 300 guesses were checked against the password; smart lockout allows %d", evaluated, throttle.DefaultLockoutThreshold-1)
	}
	r := h.post(t, directory.DemoTenantID, passwordForm("adele@contoso.dev", directory.DemoPassword), nil)
	checkOAuthError(t, r, 400, "invalid_grant", 50053, "Your account is locked because the user tried to sign in too many times with an incorrect user ID or password.")
}

func TestSmartLockout(t *testing.T) {
	h := newHTTPFixtureWith(t, nil, func(o *IssuerOptions) { o.TokenRate.PerSecond = -1 })
	other := clientFrom(t, "127.0.0.2")
	tenant := directory.DemoTenantID
	right := func(user string) url.Values { return passwordForm(user, directory.DemoPassword) }

	// Nine failures leave the user free; the tenth locks it.
	for i := range 9 {
		r := h.post(t, tenant, passwordForm("adele@contoso.dev", fmt.Sprintf("guess-%d", i)), nil)
		checkOAuthError(t, r, 400, "invalid_grant", 50126, "invalid username or password")
	}
	r := h.post(t, "contoso.dev", passwordForm("ADELE@contoso.dev", "guess-9"), nil) // the same user by domain, in other case
	checkOAuthError(t, r, 400, "invalid_grant", 50053, "Your account is locked")
	if strings.Contains(r.raw, "127.0.0") {
		t.Errorf("the lockout error names an address: %s", r.raw)
	}

	// While locked, even the right password is refused from that address,
	// also when the user is named by object id…
	r = h.post(t, tenant, right("adele@contoso.dev"), nil)
	checkOAuthError(t, r, 400, "invalid_grant", 50053, "Your account is locked")
	r = h.post(t, tenant, right(directory.DemoUserAdele), nil)
	checkOAuthError(t, r, 400, "invalid_grant", 50053, "Your account is locked")

	// …but the user signs in from another address, and other users from
	// this one.
	if r := h.postWith(t, other, tenant, right("adele@contoso.dev")); r.status != 200 {
		t.Fatalf("from another address: %d %s", r.status, r.raw)
	}
	if r := h.post(t, tenant, right("alex@contoso.dev"), nil); r.status != 200 {
		t.Fatalf("another user: %d %s", r.status, r.raw)
	}

	// The lock ends after a minute on the server's clock.
	h.clk.Add(59 * time.Second)
	checkOAuthErrorAt(t, h.post(t, tenant, right("adele@contoso.dev"), nil), h.clk.Now(), 400, "invalid_grant", 50053, "locked")
	h.clk.Add(time.Second)
	r = h.post(t, tenant, right("adele@contoso.dev"), nil)
	if r.status != 200 {
		t.Fatalf("after the lock: %d %s", r.status, r.raw)
	}
}

func TestSmartLockoutCountsUnknownUsers(t *testing.T) {
	h := newHTTPFixtureWith(t, nil, func(o *IssuerOptions) { o.TokenRate.PerSecond = -1 })
	// An unknown name locks like a known one, so the answers do not tell an
	// attacker which names exist.
	var last reply
	for i := range 10 {
		last = h.post(t, directory.DemoTenantID, passwordForm("nobody@contoso.dev", fmt.Sprintf("guess-%d", i)), nil)
	}
	checkOAuthError(t, last, 400, "invalid_grant", 50053, "Your account is locked")
}

func TestSmartLockoutSettings(t *testing.T) {
	h := newHTTPFixtureWith(t, nil, func(o *IssuerOptions) {
		o.TokenRate.PerSecond = -1
		o.Lockout = throttle.LockoutOptions{Threshold: 3, Duration: 5 * time.Minute}
	})
	for i := range 3 {
		h.post(t, directory.DemoTenantID, passwordForm("adele@contoso.dev", fmt.Sprintf("guess-%d", i)), nil)
	}
	h.clk.Add(4 * time.Minute)
	checkOAuthErrorAt(t, h.post(t, directory.DemoTenantID, passwordForm("adele@contoso.dev", directory.DemoPassword), nil), h.clk.Now(), 400, "invalid_grant", 50053, "locked")

	off := newHTTPFixtureWith(t, nil, func(o *IssuerOptions) { o.TokenRate.PerSecond = -1; o.Lockout.Threshold = -1 })
	for i := range 20 {
		off.post(t, directory.DemoTenantID, passwordForm("adele@contoso.dev", fmt.Sprintf("guess-%d", i)), nil)
	}
	if r := off.post(t, directory.DemoTenantID, passwordForm("adele@contoso.dev", directory.DemoPassword), nil); r.status != 200 {
		t.Errorf("lockout turned off still locked: %d %s", r.status, r.raw)
	}
}

func TestTokenEndpointRateLimit(t *testing.T) {
	h := newHTTPFixtureWith(t, nil, func(o *IssuerOptions) { o.TokenRate = throttle.RateOptions{PerSecond: 2, Burst: 3} })
	other := clientFrom(t, "127.0.0.2")
	for i := range 3 {
		if r := h.post(t, directory.DemoTenantID, appForm(), nil); r.status != 200 {
			t.Fatalf("request %d of the burst: %d %s", i+1, r.status, r.raw)
		}
	}
	// Every request counts, good or bad: the limit is on what an address
	// may try.
	r := h.post(t, directory.DemoTenantID, appForm(), nil)
	checkOAuthError(t, r, 429, "temporarily_unavailable", 90055, "Too many token requests from this address|2 per second|bursts of 3")
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q, want 1 (half a second, rounded up)", got)
	}
	if r := h.postWith(t, other, directory.DemoTenantID, appForm()); r.status != 200 {
		t.Errorf("another address was limited too: %d %s", r.status, r.raw)
	}
	h.clk.Add(500 * time.Millisecond)
	if r := h.post(t, directory.DemoTenantID, appForm(), nil); r.status != 200 {
		t.Errorf("after Retry-After: %d %s", r.status, r.raw)
	}
	checkOAuthErrorAt(t, h.post(t, directory.DemoTenantID, appForm(), nil), h.clk.Now(), 429, "temporarily_unavailable", 90055, "Too many")

	// Discovery and keys are not limited: validators fetch them.
	req, _ := http.NewRequest("GET", h.srv.URL+"/contoso.dev/discovery/v2.0/keys", nil)
	if r := h.do(t, req); r.status != 200 {
		t.Errorf("JWKS limited: %d", r.status)
	}
}
