package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/store"
)

// The applications of the code-flow tests beside the demo's: a
// confidential web app and a native public client.
const (
	webAppID     = "5b8a2b1e-0d8e-4c1e-9a7e-1f2a3b4c5d6e"
	webAppSecret = "web-secret"
	webRedirect  = "https://web.example/signin"
	nativeAppID  = "6c9b3c2f-1e9f-4d2f-8b8f-2a3b4c5d6e7f"
	spaRedirect  = "http://127.0.0.1:8080/"
	boardOrigin  = "http://127.0.0.1:8080"
)

type flowFixture struct {
	*httpFixture
	kv   store.KV
	file *directory.File
}

func newFlowFixture(t *testing.T, edit func(*IssuerOptions)) *flowFixture {
	t.Helper()
	tenants, users, apps := directory.DemoData()
	apps = append(apps,
		directory.App{ClientID: webAppID, TenantID: directory.DemoTenantID, Name: "web app", Secret: webAppSecret,
			Scopes: []string{"Presence.Read", "Presence.Read.All"}, RedirectURIs: []string{webRedirect}},
		directory.App{ClientID: nativeAppID, TenantID: directory.DemoTenantID, Name: "native app", Public: true,
			Scopes: []string{"Presence.Read"}, RedirectURIs: []string{"http://localhost/native"}})
	d := &directory.File{Tenants: tenants, Users: users, Applications: apps}
	kv := enginetest.Bucket(t, "oauth")
	h := newHTTPFixtureWith(t, d, func(o *IssuerOptions) {
		o.Grants = kv
		if edit != nil {
			edit(o)
		}
	})
	return &flowFixture{httpFixture: h, kv: kv, file: d}
}

// pkce returns a code verifier and its S256 challenge.
func pkce(seed string) (verifier, challenge string) {
	verifier = strings.Repeat(seed, 43/len(seed)+1)[:43]
	h := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(h[:])
}

// spaParams is the board's authorization request.
func spaParams(challenge string) url.Values {
	return url.Values{"client_id": {directory.DemoClientID}, "response_type": {"code"}, "redirect_uri": {spaRedirect},
		"response_mode": {"fragment"}, "scope": {"openid profile offline_access https://graph.microsoft.com/.default"},
		"state": {"st-1"}, "nonce": {"n-1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
}

func webParams(challenge string) url.Values {
	v := url.Values{"client_id": {webAppID}, "response_type": {"code"}, "redirect_uri": {webRedirect},
		"scope": {"openid Presence.Read offline_access"}, "state": {"w-1"}}
	if challenge != "" {
		v.Set("code_challenge", challenge)
		v.Set("code_challenge_method", "S256")
	}
	return v
}

type page struct {
	status   int
	header   http.Header
	body     string
	location *url.URL
}

// authorize sends a GET (form nil) or the sign-in form's POST, without
// following the redirect.
func (f *flowFixture) authorize(t *testing.T, params url.Values, form url.Values) page {
	t.Helper()
	u := f.srv.URL + "/" + directory.DemoTenantID + "/oauth2/v2.0/authorize"
	var req *http.Request
	if form == nil {
		req, _ = http.NewRequest("GET", u+"?"+params.Encode(), nil)
	} else {
		all := url.Values{}
		for k, v := range params {
			all[k] = v
		}
		for k, v := range form {
			all[k] = v
		}
		req, _ = http.NewRequest("POST", u, strings.NewReader(all.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return f.fetch(t, req)
}

// fetch sends req and returns the answer without following a redirect.
func (f *flowFixture) fetch(t *testing.T, req *http.Request) page {
	t.Helper()
	c := *f.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	p := page{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if loc := resp.Header.Get("Location"); loc != "" {
		p.location, _ = url.Parse(loc)
	}
	return p
}

// signIn signs adele in and returns the redirect's parameters.
func (f *flowFixture) signIn(t *testing.T, params url.Values) url.Values {
	t.Helper()
	p := f.authorize(t, params, url.Values{"login": {"adele@contoso.dev"}, "passwd": {directory.DemoPassword}})
	if p.status != http.StatusFound || p.location == nil {
		t.Fatalf("sign-in: %d %s", p.status, p.body)
	}
	q := p.location.Query()
	if p.location.Fragment != "" {
		q, _ = url.ParseQuery(p.location.EscapedFragment())
	}
	return q
}

func (f *flowFixture) redeem(t *testing.T, form url.Values, origin string) reply {
	t.Helper()
	return f.post(t, directory.DemoTenantID, form, func(r *http.Request) {
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
	})
}

func codeForm(client, code, redirect, verifier string) url.Values {
	v := url.Values{"grant_type": {"authorization_code"}, "client_id": {client}, "code": {code}, "redirect_uri": {redirect}}
	if verifier != "" {
		v.Set("code_verifier", verifier)
	}
	return v
}

// TestCodeFlowSinglePageApp is the board's sign-in: the sign-in page, the
// code in the fragment with the state, its redemption from the browser
// with the PKCE verifier, an id token carrying the nonce, and a refresh
// token that is rotated at every use.
func TestCodeFlowSinglePageApp(t *testing.T) {
	f := newFlowFixture(t, nil)
	verifier, challenge := pkce("spa-verifier-")
	p := f.authorize(t, spaParams(challenge), nil)
	csp := p.header.Get("Content-Security-Policy")
	if p.status != 200 || !strings.Contains(p.body, `name="passwd"`) || !strings.Contains(p.body, "Contoso") ||
		!strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "form-action 'self' "+boardOrigin) ||
		p.header.Get("X-Frame-Options") != "DENY" || p.header.Get("Cache-Control") != "no-store" || len(p.header.Values("Set-Cookie")) != 0 {
		t.Fatalf("sign-in page: %d %v\n%s", p.status, p.header, p.body)
	}
	got := f.signIn(t, spaParams(challenge))
	if got.Get("state") != "st-1" || got.Get("code") == "" {
		t.Fatalf("redirect: %v", got)
	}
	r := f.redeem(t, with(codeForm(directory.DemoClientID, got.Get("code"), spaRedirect, verifier), "client_info", "1"), boardOrigin)
	if r.status != 200 || r.body["refresh_token"] == nil || r.body["id_token"] == nil || r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("redeem: %d %s", r.status, r.raw)
	}
	if ci, _ := base64.RawURLEncoding.DecodeString(r.body["client_info"].(string)); string(ci) != `{"uid":"`+directory.DemoUserAdele+`","utid":"`+directory.DemoTenantID+`"}` {
		t.Errorf("client_info %s", ci)
	}
	if n := r.body["refresh_token_expires_in"].(float64); n != SPARefreshLifetime.Seconds() {
		t.Errorf("refresh_token_expires_in %v", n)
	}
	p0, err := f.val.Validate(r.body["access_token"].(string))
	if err != nil || p0.UserID != directory.DemoUserAdele || !p0.Delegated || p0.ClientID != directory.DemoClientID {
		t.Fatalf("access token: %+v %v", p0, err)
	}
	_, idc := decode(t, r.body["id_token"].(string))
	if idc["nonce"] != "n-1" || idc["aud"] != directory.DemoClientID || idc["oid"] != directory.DemoUserAdele || idc["preferred_username"] != "adele@contoso.dev" || idc["sid"] == nil {
		t.Fatalf("id token: %v", idc)
	}
	if _, err := f.val.Validate(r.body["id_token"].(string)); err == nil {
		t.Fatal("an id token is accepted as an access token")
	}

	t.Run("a cross-origin preflight of the token endpoint", func(t *testing.T) {
		req, _ := http.NewRequest("OPTIONS", f.srv.URL+"/"+directory.DemoTenantID+"/oauth2/v2.0/token", nil)
		req.Header.Set("Origin", "https://spa.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "x-client-sku, client-request-id")
		p := f.fetch(t, req)
		if p.status != 204 || p.header.Get("Access-Control-Allow-Origin") != "*" || p.header.Get("Access-Control-Allow-Headers") != "x-client-sku, client-request-id" ||
			!strings.Contains(p.header.Get("Access-Control-Allow-Methods"), "POST") {
			t.Fatalf("preflight: %d %v", p.status, p.header)
		}
	})
	rt1 := r.body["refresh_token"].(string)
	refresh := func(tok, origin string) reply {
		return f.redeem(t, url.Values{"grant_type": {"refresh_token"}, "client_id": {directory.DemoClientID}, "refresh_token": {tok}}, origin)
	}
	t.Run("a SPA's refresh token is redeemed only from the browser", func(t *testing.T) {
		wantOAuth(t, refresh(rt1, ""), 400, "invalid_request", 9002327)
	})
	f.clk.Add(30 * time.Minute)
	r2 := refresh(rt1, boardOrigin)
	if r2.status != 200 || r2.body["refresh_token"] == rt1 || r2.body["refresh_token"] == nil {
		t.Fatalf("refresh: %d %s", r2.status, r2.raw)
	}
	if n := r2.body["refresh_token_expires_in"].(float64); n != (SPARefreshLifetime - 30*time.Minute).Seconds() {
		t.Errorf("after a refresh, refresh_token_expires_in %v: a SPA's refresh token keeps its sign-in's end", n)
	}
	t.Run("a spent refresh token used again revokes the sign-in", func(t *testing.T) {
		wantOAuth(t, refresh(rt1, boardOrigin), 400, "invalid_grant", 50173)
		wantOAuth(t, refresh(r2.body["refresh_token"].(string), boardOrigin), 400, "invalid_grant", 9002313)
	})
}

// TestCodeFlowConfidentialClient is a web app's sign-in: the code in the
// query, redeemed by the server with the client secret.
func TestCodeFlowConfidentialClient(t *testing.T) {
	f := newFlowFixture(t, nil)
	got := f.signIn(t, webParams(""))
	code := got.Get("code")
	if got.Get("state") != "w-1" || code == "" {
		t.Fatalf("redirect: %v", got)
	}
	for _, r := range []reply{
		f.redeem(t, codeForm(webAppID, code, webRedirect, ""), ""),
		f.redeem(t, with(codeForm(webAppID, code, webRedirect, ""), "client_secret", "wrong"), ""),
	} {
		if d, _ := r.body["error_description"].(string); !strings.Contains(d, "'"+webAppID+"'") {
			t.Errorf("%s: does not name the client id sent", d)
		}
		noAppName(t, r, f.file.Applications)
	}
	wantOAuth(t, f.redeem(t, codeForm(webAppID, code, webRedirect, ""), ""), 401, "invalid_client", 7000218)
	wantOAuth(t, f.redeem(t, with(codeForm(webAppID, code, webRedirect, ""), "client_secret", "wrong"), ""), 401, "invalid_client", 7000215)
	r := f.redeem(t, with(codeForm(webAppID, code, webRedirect, ""), "client_secret", webAppSecret), "")
	if r.status != 200 || r.body["refresh_token"] == nil || r.body["scope"] != "Presence.Read" {
		t.Fatalf("redeem: %d %s", r.status, r.raw)
	}
	if _, c := decode(t, r.body["access_token"].(string)); c["azpacr"] != "1" || c["scp"] != "Presence.Read" {
		t.Fatalf("claims %v", c)
	}
	// Its refresh token needs the secret too, and lives on.
	rf := url.Values{"grant_type": {"refresh_token"}, "client_id": {webAppID}, "refresh_token": {r.body["refresh_token"].(string)}}
	r = f.redeem(t, rf, "")
	wantOAuth(t, r, 401, "invalid_client", 7000218)
	noAppName(t, r, f.file.Applications)
	f.clk.Add(48 * time.Hour)
	if r := f.redeem(t, with(rf, "client_secret", webAppSecret), ""); r.status != 200 || r.body["refresh_token_expires_in"] != nil {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
}

// TestCodeFlowScopesDecideTokens: a refresh token only when offline_access
// was asked, an id token only with openid (as Entra answers), for a public
// and a confidential client alike.
func TestCodeFlowScopesDecideTokens(t *testing.T) {
	f := newFlowFixture(t, nil)
	verifier, challenge := pkce("scopes-")
	for _, tc := range []struct {
		scope               string
		wantRefresh, wantID bool
		spa                 bool
	}{
		{"openid profile https://graph.microsoft.com/.default", false, true, true},
		{"offline_access https://graph.microsoft.com/.default", true, false, true},
		{"openid Presence.Read", false, true, false},
		{"Presence.Read offline_access", true, false, false},
	} {
		params := with(webParams(challenge), "scope", tc.scope)
		form := func(code string) url.Values {
			return with(codeForm(webAppID, code, webRedirect, verifier), "client_secret", webAppSecret)
		}
		origin := ""
		if tc.spa {
			params = with(spaParams(challenge), "scope", tc.scope)
			form = func(code string) url.Values { return codeForm(directory.DemoClientID, code, spaRedirect, verifier) }
			origin = boardOrigin
		}
		r := f.redeem(t, form(f.signIn(t, params).Get("code")), origin)
		if r.status != 200 || r.body["access_token"] == nil || (r.body["refresh_token"] != nil) != tc.wantRefresh || (r.body["id_token"] != nil) != tc.wantID {
			t.Errorf("scope %q: %d %s; want refresh token %v, id token %v", tc.scope, r.status, r.raw, tc.wantRefresh, tc.wantID)
		}
	}
}

// A disabled account's refresh token no longer gives tokens (Entra's
// AADSTS50057), nor does a new sign-in.
func TestRefreshOfADisabledOrDeletedAccount(t *testing.T) {
	for _, tc := range []struct {
		rule   string
		change func(*flowFixture) error
		code   int
	}{
		{"a disabled account's refresh token gives no token (AADSTS50057)", func(f *flowFixture) error {
			_, err := f.ds.UpdateUser(context.Background(), directory.DemoTenantID, "adele@contoso.dev", func(u *directory.UserEntry) error {
				u.AccountEnabled = directory.Bool(false)
				return nil
			})
			return err
		}, 50057},
		{"a deleted user's refresh token gives no token (AADSTS50034)", func(f *flowFixture) error {
			return f.ds.DeleteUser(context.Background(), directory.DemoTenantID, "adele@contoso.dev")
		}, 50034},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			f := newFlowFixture(t, nil)
			r := f.redeem(t, with(codeForm(webAppID, f.signIn(t, webParams("")).Get("code"), webRedirect, ""), "client_secret", webAppSecret), "")
			if r.status != 200 {
				t.Fatalf("redeem: %d %s", r.status, r.raw)
			}
			if err := tc.change(f); err != nil {
				t.Fatal(err)
			}
			rf := url.Values{"grant_type": {"refresh_token"}, "client_id": {webAppID}, "client_secret": {webAppSecret}, "refresh_token": {r.body["refresh_token"].(string)}}
			wantOAuth(t, f.redeem(t, rf, ""), 400, "invalid_grant", tc.code)
		})
	}
}

// TestCodeFlowRefusedAsEntra drives every refusal of the flow and checks
// it is Entra's: the error, its AADSTS code, and where it is said (on the
// server's page for a bad client or redirect URI, at the redirect URI for
// the rest, in the token endpoint's JSON at redemption).
func TestCodeFlowRefusedAsEntra(t *testing.T) {
	f := newFlowFixture(t, nil)
	verifier, challenge := pkce("another-verifier-")

	t.Run("authorize with a redirect URI not registered: a page, no redirect", func(t *testing.T) {
		for _, ru := range []string{"https://evil.example/", "http://127.0.0.1:8080/other", "https://web.example/signin/"} {
			p := f.authorize(t, with(spaParams(challenge), "redirect_uri", ru), nil)
			if p.status != 400 || p.location != nil || !strings.Contains(p.body, "AADSTS50011") || !strings.Contains(p.body, "or register it (presenced admin app set "+directory.DemoClientID+" --spa-redirect-uri URI") {
				t.Errorf("%s: %d %v %s", ru, p.status, p.location, p.body)
			}
		}
	})
	t.Run("authorize with an unknown client: a page", func(t *testing.T) {
		p := f.authorize(t, with(spaParams(challenge), "client_id", "0f0f0f0f-0000-4000-8000-000000000000"), nil)
		if p.status != 400 || p.location != nil || !strings.Contains(p.body, "AADSTS700016") || !strings.Contains(p.body, "not registered in this tenant on this server (presenced admin app list") {
			t.Errorf("%d %s", p.status, p.body)
		}
	})
	redirectErr := func(t *testing.T, params url.Values, wantErr string, code string) {
		t.Helper()
		p := f.authorize(t, params, nil)
		if p.location == nil {
			t.Fatalf("no redirect: %d %s", p.status, p.body)
		}
		q, _ := url.ParseQuery(p.location.EscapedFragment())
		if p.location.Fragment == "" {
			q = p.location.Query()
		}
		if q.Get("error") != wantErr || !strings.HasPrefix(q.Get("error_description"), "AADSTS"+code+":") || q.Get("state") != params.Get("state") {
			t.Errorf("redirect %v; want %s AADSTS%s", q, wantErr, code)
		}
	}
	t.Run("a SPA without PKCE", func(t *testing.T) {
		redirectErr(t, with(spaParams(""), "code_challenge", "\x00", "code_challenge_method", "\x00"), "invalid_request", "9002325")
	})
	t.Run("a public native client without PKCE", func(t *testing.T) {
		redirectErr(t, url.Values{"client_id": {nativeAppID}, "response_type": {"code"}, "redirect_uri": {"http://localhost:5000/native"}, "scope": {"Presence.Read"}, "state": {"x"}}, "invalid_request", "9002325")
	})
	t.Run("a plain PKCE challenge", func(t *testing.T) {
		redirectErr(t, with(spaParams(verifier), "code_challenge_method", "plain"), "invalid_request", "501491")
		redirectErr(t, with(spaParams(verifier), "code_challenge_method", "\x00"), "invalid_request", "501491")
	})
	t.Run("the implicit flow", func(t *testing.T) {
		redirectErr(t, with(spaParams(challenge), "response_type", "token"), "unsupported_response_type", "70005")
	})
	t.Run("a silent sign-in: no session", func(t *testing.T) {
		redirectErr(t, with(spaParams(challenge), "prompt", "none"), "login_required", "50058")
	})
	t.Run("a scope not consented", func(t *testing.T) {
		redirectErr(t, with(webParams(""), "scope", "openid Presence.ReadWrite"), "invalid_scope", "65001")
	})

	for _, client := range []struct {
		name     string
		params   url.Values
		form     func(code, verifier string) url.Values
		origin   string
		redirect string
	}{
		{"public (SPA)", spaParams(challenge), func(code, v string) url.Values {
			return codeForm(directory.DemoClientID, code, spaRedirect, v)
		}, boardOrigin, spaRedirect},
		{"confidential (web)", webParams(challenge), func(code, v string) url.Values {
			return with(codeForm(webAppID, code, webRedirect, v), "client_secret", webAppSecret)
		}, "", webRedirect},
	} {
		t.Run(client.name, func(t *testing.T) {
			code := f.signIn(t, client.params).Get("code")
			wantOAuth(t, f.redeem(t, with(client.form(code, verifier), "redirect_uri", "https://evil.example/"), client.origin), 400, "invalid_grant", 50011)
			wantOAuth(t, f.redeem(t, client.form(code, "wrong-verifier-wrong-verifier-wrong-verifier"), client.origin), 400, "invalid_grant", 501481)
			wantOAuth(t, f.redeem(t, with(client.form(code, ""), "code_verifier", "\x00"), client.origin), 400, "invalid_request", 900144)
			// None of those spent the code: the right redemption works, once.
			first := f.redeem(t, client.form(code, verifier), client.origin)
			if first.status != 200 {
				t.Fatalf("redeem: %d %s", first.status, first.raw)
			}
			wantOAuth(t, f.redeem(t, client.form(code, verifier), client.origin), 400, "invalid_grant", 54005)
			// The replay revoked what the code gave (RFC 6749 §4.1.2).
			rf := with(client.form("", ""), "grant_type", "refresh_token", "code", "\x00", "redirect_uri", "\x00", "refresh_token", first.body["refresh_token"].(string))
			wantOAuth(t, f.redeem(t, rf, client.origin), 400, "invalid_grant", 9002313)

			expired := f.signIn(t, client.params).Get("code")
			f.clk.Add(CodeLifetime)
			wantOAuth(t, f.redeem(t, client.form(expired, verifier), client.origin), 400, "invalid_grant", 70008)
			wantOAuth(t, f.redeem(t, client.form("bm90LWEtY29kZQ", verifier), client.origin), 400, "invalid_grant", 9002313)
		})
	}
	t.Run("a SPA's code redeemed without an Origin, a web app's with one", func(t *testing.T) {
		code := f.signIn(t, spaParams(challenge)).Get("code")
		wantOAuth(t, f.redeem(t, codeForm(directory.DemoClientID, code, spaRedirect, verifier), ""), 400, "invalid_request", 9002327)
		web := f.signIn(t, webParams(challenge)).Get("code")
		wantOAuth(t, f.redeem(t, with(codeForm(webAppID, web, webRedirect, verifier), "client_secret", webAppSecret), boardOrigin), 400, "invalid_request", 9002326)
	})
	t.Run("a code redeemed by another application", func(t *testing.T) {
		code := f.signIn(t, webParams(challenge)).Get("code")
		wantOAuth(t, f.redeem(t, codeForm(directory.DemoClientID, code, webRedirect, verifier), boardOrigin), 400, "invalid_grant", 70000)
	})
}

// TestSignInPageLockout: the sign-in page's password check is the
// password grant's, behind the same smart lockout.
func TestSignInPageLockout(t *testing.T) {
	f := newFlowFixture(t, nil)
	_, challenge := pkce("lock-")
	for n := range 10 {
		p := f.authorize(t, spaParams(challenge), url.Values{"login": {"adele@contoso.dev"}, "passwd": {"wrong-" + string(rune('a'+n))}})
		if p.status != 200 || p.location != nil || !strings.Contains(p.body, `role="alert"`) {
			t.Fatalf("wrong password %d: %d %s", n, p.status, p.body)
		}
	}
	p := f.authorize(t, spaParams(challenge), url.Values{"login": {"adele@contoso.dev"}, "passwd": {directory.DemoPassword}})
	if p.location != nil || !strings.Contains(p.body, "locked") {
		t.Fatalf("locked user signed in: %d %v %s", p.status, p.location, p.body)
	}
	// The password grant from the same address is locked too: one count.
	wantOAuth(t, f.post(t, directory.DemoTenantID, userForm("adele@contoso.dev", "Presence.Read"), nil), 400, "invalid_grant", 50053)
}

// TestSignInPageRateLimited: the sign-in page counts against the token
// rate limit of its address.
func TestSignInPageRateLimited(t *testing.T) {
	f := newFlowFixture(t, func(o *IssuerOptions) { o.TokenRate.PerSecond, o.TokenRate.Burst = 1, 2 })
	_, challenge := pkce("rate-")
	var last page
	for range 3 {
		last = f.authorize(t, spaParams(challenge), nil)
	}
	if last.status != 429 || last.header.Get("Retry-After") == "" || !strings.Contains(last.body, "AADSTS90055") {
		t.Fatalf("third request: %d %v %s", last.status, last.header, last.body)
	}
}

// TestCodeRedeemedOnceAcrossNodes: a code issued by one node is redeemed
// at another (both keep codes in the same engine bucket), and of two
// redemptions racing at two nodes exactly one wins.
func TestCodeRedeemedOnceAcrossNodes(t *testing.T) {
	f := newFlowFixture(t, nil)
	other := newHTTPFixtureWith(t, f.file, func(o *IssuerOptions) { o.Grants = f.kv; o.Clock = f.clk })
	other.iss.signer, other.iss.pub, other.iss.kid = f.iss.signer, f.iss.pub, f.iss.kid // one key, as a cluster shares
	verifier, challenge := pkce("two-nodes-")
	for range 5 {
		code := f.signIn(t, spaParams(challenge)).Get("code")
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for _, node := range []*httpFixture{f.httpFixture, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := tokenRequest(node.srv.URL, directory.DemoTenantID, codeForm(directory.DemoClientID, code, spaRedirect, verifier), func(r *http.Request) { r.Header.Set("Origin", boardOrigin) })
				resp, err := node.srv.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					won++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("%d redemptions of one code succeeded", won)
		}
	}
}

// TestSignOut: the end_session_endpoint revokes the sign-in named by the
// id token hint, and goes back only to a registered redirect URI.
func TestSignOut(t *testing.T) {
	f := newFlowFixture(t, nil)
	verifier, challenge := pkce("sign-out-")
	code := f.signIn(t, spaParams(challenge)).Get("code")
	r := f.redeem(t, codeForm(directory.DemoClientID, code, spaRedirect, verifier), boardOrigin)
	if r.status != 200 {
		t.Fatalf("redeem: %s", r.raw)
	}
	logout := func(q url.Values) page {
		req, _ := http.NewRequest("GET", f.srv.URL+"/"+directory.DemoTenantID+"/oauth2/v2.0/logout?"+q.Encode(), nil)
		return f.fetch(t, req)
	}
	if p := logout(url.Values{"post_logout_redirect_uri": {"https://evil.example/"}}); p.status != 200 || !strings.Contains(p.body, "You signed out") {
		t.Fatalf("unregistered post-logout URI: %d %s", p.status, p.body)
	}
	p := logout(url.Values{"post_logout_redirect_uri": {spaRedirect}, "id_token_hint": {r.body["id_token"].(string)}, "state": {"bye"}})
	if p.status != 302 || p.location.String() != spaRedirect+"?state=bye" {
		t.Fatalf("logout: %d %v", p.status, p.location)
	}
	rf := url.Values{"grant_type": {"refresh_token"}, "client_id": {directory.DemoClientID}, "refresh_token": {r.body["refresh_token"].(string)}}
	wantOAuth(t, f.redeem(t, rf, boardOrigin), 400, "invalid_grant", 9002313)
}

// TestGrantsSwept: codes and refresh tokens past their life leave the
// engine; those still alive stay.
func TestGrantsSwept(t *testing.T) {
	f := newFlowFixture(t, nil)
	verifier, challenge := pkce("sweep-")
	code := f.signIn(t, spaParams(challenge)).Get("code")
	r := f.redeem(t, codeForm(directory.DemoClientID, code, spaRedirect, verifier), boardOrigin)
	f.signIn(t, spaParams(challenge)) // a code never redeemed
	count := func() int {
		keys, err := f.kv.Keys(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}
	if n := count(); n != 3 {
		t.Fatalf("%d records, want 2 codes and a refresh token", n)
	}
	f.clk.Add(CodeLifetime + redeemedKept)
	if n, err := f.iss.grants.sweep(context.Background()); err != nil || n != 2 || count() != 1 {
		t.Fatalf("sweep removed %d (%v), %d left", n, err, count())
	}
	f.clk.Add(SPARefreshLifetime)
	if n, _ := f.iss.grants.sweep(context.Background()); n != 1 || count() != 0 {
		t.Fatalf("second sweep removed %d, %d left", n, count())
	}
	_ = r
}

func wantOAuth(t *testing.T, r reply, status int, errCode string, aadsts int) {
	t.Helper()
	codes, _ := r.body["error_codes"].([]any)
	if r.status != status || r.body["error"] != errCode || len(codes) != 1 || int(codes[0].(float64)) != aadsts {
		t.Errorf("got %d %s; want %d %s AADSTS%d", r.status, r.raw, status, errCode, aadsts)
	}
}

// FuzzParseSecret: the code and refresh token parser never panics, takes
// back what newSecret writes, and refuses anything of the wrong size.
func FuzzParseSecret(f *testing.F) {
	code, _, _ := newSecret(directory.DemoUserAdele, nil)
	rt, _, _ := newSecret(directory.DemoUserAdele, make([]byte, 16))
	for _, s := range []string{code, rt, "", "====", "bm90LWEtY29kZQ", code + "A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, n := range []int{0, 16} {
			user, family, hash, ok := parseSecret(s, n)
			if !ok {
				continue
			}
			if len(family) != 2*n || len(hash) != 64 || len(user) != 36 {
				t.Fatalf("parseSecret(%q, %d) = %q %q %q", s, n, user, family, hash)
			}
		}
	})
}

// TestCodeFlowScopeAnsweredAsAsked: the token response names each scope
// in the form it was asked for, as Entra does — MSAL.js keeps the token
// under the answer's scopes and looks it up with the scopes
// acquireTokenSilent asks for (found by TestBrowserMSAL: with bare names
// in the answer to a prefixed request, every silent call went to the
// token endpoint). MSAL sends the scope at redemption and at refresh.
func TestCodeFlowScopeAnsweredAsAsked(t *testing.T) {
	f := newFlowFixture(t, nil)
	verifier, challenge := pkce("msal-verifier-")
	const asked = "https://graph.microsoft.com/Presence.ReadWrite openid profile offline_access"
	params := with(spaParams(challenge), "scope", asked)
	got := f.signIn(t, params)
	r := f.redeem(t, with(codeForm(directory.DemoClientID, got.Get("code"), spaRedirect, verifier), "scope", asked), boardOrigin)
	if r.status != 200 || r.body["scope"] != "https://graph.microsoft.com/Presence.ReadWrite" {
		t.Fatalf("redeem: %d %s", r.status, r.raw)
	}
	if _, c := decode(t, r.body["access_token"].(string)); c["scp"] != "Presence.ReadWrite" {
		t.Fatalf("the token's scp is %v: claims stay bare, as Entra's", c["scp"])
	}
	refresh := func(scope string) reply {
		t.Helper()
		rf := url.Values{"grant_type": {"refresh_token"}, "client_id": {directory.DemoClientID}, "refresh_token": {r.body["refresh_token"].(string)}, "scope": {scope}}
		r = f.redeem(t, rf, boardOrigin)
		if r.status != 200 {
			t.Fatalf("refresh with %q: %d %s", scope, r.status, r.raw)
		}
		return r
	}
	for _, tc := range []struct{ scope, want string }{
		{"HTTPS://GRAPH.MICROSOFT.COM/presence.readwrite openid", "HTTPS://GRAPH.MICROSOFT.COM/Presence.ReadWrite"},
		{"Presence.ReadWrite offline_access", "Presence.ReadWrite"},
		{"00000003-0000-0000-c000-000000000000/Presence.ReadWrite", "00000003-0000-0000-c000-000000000000/Presence.ReadWrite"},
		{"", "Presence.ReadWrite"}, // nothing asked: what was granted, bare
	} {
		if got := refresh(tc.scope).body["scope"]; got != tc.want {
			t.Errorf("refresh asking %q answered scope %q, want %q", tc.scope, got, tc.want)
		}
	}
}

func TestScopeAnswer(t *testing.T) {
	for _, tc := range []struct {
		asked   string
		granted []string
		want    string
	}{
		{"", []string{"Presence.Read", "User.ReadBasic.All"}, "Presence.Read User.ReadBasic.All"},
		{"presence.read openid", []string{"Presence.Read"}, "Presence.Read"},
		{"https://graph.microsoft.com/Presence.Read User.ReadBasic.All", []string{"Presence.Read", "User.ReadBasic.All"}, "https://graph.microsoft.com/Presence.Read User.ReadBasic.All"},
		{"https://graph.microsoft.com/.default", []string{"Presence.Read", "Calendars.ReadWrite"}, "https://graph.microsoft.com/Presence.Read https://graph.microsoft.com/Calendars.ReadWrite https://graph.microsoft.com/.default"},
		{".default", []string{"Presence.Read"}, "Presence.Read"},
		{"api://other/x https://graph.microsoft.com/Presence.Read", []string{"Presence.Read"}, "https://graph.microsoft.com/Presence.Read"},
	} {
		if got := scopeAnswer(tc.asked, tc.granted); got != tc.want {
			t.Errorf("scopeAnswer(%q, %v) = %q, want %q", tc.asked, tc.granted, got, tc.want)
		}
	}
}
