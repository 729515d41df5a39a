package auth

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/dirstore"
)

type httpFixture struct {
	*fixture
	srv *httptest.Server
	ds  *dirstore.Store // the directory in the engine
}

// newHTTPFixture serves the issuer on a real listener; the issuer's base
// URL is the listener's, as in the server.
func newHTTPFixture(t *testing.T) *httpFixture {
	t.Helper()
	return newHTTPFixtureWith(t, nil, nil)
}

// newHTTPFixtureWith is newHTTPFixture with a directory of the test's own
// (nil: the demo) and options changed by edit (nil: none). The directory
// is imported into a real engine, whose store checks passwords.
func newHTTPFixtureWith(t *testing.T, d *directory.File, edit func(*IssuerOptions)) *httpFixture {
	t.Helper()
	f := newFixture(t)
	if d == nil {
		d = directory.DemoFile(0)
	}
	ds := liveDirectory(t, d)
	f.dir = ds.Directory()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	o := IssuerOptions{Directory: f.dir, Clock: f.clk, BaseURL: base, Key: f.key, Logger: slog.New(slog.DiscardHandler), Passwords: ds}
	if edit != nil {
		edit(&o)
	}
	iss, err := NewIssuer(o)
	if err != nil {
		t.Fatal(err)
	}
	f.iss = iss
	f.val = NewValidator(ValidatorOptions{Issuer: iss, Directory: f.dir, Clock: f.clk})
	srv.Config.Handler = iss.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return &httpFixture{fixture: f, srv: srv, ds: ds}
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (h *httpFixture) do(t *testing.T, req *http.Request) reply {
	t.Helper()
	return h.doWith(t, h.srv.Client(), req)
}

// doWith is do through client c.
func (h *httpFixture) doWith(t *testing.T, c *http.Client, req *http.Request) reply {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("%s %s: body is not JSON: %q", req.Method, req.URL.Path, raw)
	}
	return r
}

func (h *httpFixture) post(t *testing.T, tenant string, form url.Values, edit func(*http.Request)) reply {
	t.Helper()
	return h.doWith(t, h.srv.Client(), tokenRequest(h.srv.URL, tenant, form, edit))
}

func tokenRequest(base, tenant string, form url.Values, edit func(*http.Request)) *http.Request {
	req, _ := http.NewRequest("POST", base+"/"+tenant+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if edit != nil {
		edit(req)
	}
	return req
}

func appForm() url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {directory.DemoDaemonClientID},
		"client_secret": {directory.DemoDaemonSecret}, "scope": {"https://graph.microsoft.com/.default"}}
}

func userForm(user, scope string) url.Values {
	return url.Values{"grant_type": {"password"}, "client_id": {directory.DemoClientID},
		"username": {user}, "password": {directory.DemoPassword}, "scope": {scope}}
}

func with(v url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = vs
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "\x00" {
			delete(out, kv[i])
		} else {
			out.Set(kv[i], kv[i+1])
		}
	}
	return out
}

func basic(id, secret string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) }
}

func TestTokenEndpointIssues(t *testing.T) {
	h := newHTTPFixture(t)
	tests := []struct {
		name      string
		tenant    string
		form      url.Values
		edit      func(*http.Request)
		user      string // "" = app token
		scp       string
		respScope string
	}{
		{"client credentials", directory.DemoTenantID, appForm(), nil, "", "", ""},
		{"client credentials by domain", "Contoso.dev", appForm(), nil, "", "", ""},
		{"client credentials resource id scope", directory.DemoTenantID, with(appForm(), "scope", "00000003-0000-0000-c000-000000000000/.default"), nil, "", "", ""},
		{"client credentials basic auth", directory.DemoTenantID, with(appForm(), "client_id", "\x00", "client_secret", "\x00"), basic(directory.DemoDaemonClientID, directory.DemoDaemonSecret), "", "", ""},
		{"client credentials basic auth and client_id", directory.DemoTenantID, with(appForm(), "client_secret", "\x00"), basic(directory.DemoDaemonClientID, directory.DemoDaemonSecret), "", "", ""},
		// What MSAL, and so azidentity (Microsoft's documented way to get
		// the Graph SDK a token), sends: the OpenID scopes beside .default,
		// which Entra ignores for client credentials.
		{"client credentials as MSAL asks", directory.DemoTenantID, with(appForm(), "scope", "https://graph.microsoft.com/.default openid offline_access profile"), nil, "", "", ""},
		{"client credentials uppercase client id", directory.DemoTenantID, with(appForm(), "client_id", strings.ToUpper(directory.DemoDaemonClientID)), nil, "", "", ""},
		{"password default", directory.DemoTenantID, userForm("adele@contoso.dev", "https://graph.microsoft.com/.default"), nil, directory.DemoUserAdele,
			"Presence.Read Presence.Read.All Presence.ReadWrite Calendars.ReadWrite MailboxSettings.ReadWrite User.ReadBasic.All",
			"https://graph.microsoft.com/Presence.Read https://graph.microsoft.com/Presence.Read.All https://graph.microsoft.com/Presence.ReadWrite https://graph.microsoft.com/Calendars.ReadWrite https://graph.microsoft.com/MailboxSettings.ReadWrite https://graph.microsoft.com/User.ReadBasic.All https://graph.microsoft.com/.default"},
		{"password named scopes", "contoso.dev", userForm("ALEX@contoso.dev", "openid profile offline_access Presence.Read https://graph.microsoft.com/presence.readwrite Presence.Read"), nil, directory.DemoUserAlex,
			"Presence.Read Presence.ReadWrite", "Presence.Read https://graph.microsoft.com/Presence.ReadWrite"}, // each as asked
		{"password resource id scope", directory.DemoTenantID, userForm("megan@contoso.dev", "00000003-0000-0000-c000-000000000000/Presence.Read.All"), nil, directory.DemoUserMegan,
			"Presence.Read.All", "00000003-0000-0000-c000-000000000000/Presence.Read.All"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.post(t, tt.tenant, tt.form, tt.edit)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			if r.body["token_type"] != "Bearer" || r.body["expires_in"] != 3600.0 || r.body["ext_expires_in"] != 3600.0 {
				t.Errorf("body %s", r.raw)
			}
			if got, _ := r.body["scope"].(string); got != tt.respScope {
				t.Errorf("response scope %q, want %q", got, tt.respScope)
			}
			if r.header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Errorf("headers %v", r.header)
			}
			tok, _ := r.body["access_token"].(string)
			p, err := h.val.Validate(tok)
			if err != nil {
				t.Fatal(err)
			}
			if p.UserID != tt.user || p.Delegated != (tt.user != "") || strings.Join(p.Scopes, " ") != tt.scp || p.TenantID != directory.DemoTenantID {
				t.Errorf("principal %+v", p)
			}
			_, c := decode(t, tok)
			if c["iss"] != h.srv.URL+"/"+directory.DemoTenantID+"/v2.0" {
				t.Errorf("iss %v", c["iss"])
			}
		})
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	h := newHTTPFixture(t)
	ct := func(v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set("Content-Type", v) } }
	// enc sends the body compressed with gzip under Content-Encoding v.
	enc := func(v string) func(*http.Request) {
		return func(r *http.Request) {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			io.Copy(zw, r.Body)
			zw.Close()
			r.Body, r.ContentLength = io.NopCloser(&b), int64(b.Len())
			r.Header.Set("Content-Encoding", v)
		}
	}
	identity := func(r *http.Request) { r.Header.Set("Content-Encoding", "identity") }
	fab := directory.DemoFabrikamTenantID
	_, _, apps := directory.DemoData()
	tests := []struct {
		name   string
		tenant string
		form   url.Values
		edit   func(*http.Request)
		status int
		err    string
		code   float64
		desc   string
	}{
		{"unknown tenant", "northwind.example", appForm(), nil, 400, "invalid_request", 90002, "Tenant 'northwind.example' not found"},
		{"unknown tenant guid", "11111111-1111-4111-8111-111111111111", appForm(), nil, 400, "invalid_request", 90002, "not found"},
		{"common tenant", "common", appForm(), nil, 400, "invalid_request", 90002, "no multi-tenant endpoints"},
		{"wrong secret", directory.DemoTenantID, with(appForm(), "client_secret", "nope"), nil, 401, "invalid_client", 7000215, "Invalid client secret provided|for a secret added to app '" + directory.DemoDaemonClientID + "'"},
		{"wrong secret basic", directory.DemoTenantID, with(appForm(), "client_id", "\x00", "client_secret", "\x00"), basic(strings.ToUpper(directory.DemoDaemonClientID), "nope"), 401, "invalid_client", 7000215, "Invalid client secret|app '" + strings.ToUpper(directory.DemoDaemonClientID) + "'"},
		{"missing secret", directory.DemoTenantID, with(appForm(), "client_secret", "\x00"), nil, 401, "invalid_client", 7000218, "'client_assertion' or 'client_secret'|confidential client|Application '" + directory.DemoDaemonClientID + "'"},
		{"public client credentials", directory.DemoTenantID, with(appForm(), "client_id", directory.DemoClientID, "client_secret", "\x00"), nil, 401, "invalid_client", 7000218, "public client has none"},
		{"public client with secret", directory.DemoTenantID, with(userForm("adele@contoso.dev", "Presence.Read"), "client_secret", "x"), nil, 401, "invalid_client", 700025, "Client is public|Application '" + directory.DemoClientID + "'"},
		{"confidential password without secret", directory.DemoTenantID, with(userForm("adele@contoso.dev", "Presence.Read"), "client_id", directory.DemoDaemonClientID), nil, 401, "invalid_client", 7000218, "confidential client"},
		{"basic and form secret", directory.DemoTenantID, appForm(), basic(directory.DemoDaemonClientID, directory.DemoDaemonSecret), 400, "invalid_request", 90014, "authenticates the client twice"},
		{"basic and other client_id", directory.DemoTenantID, with(appForm(), "client_id", directory.DemoClientID, "client_secret", "\x00"), basic(directory.DemoDaemonClientID, directory.DemoDaemonSecret), 400, "invalid_request", 90014, "differs from the client id"},
		{"bearer authorization", directory.DemoTenantID, appForm(), func(r *http.Request) { r.Header.Set("Authorization", "Bearer x") }, 401, "invalid_client", 7000218, "must be HTTP Basic"},
		{"unknown client", directory.DemoTenantID, with(appForm(), "client_id", "22222222-2222-4222-8222-222222222222"), nil, 400, "unauthorized_client", 700016, "Application with identifier '22222222-2222-4222-8222-222222222222' was not found in the directory '" + directory.DemoTenantID + "'"},
		{"client of other tenant", fab, appForm(), nil, 400, "unauthorized_client", 700016, "not found in the directory '" + fab + "'. This can happen if the application is not registered in this tenant on this server (presenced admin app list --tenant TENANT lists the ones that are)"},
		{"client id not guid", directory.DemoTenantID, with(appForm(), "client_id", "daemon"), nil, 400, "unauthorized_client", 700038, "'daemon' is not a valid application identifier"},
		{"missing client id", directory.DemoTenantID, with(appForm(), "client_id", "\x00"), nil, 400, "invalid_request", 900144, "following parameter: 'client_id'"},
		{"missing grant", directory.DemoTenantID, with(appForm(), "grant_type", "\x00"), nil, 400, "invalid_request", 900144, "'grant_type'"},
		{"unsupported grant", directory.DemoTenantID, with(appForm(), "grant_type", "device_code"), nil, 400, "unsupported_grant_type", 70003, "unsupported grant type 'device_code'|client_credentials|password|authorization_code|refresh_token"},
		{"client assertion", directory.DemoTenantID, with(appForm(), "client_assertion", "x.y.z"), nil, 400, "invalid_request", 90014, "client_assertion (certificate credentials) is not supported"},
		{"missing scope", directory.DemoTenantID, with(appForm(), "scope", "\x00"), nil, 400, "invalid_request", 900144, "'scope'"},
		{"app scope not default", directory.DemoTenantID, with(appForm(), "scope", "Presence.Read.All"), nil, 400, "invalid_scope", 1002012, "scope Presence.Read.All is not valid|/.default suffixed"},
		{"app scope two", directory.DemoTenantID, with(appForm(), "scope", "https://graph.microsoft.com/.default https://graph.microsoft.com/Presence.Read.All"), nil, 400, "invalid_scope", 1002012, "not valid"},
		{"app scope OpenID alone", directory.DemoTenantID, with(appForm(), "scope", "openid offline_access profile"), nil, 400, "invalid_scope", 1002012, "scope openid offline_access profile is not valid|/.default suffixed"},
		{"app scope other resource", directory.DemoTenantID, with(appForm(), "scope", "https://management.azure.com/.default"), nil, 400, "invalid_resource", 500011, "resource principal named https://management.azure.com was not found|Microsoft Graph only"},
		{"unknown user", directory.DemoTenantID, userForm("nobody@contoso.dev", "Presence.Read"), nil, 400, "invalid_grant", 50034, "The user account nobody@contoso.dev does not exist in the " + directory.DemoTenantID + " directory"},
		{"user of other tenant", directory.DemoTenantID, userForm("nestor@fabrikam.dev", "Presence.Read"), nil, 400, "invalid_grant", 50034, "does not exist in the " + directory.DemoTenantID + " directory"},
		{"wrong password", directory.DemoTenantID, with(userForm("adele@contoso.dev", "Presence.Read"), "password", "guess"), nil, 400, "invalid_grant", 50126, "invalid username or password"},
		{"empty password", directory.DemoTenantID, with(userForm("adele@contoso.dev", "Presence.Read"), "password", ""), nil, 400, "invalid_grant", 50126, "invalid username or password"},
		{"missing password", directory.DemoTenantID, with(userForm("adele@contoso.dev", "Presence.Read"), "password", "\x00"), nil, 400, "invalid_request", 900144, "'password'"},
		{"missing username", directory.DemoTenantID, with(userForm("adele@contoso.dev", "Presence.Read"), "username", "\x00"), nil, 400, "invalid_request", 900144, "'username'"},
		{"unconsented scope", directory.DemoTenantID, userForm("adele@contoso.dev", "Presence.Read User.Read"), nil, 400, "invalid_scope", 65001,
			"has not consented to use the application with ID '" + directory.DemoClientID + "' named 'presenced demo client' for the scope User.Read|consented scopes are: Presence.Read, Presence.Read.All, Presence.ReadWrite"},
		{"unknown scope", directory.DemoTenantID, userForm("adele@contoso.dev", "Mail.Read"), nil, 400, "invalid_scope", 70011, "The scope 'Mail.Read' does not exist"},
		{"role as scope", directory.DemoTenantID, userForm("adele@contoso.dev", "Presence.ReadWrite.All"), nil, 400, "invalid_scope", 70011, "'Presence.ReadWrite.All' does not exist"},
		{"default mixed", directory.DemoTenantID, userForm("adele@contoso.dev", "https://graph.microsoft.com/.default Presence.Read"), nil, 400, "invalid_scope", 70011, "cannot be combined"},
		{"only oidc scopes", directory.DemoTenantID, userForm("adele@contoso.dev", "openid profile"), nil, 400, "invalid_scope", 70011, "at least one Microsoft Graph scope"},
		{"other resource scope", directory.DemoTenantID, userForm("adele@contoso.dev", "api://other/Read"), nil, 400, "invalid_resource", 500011, "api://other"},
		{"json body", directory.DemoTenantID, appForm(), ct("application/json"), 400, "invalid_request", 900144, "must be application/x-www-form-urlencoded|Content-Type 'application/json'"},
		{"no content type", directory.DemoTenantID, appForm(), func(r *http.Request) { r.Header.Del("Content-Type") }, 400, "invalid_request", 900144, "has no Content-Type"},
		{"gzip body", directory.DemoTenantID, appForm(), enc("gzip"), 415, "invalid_request", 90020, "Content-Encoding 'gzip'|send it without Content-Encoding"},
		{"other encoding", directory.DemoTenantID, appForm(), enc(" BR "), 415, "invalid_request", 90020, "Content-Encoding 'br'"},
		{"identity encoding is read", directory.DemoTenantID, with(appForm(), "client_secret", "nope"), identity, 401, "invalid_client", 7000215, "Invalid client secret"},
		{"duplicate parameter", directory.DemoTenantID, url.Values{"grant_type": {"client_credentials", "password"}}, nil, 400, "invalid_request", 90015, "Parameter 'grant_type' appears 2 times"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.post(t, tt.tenant, tt.form, tt.edit)
			checkOAuthError(t, r, tt.status, tt.err, tt.code, tt.desc)
			if tt.err == "invalid_client" {
				noAppName(t, r, apps)
			}
		})
	}
}

// noAppName fails if an error before the client authenticated names an
// application's display name: the caller sent only its client id, and an
// attacker guessing client ids would learn what the applications are called.
func noAppName(t *testing.T, r reply, apps []directory.App) {
	t.Helper()
	d, _ := r.body["error_description"].(string)
	for _, a := range apps {
		if a.Name != "" && strings.Contains(d, a.Name) {
			t.Errorf("description %q names application %q, which the caller did not name", d, a.Name)
		}
	}
}

func checkOAuthError(t *testing.T, r reply, status int, e string, code float64, desc string) {
	t.Helper()
	checkOAuthErrorAt(t, r, t0, status, e, code, desc)
}

// checkOAuthErrorAt is checkOAuthError of an answer given at instant at of
// the injected clock.
func checkOAuthErrorAt(t *testing.T, r reply, at time.Time, status int, e string, code float64, desc string) {
	t.Helper()
	if r.status != status || r.body["error"] != e {
		t.Fatalf("got %d %s, want %d %s", r.status, r.raw, status, e)
	}
	codes, _ := r.body["error_codes"].([]any)
	if len(codes) != 1 || codes[0] != code {
		t.Errorf("error_codes %v, want [%v]", r.body["error_codes"], code)
	}
	d, _ := r.body["error_description"].(string)
	if !strings.HasPrefix(d, "AADSTS") {
		t.Errorf("description %q does not start with AADSTS", d)
	}
	for _, w := range strings.Split(desc, "|") {
		if !strings.Contains(d, w) {
			t.Errorf("description %q lacks %q", d, w)
		}
	}
	if r.body["timestamp"] != at.UTC().Format("2006-01-02 15:04:05Z") {
		t.Errorf("timestamp %v (the injected clock's)", r.body["timestamp"])
	}
	for _, k := range []string{"trace_id", "correlation_id"} {
		if s, _ := r.body[k].(string); !directory.IsGUID(s) {
			t.Errorf("%s %v", k, r.body[k])
		}
	}
}

func TestTokenEndpointHTTP(t *testing.T) {
	h := newHTTPFixture(t)
	tokenURL := h.srv.URL + "/" + directory.DemoTenantID + "/oauth2/v2.0/token"

	// GET instead of POST.
	req, _ := http.NewRequest("GET", tokenURL+"?"+appForm().Encode(), nil)
	r := h.do(t, req)
	checkOAuthError(t, r, 405, "invalid_request", 900561, "only accepts POST requests. Received a GET request.")
	if r.header.Get("Allow") != "POST" {
		t.Errorf("Allow %q", r.header.Get("Allow"))
	}

	// Oversized body.
	big := with(appForm(), "padding", strings.Repeat("x", MaxTokenRequest))
	r = h.post(t, directory.DemoTenantID, big, nil)
	checkOAuthError(t, r, 413, "invalid_request", 90020, "larger than 65536 bytes")

	// A basic-auth failure carries WWW-Authenticate.
	r = h.post(t, directory.DemoTenantID, with(appForm(), "client_secret", "\x00"), basic(directory.DemoDaemonClientID, "bad"))
	if r.status != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("%d %v", r.status, r.header)
	}

	// A client-request-id GUID becomes the correlation id.
	corr := "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	r = h.post(t, "nowhere.example", appForm(), func(r *http.Request) { r.Header.Set("client-request-id", strings.ToUpper(corr)) })
	if r.body["correlation_id"] != corr || !strings.Contains(r.body["error_description"].(string), "Correlation ID: "+corr) {
		t.Errorf("correlation: %s", r.raw)
	}

	// Secrets with reserved characters survive Basic's form-encoding.
	tenants, users, apps := directory.DemoData()
	apps = append(apps, directory.App{ClientID: "44444444-4444-4444-8444-444444444444", TenantID: directory.DemoTenantID, Name: "odd", Secret: "a:b+c%d é", Roles: []string{"Presence.Read.All"}})
	d := liveDirectory(t, &directory.File{Tenants: tenants, Users: users, Applications: apps}).Directory()
	iss, _ := NewIssuer(IssuerOptions{Directory: d, Clock: h.clk, BaseURL: testBase, Key: h.key})
	srv := httptest.NewServer(iss.Handler())
	defer srv.Close()
	req, _ = http.NewRequest("POST", srv.URL+"/contoso.dev/oauth2/v2.0/token", strings.NewReader("grant_type=client_credentials&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	basic("44444444-4444-4444-8444-444444444444", "a:b+c%d é")(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("odd secret: %d %s", resp.StatusCode, body)
	}

	// Unknown paths and the authorize endpoint answer with OAuth errors.
	req, _ = http.NewRequest("GET", h.srv.URL+"/favicon.ico", nil)
	checkOAuthError(t, h.do(t, req), 404, "invalid_request", 900561, "No endpoint at /favicon.ico")
	req, _ = http.NewRequest("GET", h.srv.URL+"/contoso.dev/oauth2/v2.0/authorize?client_id=x", nil)
	checkOAuthError(t, h.do(t, req), 400, "unsupported_response_type", 70000, "does not serve interactive sign-in")
}

func TestDiscoveryAndJWKS(t *testing.T) {
	h := newHTTPFixture(t)
	get := func(path string) reply {
		req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
		return h.do(t, req)
	}
	for _, tenant := range []string{directory.DemoTenantID, "CONTOSO.dev"} {
		r := get("/" + tenant + "/v2.0/.well-known/openid-configuration")
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		tb := h.srv.URL + "/" + directory.DemoTenantID
		want := map[string]string{
			"issuer": tb + "/v2.0", "token_endpoint": tb + "/oauth2/v2.0/token", "jwks_uri": tb + "/discovery/v2.0/keys",
			"authorization_endpoint": tb + "/oauth2/v2.0/authorize",
		}
		for k, v := range want {
			if r.body[k] != v {
				t.Errorf("%s = %v, want %s", k, r.body[k], v)
			}
		}
		for k, v := range map[string]string{
			"id_token_signing_alg_values_supported": "RS256",
			"token_endpoint_auth_methods_supported": "client_secret_post client_secret_basic",
			"grant_types_supported":                 "client_credentials password authorization_code refresh_token",
			"code_challenge_methods_supported":      "S256",
			"response_types_supported":              "code",
			"subject_types_supported":               "pairwise",
		} {
			var got []string
			for _, x := range r.body[k].([]any) {
				got = append(got, x.(string))
			}
			if strings.Join(got, " ") != v {
				t.Errorf("%s = %v, want %s", k, got, v)
			}
		}
		if _, ok := r.body["tenant_region_scope"]; !ok {
			t.Error("no tenant_region_scope")
		}
		if _, ok := r.body["response_types_supported"]; !ok {
			t.Error("no response_types_supported")
		}
	}
	r := get("/nowhere.example/v2.0/.well-known/openid-configuration")
	checkOAuthError(t, r, 400, "invalid_tenant", 90002, "Tenant 'nowhere.example' not found")
	r = get("/nowhere.example/discovery/v2.0/keys")
	checkOAuthError(t, r, 400, "invalid_tenant", 90002, "not found")
	req, _ := http.NewRequest("POST", h.srv.URL+"/contoso.dev/discovery/v2.0/keys", nil)
	checkOAuthError(t, h.do(t, req), 405, "invalid_request", 900561, "only accepts GET")

	// The JWKS alone verifies a token from the token endpoint, with jwx.
	tokResp := h.post(t, directory.DemoTenantID, appForm(), nil)
	tok := tokResp.body["access_token"].(string)
	for _, path := range []string{"/" + directory.DemoTenantID + "/discovery/v2.0/keys", "/common/discovery/v2.0/keys", "/fabrikam.dev/discovery/v2.0/keys"} {
		r := get(path)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.raw)
		}
		ks := r.body["keys"].([]any)
		k := ks[0].(map[string]any)
		if len(ks) != 1 || k["kty"] != "RSA" || k["use"] != "sig" || k["alg"] != "RS256" || k["kid"] != h.iss.KeyID() || k["e"] != "AQAB" || k["n"] == nil {
			t.Errorf("%s: %s", path, r.raw)
		}
		if _, private := k["d"]; private {
			t.Fatalf("%s publishes the private key", path)
		}
		set, err := jwk.Parse([]byte(r.raw))
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := jwt.Parse([]byte(tok), jwt.WithKeySet(set), jwt.WithClock(h.clk),
			jwt.WithIssuer(h.srv.URL+"/"+directory.DemoTenantID+"/v2.0"), jwt.WithAudience(GraphAudience))
		if err != nil {
			t.Fatalf("%s: jwx cannot verify the token with the published keys: %v", path, err)
		}
		if sub, _ := parsed.Subject(); sub == "" {
			t.Error("no sub")
		}
		// And it rejects a token signed by another key, and one with alg none.
		_, other := keys(t)
		forged := resign(t, tok, other, h.iss.KeyID(), nil)
		if _, err := jwt.Parse([]byte(forged), jwt.WithKeySet(set), jwt.WithClock(h.clk)); err == nil {
			t.Error("jwx verified a forged token with the published keys")
		}
		parts := strings.Split(tok, ".")
		none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."
		if _, err := jwt.Parse([]byte(none), jwt.WithKeySet(set), jwt.WithClock(h.clk)); err == nil {
			t.Error("jwx verified alg none")
		}
	}
}
