package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/dirstore"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/internal/testidp"
	"github.com/presenced/presenced/presence"
)

const extApp = "0e0e0e0e-1111-4222-8333-000000000001"

// extFixture is Contoso trusting a real issuer started for the test, and
// the validators of a server.
type extFixture struct {
	idp   *testidp.IdP
	store *dirstore.Store
	clk   *clock.Fake
	ext   *External
	keys  KeyStore
}

func newExtFixture(t *testing.T, edit func(*directory.Issuer)) *extFixture {
	return newExtFixtureTB(t, edit)
}

func newExtFixtureB(b *testing.B) *extFixture { return newExtFixtureTB(b, nil) }

func newExtFixtureTB(t testing.TB, edit func(*directory.Issuer)) *extFixture {
	t.Helper()
	idp := testidp.Start(t, testidp.Options{Tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47",
		Clients: map[string]testidp.Client{extApp: {Secret: "s3cret", Roles: []string{"Presence.Read.All"}}}})
	f := directory.DemoFile(0)
	is := directory.Issuer{Issuer: idp.Issuer(), Audiences: []string{"api://presenced"}}
	if edit != nil {
		edit(&is)
	}
	f.Tenants[0].Issuers = []directory.Issuer{is}
	s := liveDirectory(t, f)
	x := &extFixture{idp: idp, store: s, clk: clock.NewFake(time.Now()), keys: KVKeyStore{KV: enginetest.Bucket(t, "meta")}}
	x.ext = NewExternal(ExternalOptions{Directory: s.Directory(), Clock: x.clk, Keys: x.keys})
	return x
}

// appToken gets a token from the issuer's token endpoint, as an
// application would.
func (x *extFixture) appToken(t *testing.T) string {
	t.Helper()
	resp, err := http.PostForm(x.idp.URL()+"/"+x.idp.Tenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {extApp}, "client_secret": {"s3cret"}, "scope": {"api://presenced/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := jsonDecode(resp, &body); err != nil || body.AccessToken == "" {
		t.Fatalf("token: %s %v", resp.Status, err)
	}
	return body.AccessToken
}

// An application's token from the organisation's own issuer, and a user's,
// are accepted as the tenant's: the keys found by OpenID discovery, the
// audience, the user named by oid (or by upn, when the issuer says so).
func TestExternalTokens(t *testing.T) {
	x := newExtFixture(t, nil)
	p, err := x.ext.Validate(x.appToken(t))
	if err != nil {
		t.Fatal(err)
	}
	if p.TenantID != directory.DemoTenantID || p.ClientID != extApp || p.Delegated || len(p.Roles) != 1 || p.Roles[0] != "Presence.Read.All" {
		t.Fatalf("app token: %+v", p)
	}
	if x.idp.Requests("discovery") != 1 || x.idp.Requests("keys") != 1 {
		t.Fatalf("discovery %d, keys %d fetches", x.idp.Requests("discovery"), x.idp.Requests("keys"))
	}
	user := x.idp.Mint(map[string]any{"aud": "api://presenced", "azp": extApp, "oid": directory.DemoUserAdele, "scp": "Presence.Read.All User.Read"})
	p, err = x.ext.Validate(user)
	if err != nil || !p.Delegated || p.UserID != directory.DemoUserAdele || len(p.Scopes) != 2 || p.Name != "Adele Vance" {
		t.Fatalf("user token: %+v %v", p, err)
	}
	if err := Authorize(p, ReadPresence, directory.DemoUserAlex, false); err != nil {
		t.Fatalf("Presence.Read.All from the issuer: %v", err)
	}

	byUPN := newExtFixture(t, func(is *directory.Issuer) { is.UserClaim, is.UserMatch = "upn", directory.MatchUPN })
	p, err = byUPN.ext.Validate(byUPN.idp.Mint(map[string]any{"aud": "api://presenced", "azp": extApp, "upn": "Megan@contoso.dev", "scp": []string{"Presence.Read"}}))
	if err != nil || p.UserID != directory.DemoUserMegan {
		t.Fatalf("a user named by upn: %+v %v", p, err)
	}
}

// Tokens that are not the issuer's to give, or not for presenced, are
// refused, each saying why.
func TestExternalTokensRefused(t *testing.T) {
	x := newExtFixture(t, nil)
	claims := func(change func(map[string]any)) map[string]any {
		c := map[string]any{"aud": "api://presenced", "azp": extApp, "oid": directory.DemoUserAdele, "scp": "Presence.Read"}
		change(c)
		return c
	}
	now := time.Now()
	for _, c := range []struct {
		name, token, want string
	}{
		{"another audience", x.idp.Mint(claims(func(c map[string]any) { c["aud"] = "https://graph.microsoft.com" })), "Invalid audience"},
		{"an issuer nobody trusts", x.idp.Mint(claims(func(c map[string]any) { c["iss"] = "https://evil.example/v2.0" })), "Invalid issuer"},
		{"expired", x.idp.Mint(claims(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() })), "It has expired: request a new one from its issuer."},
		{"not yet valid", x.idp.Mint(claims(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() })), "It is not valid yet: the clock of the issuer that signed it is ahead of this server's."},
		{"no exp", x.idp.Mint(claims(func(c map[string]any) { c["exp"] = nil })), "'exp'"},
		{"signed with a key it does not publish", x.idp.MintWithStranger(claims(func(map[string]any) {}), "key-1"), "Invalid signature"},
		{"a user of another tenant", x.idp.Mint(claims(func(c map[string]any) { c["oid"] = directory.DemoFabrikamUserNestor })), "not a user of tenant"},
		{"no user", x.idp.Mint(claims(func(c map[string]any) { delete(c, "oid") })), "must name its user in 'oid'"},
		{"no application", x.idp.Mint(claims(func(c map[string]any) { delete(c, "azp") })), "names no application"},
		{"alg none", unsigned(`{"alg":"none","kid":"key-1"}`, `{"iss":"`+x.idp.Issuer()+`"}`), "Invalid signature algorithm"},
		{"HMAC", unsigned(`{"alg":"HS256","kid":"key-1"}`, `{"iss":"`+x.idp.Issuer()+`"}`), "Invalid signature algorithm"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := x.ext.Validate(c.token)
			var pe *presence.Error
			if !errors.As(err, &pe) || pe.Code != presence.Unauthenticated || !strings.Contains(pe.Message, c.want) {
				t.Fatalf("%v, want Unauthenticated %q", err, c.want)
			}
		})
	}
	// A disabled user's token stops working at once.
	tok := x.idp.Mint(claims(func(map[string]any) {}))
	if _, err := x.ext.Validate(tok); err != nil {
		t.Fatal(err)
	}
	if _, err := x.store.UpdateUser(context.Background(), directory.DemoTenantID, directory.DemoUserAdele, func(u *directory.UserEntry) error {
		u.AccountEnabled = directory.Bool(false)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := x.ext.Validate(tok); err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Fatalf("a disabled user's token: %v", err)
	}
}

func unsigned(header, payload string) string {
	return b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload)) + ".c2ln"
}

// Keys: a token signed with a key the cache does not have makes it fetch
// the keys again — at most once a minute per issuer, so that made-up kids
// cost nothing; an issuer that is down does not stop tokens whose keys
// are kept, in memory or, after a restart, in the engine.
func TestExternalKeysRefreshAndOutage(t *testing.T) {
	x := newExtFixture(t, nil)
	old := x.appToken(t)
	if _, err := x.ext.Validate(old); err != nil {
		t.Fatal(err)
	}
	x.idp.Rotate(true)
	rotated := x.appToken(t)
	if _, err := x.ext.Validate(rotated); err != nil {
		t.Fatalf("a token of the new key: %v", err)
	}
	if n := x.idp.Requests("keys"); n != 2 {
		t.Fatalf("%d fetches of the keys, want 2", n)
	}
	madeUp := x.idp.MintWithStranger(map[string]any{"aud": "api://presenced", "azp": extApp, "idtyp": "app"}, "made-up")
	for range 5 {
		if _, err := x.ext.Validate(madeUp); err == nil || !strings.Contains(err.Error(), "at most once a minute") {
			t.Fatalf("a made-up kid: %v", err)
		}
	}
	if n := x.idp.Requests("keys"); n != 2 {
		t.Fatalf("made-up kids made %d fetches, want none", n-2)
	}
	x.clk.Add(time.Minute)
	if _, err := x.ext.Validate(madeUp); err == nil || !strings.Contains(err.Error(), "publishes no key") {
		t.Fatalf("a made-up kid a minute later: %v", err)
	}
	if n := x.idp.Requests("keys"); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}

	fresh := x.appToken(t) // signed, and not validated yet, before the outage
	x.idp.Stop()
	if _, err := x.ext.Validate(fresh); err != nil {
		t.Fatalf("a token whose key is kept, the issuer down: %v", err)
	}
	x.clk.Add(time.Minute)
	if _, err := x.ext.Validate(madeUp); err == nil || !strings.Contains(err.Error(), "could not be fetched") {
		t.Fatalf("an unknown kid, the issuer down: %v", err)
	}
	// A restart: a new validator over the same engine, the issuer still down.
	restarted := NewExternal(ExternalOptions{Directory: x.store.Directory(), Clock: x.clk, Keys: x.keys})
	if _, err := restarted.Validate(fresh); err != nil {
		t.Fatalf("after a restart, the issuer down: %v", err)
	}
}

// OpenID discovery whose document names another issuer is not followed.
func TestExternalDiscoveryMustNameTheIssuer(t *testing.T) {
	x := newExtFixture(t, func(is *directory.Issuer) { is.Issuer = strings.Replace(is.Issuer, "/v2.0", "", 1) })
	tok := x.idp.Mint(map[string]any{"iss": strings.Replace(x.idp.Issuer(), "/v2.0", "", 1), "aud": "api://presenced", "azp": extApp, "idtyp": "app"})
	if _, err := x.ext.Validate(tok); err == nil || !strings.Contains(err.Error(), "could not be fetched") {
		t.Fatalf("a discovery document of another issuer: %v", err)
	}
}

// The server's Authenticator sends each token to its issuer's validator.
func TestChainRoutesByIssuer(t *testing.T) {
	x := newExtFixture(t, nil)
	iss, err := NewIssuer(IssuerOptions{Directory: x.store.Directory(), Clock: x.clk, BaseURL: testBase})
	if err != nil {
		t.Fatal(err)
	}
	chain := Chain{Builtin: NewValidator(ValidatorOptions{Issuer: iss, Directory: x.store.Directory(), Clock: x.clk}), External: x.ext}
	builtin, _ := iss.AppToken(directory.DemoDaemonClientID)
	if p, err := chain.Validate(builtin); err != nil || p.ClientID != directory.DemoDaemonClientID {
		t.Fatalf("a built-in token: %+v %v", p, err)
	}
	if p, err := chain.Validate(x.appToken(t)); err != nil || p.ClientID != extApp {
		t.Fatalf("an external token: %+v %v", p, err)
	}
	for _, raw := range []string{"", "a.b.c", "x", builtin + "x"} {
		if _, err := chain.Validate(raw); err == nil {
			t.Errorf("%q accepted", raw)
		}
	}
}

// FuzzPeekIssuer: the scan that routes a token finds the iss a JSON
// decoder of the payload finds (for payloads naming iss once; it chooses a
// validator only, which checks iss itself).
func FuzzPeekIssuer(f *testing.F) {
	f.Add(`{"iss":"https://idp.example/v2.0"}`)
	f.Add(`{"x":"iss","iss" : "a\u0041"}`)
	f.Add(`{"aud":"x", "iss":"`)
	f.Fuzz(func(t *testing.T, payload string) {
		iss, ok := peekIssuer(unsigned(`{}`, payload))
		var m map[string]json.RawMessage
		if strings.Count(payload, `"iss"`) != 1 || json.Unmarshal([]byte(payload), &m) != nil {
			return
		}
		var want string
		if v, has := m["iss"]; has && json.Unmarshal(v, &want) == nil {
			if !ok || iss != want {
				t.Fatalf("%q: peeked %q %v, the decoder reads %q", payload, iss, ok, want)
			}
		}
	})
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }
