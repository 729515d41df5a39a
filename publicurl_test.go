package presenced_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/directory"
)

// TestURLsComeFromThePublicURL: behind a proxy or a TLS terminator the
// server is reached at an address of its own while clients know it by its
// public URL. Every URL the API writes (@odata.context, Location, the
// authorization_uri of a 401) is built from the configured public URL,
// never from the request's Host header.
func TestURLsComeFromThePublicURL(t *testing.T) {
	const public = "https://presence.example.com"
	srv := startWithConfig(t, func(c *presenced.Config) { c.PublicURL = public + "/" }).srv
	direct := "http://" + srv.Addr().String() // how the proxy reaches it
	send := func(method, path, token, body string) (*http.Response, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, direct+path, strings.NewReader(body))
		req.Host = "attacker.example:8443" // what a client (or a proxy) put in Host
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if strings.Contains(path, "/oauth2/") {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return res, out
	}
	tokenFor := func(form url.Values) string {
		_, out := send("POST", "/"+directory.DemoTenantID+"/oauth2/v2.0/token", "", form.Encode())
		tok, _ := out["access_token"].(string)
		if tok == "" {
			t.Fatalf("token: %v", out)
		}
		return tok
	}
	app := tokenFor(url.Values{"grant_type": {"client_credentials"}, "client_id": {directory.DemoDaemonClientID},
		"client_secret": {directory.DemoDaemonSecret}, "scope": {"https://graph.microsoft.com/.default"}})
	me := tokenFor(url.Values{"grant_type": {"password"}, "client_id": {directory.DemoClientID},
		"username": {"adele@contoso.dev"}, "password": {directory.DemoPassword}, "scope": {"https://graph.microsoft.com/.default"}})
	alex, _ := srv.Directory().User("alex@contoso.dev")

	contexts := []struct{ name, method, path, token, body, want string }{
		{"presence", "GET", "/v1.0/users/" + alex.ID + "/presence", app, "", public + "/v1.0/$metadata#users('" + alex.ID + "')/presence/$entity"},
		{"communications", "GET", "/beta/communications/presences/" + alex.ID, app, "", public + "/beta/$metadata#communications/presences/$entity"},
		{"getPresencesByUserId", "POST", "/v1.0/communications/getPresencesByUserId", app, `{"ids":["` + alex.ID + `"]}`, public + "/v1.0/$metadata#Collection(microsoft.graph.presence)"},
		{"subscriptions", "GET", "/v1.0/subscriptions", me, "", public + "/v1.0/$metadata#subscriptions"},
	}
	for _, c := range contexts {
		res, out := send(c.method, c.path, c.token, c.body)
		if res.StatusCode != 200 || out["@odata.context"] != c.want {
			t.Errorf("%s: %d, @odata.context %v; want %s", c.name, res.StatusCode, out["@odata.context"], c.want)
		}
	}

	rc := newReceiver(t)
	body, _ := json.Marshal(subBody(rc.srv.URL, []string{alex.ID}, t0.Add(30*time.Minute)))
	res, out := send("POST", "/v1.0/subscriptions", me, string(body))
	if res.StatusCode != 201 {
		t.Fatalf("subscribe: %d %v", res.StatusCode, out)
	}
	if loc, want := res.Header.Get("Location"), public+"/v1.0/subscriptions/"+out["id"].(string); loc != want {
		t.Errorf("Location %q, want %q", loc, want)
	}
	if out["@odata.context"] != public+"/v1.0/$metadata#subscriptions/$entity" {
		t.Errorf("subscription @odata.context %v", out["@odata.context"])
	}

	res, _ = send("GET", "/v1.0/users/"+alex.ID+"/presence", "", "")
	if got, want := res.Header.Get("WWW-Authenticate"), `Bearer realm="", authorization_uri="`+public+`/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`; res.StatusCode != 401 || got != want {
		t.Errorf("401 without a token: %d WWW-Authenticate %q, want %q", res.StatusCode, got, want)
	}
}

// TestUnauthorizedSaysWhereToSignIn: a 401's WWW-Authenticate is shaped as
// Graph's (realm, authorization_uri, client_id of Microsoft Graph); when a
// token was presented it also says, as RFC 6750 §3.1 asks, that the token
// was refused and why. A request without a token gets no error attribute.
func TestUnauthorizedSaysWhereToSignIn(t *testing.T) {
	e := start(t)
	path := "/v1.0/users/" + e.user("adele") + "/presence"
	base := `Bearer realm="", authorization_uri="` + e.srv.URL() + `/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`
	for _, c := range []struct {
		name    string
		headers []string
		want    string
	}{
		{"no token", nil, base},
		{"another scheme", []string{"Authorization", "Basic Zm9vOmJhcg=="}, base},
		{"a refused token", []string{"Authorization", "Bearer not-a-jwt"}, base + `, error="invalid_token", error_description="`},
	} {
		r := e.call("GET", path, "", nil, c.headers...)
		got := r.header.Get("WWW-Authenticate")
		if r.status != 401 || (got != c.want && !(strings.HasSuffix(c.want, `"`) && strings.HasPrefix(got, c.want) && strings.HasSuffix(got, `"`) && len(got) > len(c.want)+1)) {
			t.Errorf("%s: %d WWW-Authenticate %q, want %q", c.name, r.status, got, c.want)
		}
	}
}

// TestMethodNotAllowedIsGraphShaped: every 405 the API answers has Graph's
// code notSupported and an Allow header naming the methods that work.
func TestMethodNotAllowedIsGraphShaped(t *testing.T) {
	e := start(t)
	app, me := e.appToken(), e.userToken("adele", "")
	u := "/v1.0/users/" + e.user("adele") + "/presence"
	for _, c := range []struct{ method, path, token, allow string }{
		{"DELETE", u, app, "GET"},
		{"GET", u + "/setPresence", app, "POST"},
		{"PUT", "/v1.0/communications/getPresencesByUserId", app, "POST"},
		{"PUT", "/v1.0/subscriptions", me, "GET, POST"},
		{"DELETE", "/beta/subscriptions", me, "GET, POST"},
		{"POST", "/v1.0/subscriptions/00000000-0000-0000-0000-000000000001", me, "GET, PATCH, DELETE"},
		{"POST", "/presenced/v1/stream", app, "GET"},
		{"GET", "/dev/clock/advance", "", "POST"},
	} {
		r := e.call(c.method, c.path, c.token, nil)
		if r.status != 405 || r.errCode() != "notSupported" || r.header.Get("Allow") != c.allow || !strings.Contains(r.errMessage(), c.method) {
			t.Errorf("%s %s: %d %q Allow %q: %s; want 405 notSupported, Allow %q", c.method, c.path, r.status, r.errCode(), r.header.Get("Allow"), r.raw, c.allow)
		}
	}
}
