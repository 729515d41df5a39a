package web_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/security"
	"github.com/chromedp/chromedp"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/servertest"
	"github.com/presenced/presenced/internal/testcert"
)

// msalSPAClientID is the test directory's single-page application: a
// public client whose one SPA redirect URI is the test page's address.
const msalSPAClientID = "0b7e5a3c-2f41-4d8e-9c6a-5d1e7f3a9b20"

// msalReport is what testdata/msal/spa.js reports in window.report.
type msalReport struct {
	State    string
	Error    string
	Log      []string
	Accounts int
	Redirect struct {
		User, Name, TenantID, HomeAccountID string
		Nonce                               bool
		Scopes                              []string
	}
	Silent struct {
		FromCache, SameAsRedirect bool
		Scopes                    []string
	}
	Presence, PresenceAfterRefresh struct {
		Status                  int
		ID, Availability, Error string
	}
	Refresh struct{ FromCache, Differs bool }
}

// TestBrowserMSAL runs Microsoft's MSAL.js (@azure/msal-browser, the
// bundle in testdata/msal, see its README) in a single-page app against
// the built-in issuer, as an Entra single-page app runs it: the app is
// served from its own origin (a registered SPA redirect URI), the server
// over HTTPS (MSAL accepts no other authority), and MSAL signs in with
// loginRedirect (authorization code with PKCE, on the server's sign-in
// page), takes the answer with handleRedirectPromise, gets a token with
// acquireTokenSilent and calls GET /v1.0/me/presence with it across
// origins, refreshes with forceRefresh, and signs out with
// logoutRedirect.
func TestBrowserMSAL(t *testing.T) {
	needBrowser(t)
	// The single-page app: the test's own listener, on another origin.
	var cfgJS atomic.Pointer[string] // the page's settings, set by each subtest
	mux := http.NewServeMux()
	for _, f := range []string{"msal-browser.min.js", "spa.js"} {
		mux.HandleFunc("GET /"+f, func(w http.ResponseWriter, r *http.Request) {
			http.ServeFile(w, r, filepath.Join("testdata", "msal", f))
		})
	}
	mux.HandleFunc("GET /config.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Header().Set("Cache-Control", "no-store") // each subtest's own
		fmt.Fprint(w, *cfgJS.Load())
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join("testdata", "msal", "index.html"))
	})
	spa := httptest.NewServer(mux)
	t.Cleanup(spa.Close)
	redirectURI := spa.URL + "/"

	// The server over TLS, with the demo directory and the SPA beside.
	now := time.Now() // the certificate's validity only
	ca := testcert.NewCA(t, now)
	certFile, keyFile := testcert.Write(t, t.TempDir(), ca.Issue(t, now, 1))
	tenants, users, apps := directory.DemoData()
	apps = append(apps, directory.App{ClientID: msalSPAClientID, TenantID: directory.DemoTenantID, Name: "MSAL test SPA", Public: true,
		Scopes: []string{"Presence.ReadWrite"}, SPARedirectURIs: []string{redirectURI}})
	srv := servertest.Start(t, presenced.Config{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
		Directory: &directory.File{Tenants: tenants, Users: users, Applications: apps}, TLSCertFile: certFile, TLSKeyFile: keyFile})
	base := srv.URL()
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("server URL %q: MSAL needs an https authority", base)
	}
	bu, _ := url.Parse(base)
	// The authority as MSAL's samples write it: the tenant's id, or one
	// of its domains; the scope named, or Graph's .default.
	for _, tc := range []struct{ tenant, scope string }{
		{directory.DemoTenantID, "https://graph.microsoft.com/Presence.ReadWrite"},
		{directory.DemoTenantDomain, "https://graph.microsoft.com/.default"},
	} {
		tenant := tc.tenant
		t.Run(tenant+" "+tc.scope, func(t *testing.T) {
			cfg, _ := json.Marshal(map[string]string{"clientId": msalSPAClientID, "authority": base + "/" + tenant,
				"host": bu.Host, "redirectUri": redirectURI, "server": base, "scope": tc.scope})
			js := "window.msalTest = " + string(cfg) + ";\n"
			cfgJS.Store(&js)
			msalSignInAndOut(t, base, tenant, redirectURI, ca)
		})
	}
}

// msalSignInAndOut drives the page in a new tab (so a fresh
// sessionStorage, MSAL's cache) through sign-in, tokens, a Graph call, a
// refresh and sign-out, and checks what it reports.
func msalSignInAndOut(t *testing.T, base, tenant, redirectURI string, ca *testcert.CA) {
	ctx := tab(t)
	// The test's CA is not the browser's: this tab accepts its certificate
	// (the other browser tests speak plain http, so nothing else relies
	// on a certificate being checked).
	if _, err := chromedp.Call(ctx, security.SetIgnoreCertificateErrors, security.SetIgnoreCertificateErrorsParams{Ignore: true}); err != nil {
		t.Fatal(err)
	}
	waitState := func(states ...string) msalReport {
		t.Helper()
		js, _ := json.Marshal(states)
		waitAcross(t, ctx, `location.href.startsWith('`+redirectURI+`') && !!window.report && `+string(js)+`.includes(window.report.state)`)
		return eval[msalReport](t, ctx, `window.report`)
	}

	run(t, ctx, chromedp.Navigate(redirectURI))
	if r := waitState("signed-out", "signed-in", "failed"); r.State != "signed-out" {
		t.Fatalf("before sign-in the page says %q: %+v", r.State, r)
	}

	// loginRedirect: to the server's sign-in page, and back with a code.
	run(t, ctx, chromedp.Click(chromedp.CSS("#signin")))
	waitAcross(t, ctx, `!!document.getElementById('passwd')`)
	if loc := eval[string](t, ctx, `location.href`); !strings.HasPrefix(loc, base+"/"+tenant+"/oauth2/v2.0/authorize?") {
		t.Fatalf("MSAL sent the browser to %s", loc)
	}
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#login"), "adele@contoso.dev"), chromedp.SendKeys(chromedp.CSS("#passwd"), directory.DemoPassword),
		chromedp.Submit(chromedp.CSS("#passwd")))
	r := waitState("done", "failed")
	t.Logf("MSAL's report: %+v", r)
	if r.State != "done" {
		t.Fatalf("MSAL failed: %s\nlog: %s", r.Error, strings.Join(r.Log, "\n"))
	}
	if r.Redirect.User != "adele@contoso.dev" || r.Redirect.Name != "Adele Vance" || r.Redirect.TenantID != directory.DemoTenantID ||
		r.Redirect.HomeAccountID != directory.DemoUserAdele+"."+directory.DemoTenantID || !r.Redirect.Nonce {
		t.Errorf("signed in as %+v", r.Redirect)
	}
	if r.Presence.Status != 200 || r.Presence.ID != directory.DemoUserAdele || r.Presence.Availability != "Offline" {
		t.Errorf("GET /v1.0/me/presence with MSAL's token: %+v", r.Presence)
	}
	if !r.Silent.FromCache || !r.Silent.SameAsRedirect {
		t.Errorf("acquireTokenSilent did not answer from MSAL's cache: %+v", r.Silent)
	}
	if r.Refresh.FromCache || !r.Refresh.Differs {
		t.Errorf("acquireTokenSilent({forceRefresh: true}) gave no new token: %+v", r.Refresh)
	}
	if r.PresenceAfterRefresh.Status != 200 || r.PresenceAfterRefresh.ID != directory.DemoUserAdele {
		t.Errorf("GET /v1.0/me/presence with the refreshed token: %+v", r.PresenceAfterRefresh)
	}
	if len(r.Log) > 0 {
		t.Errorf("MSAL logged warnings or errors:\n%s", strings.Join(r.Log, "\n"))
	}

	// MSAL's refresh token, from its cache, for after the sign-out.
	rt := eval[string](t, ctx, `(() => { for (const k of Object.keys(sessionStorage)) { if (k.includes('refreshtoken')) return JSON.parse(sessionStorage.getItem(k)).secret || ''; } return ''; })()`)
	if rt == "" {
		t.Fatalf("no refresh token in MSAL's cache: %v", eval[[]string](t, ctx, `Object.keys(sessionStorage)`))
	}

	// logoutRedirect: to the server's end-session endpoint and back,
	// signed out.
	run(t, ctx, chromedp.Click(chromedp.CSS("#signout")))
	if r := waitState("signed-out", "failed"); r.State != "signed-out" || r.Accounts != 0 {
		t.Fatalf("after logoutRedirect the page says %q with %d accounts: %s", r.State, r.Accounts, r.Error)
	}
	// The sign-in is over at the server too: MSAL sent the id token as
	// id_token_hint, and its refresh token is refused as revoked.
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {msalSPAClientID}, "refresh_token": {rt}}
	req, _ := http.NewRequest("POST", base+"/"+tenant+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", strings.TrimSuffix(redirectURI, "/"))
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}, Timeout: waitBound}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var oe struct {
		Error string  `json:"error"`
		Codes []int64 `json:"error_codes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&oe); err != nil || resp.StatusCode != 400 || oe.Error != "invalid_grant" || len(oe.Codes) != 1 || oe.Codes[0] != 9002313 {
		t.Fatalf("MSAL's refresh token after sign-out: %s %+v %v", resp.Status, oe, err)
	}
}
