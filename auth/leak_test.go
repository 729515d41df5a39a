package auth

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/presenced/presenced/directory"
)

// leakDirectory has three tenants whose ids, names and domains share no
// words, so that a tenant named in an answer can be told apart from one
// the request named.
func leakDirectory(t *testing.T) *directory.File {
	t.Helper()
	tenants := []directory.Tenant{
		{ID: "11111111-aaaa-4aaa-8aaa-111111111111", Name: "Northwind Traders", Domains: []string{"nwt.example", "northwind-mail.example"}},
		{ID: "22222222-bbbb-4bbb-8bbb-222222222222", Name: "Tailspin Toys", Domains: []string{"tailspin.example"}},
		{ID: "33333333-cccc-4ccc-8ccc-333333333333", Name: "Woodgrove Bank", Domains: []string{"woodgrove.example"}},
	}
	users := []directory.UserEntry{
		{ID: "11111111-0000-4000-8000-000000000001", TenantID: tenants[0].ID, UserPrincipalName: "ann@nwt.example", Password: "ann-pw"},
		{ID: "22222222-0000-4000-8000-000000000002", TenantID: tenants[1].ID, UserPrincipalName: "ben@tailspin.example", Password: "ben-pw"},
		{ID: "33333333-0000-4000-8000-000000000003", TenantID: tenants[2].ID, UserPrincipalName: "cid@woodgrove.example", Password: "cid-pw"},
	}
	apps := []directory.App{
		{ClientID: "aaaaaaaa-0000-4000-8000-00000000000a", TenantID: tenants[0].ID, Name: "nw daemon", Secret: "nw-secret", Roles: []string{"Presence.Read.All"}},
		{ClientID: "bbbbbbbb-0000-4000-8000-00000000000b", TenantID: tenants[1].ID, Name: "ts client", Public: true, Scopes: []string{"Presence.Read"}},
		{ClientID: "cccccccc-0000-4000-8000-00000000000c", TenantID: tenants[2].ID, Name: "wg daemon", Secret: "wg-secret", Roles: []string{"Presence.Read.All"}},
	}
	return &directory.File{Tenants: tenants, Users: users, Applications: apps}
}

// Errors name nothing the caller did not name: an answer of the token,
// discovery, keys or authorize endpoint may name a tenant (its id, name or
// any domain) only if the request named that very string. The requests
// are those a stranger probing the server would send: unknown tenants, the
// multi-tenant names, another tenant's client id, users and secrets.
func TestErrorsNameNoTenantTheCallerDidNotName(t *testing.T) {
	d := leakDirectory(t)
	h := newHTTPFixtureWith(t, d, func(o *IssuerOptions) { o.TokenRate.PerSecond = -1 })
	tenantNames := []string{"nowhere.example", "99999999-9999-4999-8999-999999999999", "common", "organizations", "consumers",
		"nwt.example", "NWT.EXAMPLE", "22222222-bbbb-4bbb-8bbb-222222222222", "northwind traders", "", "%20", "a/b"}
	clients := []url.Values{
		{"grant_type": {"client_credentials"}, "client_id": {"aaaaaaaa-0000-4000-8000-00000000000a"}, "client_secret": {"nw-secret"}, "scope": {GraphAudience + "/.default"}},
		{"grant_type": {"client_credentials"}, "client_id": {"cccccccc-0000-4000-8000-00000000000c"}, "client_secret": {"bad"}, "scope": {GraphAudience + "/.default"}},
		{"grant_type": {"password"}, "client_id": {"bbbbbbbb-0000-4000-8000-00000000000b"}, "username": {"ben@tailspin.example"}, "password": {"ben-pw"}, "scope": {"Presence.Read"}},
		{"grant_type": {"password"}, "client_id": {"bbbbbbbb-0000-4000-8000-00000000000b"}, "username": {"cid@woodgrove.example"}, "password": {"x"}, "scope": {"Presence.Read"}},
		{"grant_type": {"password"}, "client_id": {"bbbbbbbb-0000-4000-8000-00000000000b"}, "username": {"33333333-0000-4000-8000-000000000003"}, "password": {"cid-pw"}, "scope": {"Presence.Read"}},
		{"grant_type": {"password"}, "client_id": {"bbbbbbbb-0000-4000-8000-00000000000b"}, "username": {"nobody"}, "password": {"x"}, "scope": {"User.Read"}},
		{"grant_type": {"authorization_code"}, "client_id": {"aaaaaaaa-0000-4000-8000-00000000000a"}},
		{"grant_type": {"client_credentials"}, "client_id": {"not-a-guid"}},
		{"grant_type": {"client_credentials"}, "client_id": {"dddddddd-0000-4000-8000-00000000000d"}, "client_secret": {"x"}, "scope": {GraphAudience + "/.default"}},
		{"client_id": {"cccccccc-0000-4000-8000-00000000000c"}},
	}
	var reqs []*http.Request
	for _, tn := range tenantNames {
		p := "/" + url.PathEscape(tn)
		for _, f := range clients {
			reqs = append(reqs, tokenRequest(h.srv.URL, url.PathEscape(tn), f, nil))
		}
		for _, m := range []string{"GET", "POST", "DELETE"} {
			for _, path := range []string{"/v2.0/.well-known/openid-configuration", "/discovery/v2.0/keys", "/oauth2/v2.0/authorize?client_id=cccccccc-0000-4000-8000-00000000000c", "/oauth2/v2.0/token", "/oauth2/v2.0/logout", "/discovery/keys"} {
				r, _ := http.NewRequest(m, h.srv.URL+p+path, nil)
				reqs = append(reqs, r)
			}
		}
		r := tokenRequest(h.srv.URL, url.PathEscape(tn), clients[0], func(r *http.Request) { r.Header.Set("Content-Type", "application/json") })
		reqs = append(reqs, r)
	}
	var secrets []string
	for _, tn := range d.Tenants {
		secrets = append(secrets, tn.ID, tn.Name)
		secrets = append(secrets, tn.Domains...)
	}
	errorsSeen := 0
	for _, req := range reqs {
		dump, err := httputil.DumpRequestOut(req, true)
		if err != nil {
			t.Fatal(err)
		}
		if req.GetBody != nil {
			req.Body, _ = req.GetBody()
		}
		asked := strings.ToLower(string(dump))
		if u, err := url.PathUnescape(asked); err == nil {
			asked += u
		}
		resp, err := h.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 {
			continue
		}
		errorsSeen++
		answer := strings.ToLower(fmt.Sprint(resp.Header) + string(body))
		for _, s := range secrets {
			if strings.Contains(answer, strings.ToLower(s)) && !strings.Contains(asked, strings.ToLower(s)) {
				t.Errorf("%s %s: the answer names %q, which the request did not:\n%s", req.Method, req.URL, s, body)
			}
		}
	}
	if errorsSeen < 100 {
		t.Fatalf("only %d error answers checked", errorsSeen)
	}
}
