package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/presence"
)

func TestValidateAppToken(t *testing.T) {
	f := newFixture(t)
	tok := f.appToken(t)
	h, c := decode(t, tok)
	if h["alg"] != "RS256" || h["typ"] != "JWT" || h["kid"] != f.iss.KeyID() || f.iss.KeyID() == "" {
		t.Errorf("header %v", h)
	}
	app, _ := f.dir.App(directory.DemoDaemonClientID)
	want := map[string]any{
		"aud": GraphAudience, "iss": testBase + "/" + directory.DemoTenantID + "/v2.0", "tid": directory.DemoTenantID,
		"azp": directory.DemoDaemonClientID, "appid": directory.DemoDaemonClientID, "ver": "2.0", "idtyp": "app",
		"oid": app.ServicePrincipalID(), "sub": app.ServicePrincipalID(), "azpacr": "1",
		"iat": float64(t0.Unix()), "nbf": float64(t0.Unix()), "exp": float64(t0.Add(time.Hour).Unix()),
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	if roles, _ := c["roles"].([]any); len(roles) != 3 || roles[0] != "Presence.ReadWrite.All" || roles[1] != "Calendars.ReadWrite" || roles[2] != "MailboxSettings.ReadWrite" {
		t.Errorf("roles %v", c["roles"])
	}
	if _, ok := c["scp"]; ok {
		t.Error("an app token has scp")
	}
	if jti, _ := c["jti"].(string); !directory.IsGUID(jti) {
		t.Errorf("jti %v", c["jti"])
	}
	p, err := f.val.Validate(tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.Delegated || p.UserID != "" || p.TenantID != directory.DemoTenantID || p.ClientID != directory.DemoDaemonClientID ||
		!slices.Equal(p.Roles, []string{"Presence.ReadWrite.All", "Calendars.ReadWrite", "MailboxSettings.ReadWrite"}) || len(p.Scopes) != 0 || p.Name != directory.DemoDaemonName {
		t.Errorf("principal %+v", p)
	}
	// What outlives the request (a live stream) ends when the token does.
	if exp, _ := c["exp"].(float64); p.Expires.Unix() != int64(exp) || p.Expires.IsZero() {
		t.Errorf("principal expires %v, token exp %v", p.Expires, c["exp"])
	}
	if _, c2 := decode(t, f.appToken(t)); c2["jti"] == c["jti"] {
		t.Error("jti repeats")
	}
}

func TestValidateUserToken(t *testing.T) {
	f := newFixture(t)
	tok := f.userToken(t, "adele@contoso.dev", "Presence.Read", "https://graph.microsoft.com/Presence.ReadWrite", "openid")
	_, c := decode(t, tok)
	want := map[string]any{"idtyp": "user", "oid": directory.DemoUserAdele, "upn": "adele@contoso.dev",
		"preferred_username": "adele@contoso.dev", "name": "Adele Vance", "scp": "Presence.Read Presence.ReadWrite", "azpacr": "0"}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	if _, ok := c["roles"]; ok {
		t.Error("a delegated token has roles")
	}
	if sub, _ := c["sub"].(string); sub == "" || sub == directory.DemoUserAdele {
		t.Errorf("sub %q should be pairwise", sub)
	}
	p, err := f.val.Validate(tok)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Delegated || p.UserID != directory.DemoUserAdele || p.ClientID != directory.DemoClientID || p.Name != "Adele Vance" ||
		!slices.Equal(p.Scopes, []string{"Presence.Read", "Presence.ReadWrite"}) {
		t.Errorf("principal %+v", p)
	}
	// No scopes: all consented ones.
	_, c = decode(t, f.userToken(t, directory.DemoUserMegan))
	if c["scp"] != "Presence.Read Presence.Read.All Presence.ReadWrite Calendars.ReadWrite MailboxSettings.ReadWrite User.ReadBasic.All" {
		t.Errorf("default scp %v", c["scp"])
	}
}

func TestMintErrors(t *testing.T) {
	f := newFixture(t)
	_, err := f.iss.AppToken(directory.DemoUserAdele)
	wantErr(t, err, presence.NotFound, "application \""+directory.DemoUserAdele+"\" is not in the directory")
	_, err = f.iss.UserToken(directory.DemoClientID, "nestor@fabrikam.dev", nil)
	wantErr(t, err, presence.NotFound, `user "nestor@fabrikam.dev" is not in tenant`)
	_, err = f.iss.UserToken(directory.DemoClientID, directory.DemoUserAdele, []string{"User.Read"})
	wantErr(t, err, presence.Forbidden, "has not consented|User.Read")
	_, err = f.iss.UserToken(directory.DemoDaemonClientID, directory.DemoUserAdele, nil)
	wantErr(t, err, presence.Forbidden, "no consented Microsoft Graph scopes")
}

func TestValidateLifetime(t *testing.T) {
	f := newFixture(t)
	tok := f.appToken(t)
	check := func(at time.Time, ok bool) {
		t.Helper()
		f.clk.Set(at)
		_, err := f.val.Validate(tok)
		if ok && err != nil {
			t.Errorf("at %v: %v", at, err)
		}
		if !ok {
			// Graph's words, then which of the two and what to do.
			which := "It has expired: request a new one from the token endpoint."
			if at.Before(t0) {
				which = "It is not valid yet: the clock of the issuer that signed it is ahead of this server's."
			}
			wantErr(t, err, presence.Unauthenticated, "Access token has expired or is not yet valid.|until 2026-03-02T10:00:00Z|server time is "+at.UTC().Format(time.RFC3339)+"|"+which)
		}
	}
	check(t0, true)
	check(t0.Add(59*time.Minute+59*time.Second), true)
	check(t0.Add(time.Hour), false) // exp is exclusive
	check(t0.Add(48*time.Hour), false)
	check(t0.Add(-time.Second), false) // before nbf

	// Leeway widens both ends.
	lv := NewValidator(ValidatorOptions{Issuer: f.iss, Directory: f.dir, Clock: f.clk, Leeway: time.Minute})
	for _, at := range []time.Time{t0.Add(-30 * time.Second), t0.Add(time.Hour + 30*time.Second)} {
		f.clk.Set(at)
		if _, err := lv.Validate(tok); err != nil {
			t.Errorf("with leeway at %v: %v", at, err)
		}
	}

	// A not-yet-valid token signed by the real key.
	f.clk.Set(t0)
	future := resign(t, tok, f.key, f.iss.KeyID(), func(c map[string]any) { c["nbf"] = t0.Add(time.Minute).Unix() })
	_, err := f.val.Validate(future)
	wantErr(t, err, presence.Unauthenticated, "expired or is not yet valid|valid from 2026-03-02T09:01:00Z")

	// Custom lifetime.
	iss, err := NewIssuer(IssuerOptions{Directory: f.dir, Clock: f.clk, BaseURL: testBase, Key: f.key, TokenLifetime: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	short, _ := iss.AppToken(directory.DemoDaemonClientID)
	f.clk.Set(t0.Add(5 * time.Minute))
	_, err = f.val.Validate(short)
	wantErr(t, err, presence.Unauthenticated, "expired")
}

func TestValidateRejects(t *testing.T) {
	f := newFixture(t)
	_, other := keys(t)
	app := f.appToken(t)
	user := f.userToken(t, directory.DemoUserAdele)
	kid := f.iss.KeyID()
	parts := strings.Split(app, ".")
	pubDER, _ := x509.MarshalPKIXPublicKey(&f.key.PublicKey)
	hs256 := func(secret []byte) string {
		_, c := decode(t, app)
		s := rawToken(map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, c, nil)
		s = s[:strings.LastIndex(s, ".")]
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(s))
		return s + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	_, appClaims := decode(t, app)
	set := func(k string, v any) func(map[string]any) { return func(c map[string]any) { c[k] = v } }
	del := func(k string) func(map[string]any) { return func(c map[string]any) { delete(c, k) } }

	tests := []struct {
		name string
		tok  string
		want string
	}{
		{"empty", "", "Access token is empty."},
		{"garbage", "not a token", "is not a JWT|1 part(s)"},
		{"two parts", parts[0] + "." + parts[1], "2 part(s)"},
		{"four parts", app + ".x", "4 part(s)"},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], "header is not base64url"},
		{"empty signature", parts[0] + "." + parts[1] + ".", "signature is not base64url"},
		{"huge", strings.Repeat("a", MaxTokenLength+1), "presenced accepts tokens of up to 16384"},
		{"header not json", base64.RawURLEncoding.EncodeToString([]byte("nope")) + "." + parts[1] + "." + parts[2], "header is not a JSON object"},
		{"alg none, empty signature", rawToken(map[string]any{"alg": "none", "typ": "JWT"}, appClaims, nil), "signature is not base64url"},
		{"alg none with sig", rawToken(map[string]any{"alg": "none", "typ": "JWT", "kid": kid}, appClaims, []byte("x")), "Invalid signature algorithm ('none')|RS256"},
		{"alg missing", rawToken(map[string]any{"typ": "JWT", "kid": kid}, appClaims, []byte("x")), "Invalid signature algorithm (none given)"},
		{"alg HS256 with public key DER", hs256(pubDER), "Invalid signature algorithm ('HS256')"},
		{"alg RS512", rawToken(map[string]any{"alg": "RS512", "kid": kid}, appClaims, []byte("x")), "('RS512')"},
		{"alg lowercase", rawToken(map[string]any{"alg": "rs256", "kid": kid}, appClaims, []byte("x")), "('rs256')"},
		{"typ", rawToken(map[string]any{"alg": "RS256", "kid": kid, "typ": "JWE"}, appClaims, []byte("x")), "typ) is 'JWE'"},
		{"crit", rawToken(map[string]any{"alg": "RS256", "kid": kid, "crit": []string{"b64"}}, appClaims, []byte("x")), "critical extensions"},
		{"no kid", rawToken(map[string]any{"alg": "RS256"}, appClaims, []byte("x")), "no key id (kid)"},
		{"unknown kid", resign(t, app, other, "someone-else", nil), "Invalid signature: the signing key 'someone-else' (kid) is not one of this server's keys|" + testBase + "/common/discovery/v2.0/keys"},
		{"forged with another key, our kid", resign(t, app, other, kid, nil), "Access token validation failure. Invalid signature."},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(mustB64(t, parts[1]), "Presence.ReadWrite.All", "Presence.ReadWrite.Alm", 1))) + "." + parts[2], "Invalid signature."},
		{"tampered header", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"`+kid+`","typ":"JWT","x":1}`)) + "." + parts[1] + "." + parts[2], "Invalid signature."},
		{"signature of another token", parts[0] + "." + parts[1] + "." + strings.Split(user, ".")[2], "Invalid signature."},
		{"payload not object", resignRaw(t, f, []byte(`[1,2]`)), "payload is not a JSON object"},
		{"tid wrong type", resign(t, app, f.key, kid, set("tid", 5)), "claim 'tid' has the wrong JSON type"},
		{"roles wrong type", resign(t, app, f.key, kid, set("roles", "Presence.ReadWrite.All")), "claim 'roles' has the wrong JSON type"},
		{"no exp", resign(t, app, f.key, kid, del("exp")), "has no 'exp' claim"},
		{"no nbf", resign(t, app, f.key, kid, del("nbf")), "has no 'nbf' claim"},
		{"no iss", resign(t, app, f.key, kid, del("iss")), "has no 'iss' claim"},
		{"no aud", resign(t, app, f.key, kid, del("aud")), "has no 'aud' claim"},
		{"no tid", resign(t, app, f.key, kid, del("tid")), "has no 'tid' claim"},
		{"no oid", resign(t, app, f.key, kid, del("oid")), "has no 'oid' claim"},
		{"exp string", resign(t, app, f.key, kid, set("exp", "soon")), "exp"},
		{"wrong audience", resign(t, app, f.key, kid, set("aud", "https://management.azure.com")), "Invalid audience 'https://management.azure.com'|'https://graph.microsoft.com' or '00000003-0000-0000-c000-000000000000'"},
		{"audience array without graph", resign(t, app, f.key, kid, set("aud", []string{"api://x", "api://y"})), "Invalid audience 'api://x api://y'"},
		{"audience number", resign(t, app, f.key, kid, set("aud", 3)), "'aud' must be a string or an array"},
		{"unknown tenant", resign(t, app, f.key, kid, func(c map[string]any) {
			c["tid"] = "11111111-1111-4111-8111-111111111111"
			c["iss"] = testBase + "/11111111-1111-4111-8111-111111111111/v2.0"
		}), "Invalid issuer: the token's tenant (tid) '11111111-1111-4111-8111-111111111111' is not a tenant of this server."},
		{"tenant as domain", resign(t, app, f.key, kid, set("tid", "contoso.dev")), "tenant (tid) 'contoso.dev' is not a tenant"},
		{"wrong issuer", resign(t, app, f.key, kid, set("iss", "https://login.microsoftonline.com/"+directory.DemoTenantID+"/v2.0")), "Invalid issuer 'https://login.microsoftonline.com/" + directory.DemoTenantID + "/v2.0': tokens of tenant " + directory.DemoTenantID + " must have iss '" + testBase + "/" + directory.DemoTenantID + "/v2.0'."},
		{"issuer of other tenant", resign(t, app, f.key, kid, set("iss", testBase+"/"+directory.DemoFabrikamTenantID+"/v2.0")), "Invalid issuer"},
		{"tid of other tenant", resign(t, app, f.key, kid, func(c map[string]any) {
			c["tid"] = directory.DemoFabrikamTenantID
			c["iss"] = testBase + "/" + directory.DemoFabrikamTenantID + "/v2.0"
		}), "registered in tenant " + directory.DemoTenantID + ", not in the token's tenant " + directory.DemoFabrikamTenantID},
		{"unknown app", resign(t, app, f.key, kid, func(c map[string]any) { c["azp"] = "22222222-2222-4222-8222-222222222222"; delete(c, "appid") }), "application '22222222-2222-4222-8222-222222222222' (azp) is not registered"},
		{"azp appid differ", resign(t, app, f.key, kid, set("appid", directory.DemoClientID)), "azp '" + directory.DemoDaemonClientID + "' and appid '" + directory.DemoClientID + "' name different applications"},
		{"no app", resign(t, app, f.key, kid, func(c map[string]any) { delete(c, "azp"); delete(c, "appid") }), "neither 'azp' nor 'appid'"},
		{"idtyp odd", resign(t, app, f.key, kid, set("idtyp", "device")), "idtyp is 'device'"},
		{"app token with scp", resign(t, app, f.key, kid, set("scp", "Presence.Read")), "must not have an 'scp' claim"},
		{"app token oid", resign(t, app, f.key, kid, set("oid", directory.DemoUserAdele)), "oid '" + directory.DemoUserAdele + "' is not the service principal"},
		{"user token without scp", resign(t, user, f.key, kid, del("scp")), "must have an 'scp' claim"},
		{"unknown user", resign(t, user, f.key, kid, set("oid", "33333333-3333-4333-8333-333333333333")), "signed-in user '33333333-3333-4333-8333-333333333333' (oid) is not a user of tenant " + directory.DemoTenantID},
		{"user of other tenant", resign(t, user, f.key, kid, set("oid", directory.DemoFabrikamUserNestor)), "is not a user of tenant"},
		{"user by upn", resign(t, user, f.key, kid, set("oid", "adele@contoso.dev")), "is not a user of tenant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := f.val.Validate(tt.tok)
			if err == nil {
				t.Fatalf("validated: %+v", p)
			}
			wantErr(t, err, presence.Unauthenticated, tt.want)
		})
	}
}

func mustB64(t *testing.T, s string) string {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func resignRaw(t *testing.T, f *fixture, payload []byte) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"` + f.iss.KeyID() + `","typ":"JWT"}`))
	p := base64.RawURLEncoding.EncodeToString(payload)
	digest := sha256.Sum256([]byte(h + "." + p))
	sig, err := f.key.Sign(nil, digest[:], cryptoSHA256)
	if err != nil {
		t.Fatal(err)
	}
	return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestValidateAcceptsVariants(t *testing.T) {
	f := newFixture(t)
	app := f.appToken(t)
	user := f.userToken(t, directory.DemoUserAlex)
	kid := f.iss.KeyID()
	tests := []struct {
		name      string
		tok       string
		delegated bool
	}{
		{"resource id audience", resign(t, app, f.key, kid, func(c map[string]any) { c["aud"] = GraphResourceID }), false},
		{"audience array", resign(t, app, f.key, kid, func(c map[string]any) { c["aud"] = []string{"api://x", GraphAudience} }), false},
		{"v1 style appid only", resign(t, app, f.key, kid, func(c map[string]any) { delete(c, "azp") }), false},
		{"no idtyp, scp makes it delegated", resign(t, user, f.key, kid, func(c map[string]any) { delete(c, "idtyp") }), true},
		{"no idtyp, no scp is an app", resign(t, app, f.key, kid, func(c map[string]any) { delete(c, "idtyp") }), false},
	}
	for _, tt := range tests {
		p, err := f.val.Validate(tt.tok)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if p.Delegated != tt.delegated {
			t.Errorf("%s: delegated %v", tt.name, p.Delegated)
		}
	}
}

func TestValidatorWithKeySetAndRestart(t *testing.T) {
	f := newFixture(t)
	tok := f.appToken(t)
	// A validator that only knows the published JWKS, as JSON.
	js, err := jsonOf(f.iss.PublicKeys())
	if err != nil {
		t.Fatal(err)
	}
	set, err := jwk.Parse(js)
	if err != nil {
		t.Fatal(err)
	}
	v := NewValidator(ValidatorOptions{Keys: set, Directory: f.dir, Clock: f.clk, BaseURL: testBase})
	if _, err := v.Validate(tok); err != nil {
		t.Fatal(err)
	}
	// The same key after a restart: same kid, old tokens still valid.
	iss2, err := NewIssuer(IssuerOptions{Directory: f.dir, Clock: f.clk, BaseURL: testBase, Key: f.key})
	if err != nil {
		t.Fatal(err)
	}
	if iss2.KeyID() != f.iss.KeyID() {
		t.Fatal("kid changes across restarts")
	}
	if _, err := NewValidator(ValidatorOptions{Issuer: iss2, Directory: f.dir, Clock: f.clk}).Validate(tok); err != nil {
		t.Fatal(err)
	}
	// Another base URL: another issuer.
	v3 := NewValidator(ValidatorOptions{Issuer: f.iss, Directory: f.dir, Clock: f.clk, BaseURL: "https://elsewhere.example"})
	_, err = v3.Validate(tok)
	wantErr(t, err, presence.Unauthenticated, "Invalid issuer")
}

func TestValidatorMisconfigured(t *testing.T) {
	f := newFixture(t)
	tok := f.appToken(t)
	for name, o := range map[string]ValidatorOptions{
		"no directory": {Issuer: f.iss, Clock: f.clk},
		"no keys":      {Directory: f.dir, Clock: f.clk, BaseURL: testBase},
		"no base":      {Keys: f.iss.PublicKeys(), Directory: f.dir, Clock: f.clk},
	} {
		_, err := NewValidator(o).Validate(tok)
		if presence.ErrorCode(err) != presence.Internal {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestNewIssuerRejects(t *testing.T) {
	k, _ := keys(t)
	d := directory.Demo()
	clk := clock.NewFake(t0)
	small, err := rsaKey(1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		o    IssuerOptions
		want string
	}{
		{"no directory", IssuerOptions{BaseURL: testBase, Key: k}, "needs a directory"},
		{"no base", IssuerOptions{Directory: d, Key: k}, "base URL is empty"},
		{"relative base", IssuerOptions{Directory: d, BaseURL: "localhost:8080", Key: k}, "not an absolute http or https URL"},
		{"ftp base", IssuerOptions{Directory: d, BaseURL: "ftp://x.example", Key: k}, "not an absolute http or https URL"},
		{"trailing slash", IssuerOptions{Directory: d, BaseURL: testBase + "/", Key: k}, "without the trailing slash"},
		{"query", IssuerOptions{Directory: d, BaseURL: testBase + "?a=b", Key: k}, "query or fragment"},
		{"negative lifetime", IssuerOptions{Directory: d, BaseURL: testBase, Key: k, TokenLifetime: -time.Second}, "negative"},
		{"tiny lifetime", IssuerOptions{Directory: d, BaseURL: testBase, Key: k, TokenLifetime: time.Millisecond}, "shorter than a second"},
		{"small key", IssuerOptions{Directory: d, BaseURL: testBase, Key: small}, "1024 bits; at least 2048"},
		{"ecdsa key", IssuerOptions{Directory: d, BaseURL: testBase, Key: ecKey(t)}, "need an RSA key"},
	}
	for _, tt := range tests {
		tt.o.Clock = clk
		_, err := NewIssuer(tt.o)
		if err == nil {
			t.Errorf("%s: accepted", tt.name)
			continue
		}
		wantErr(t, err, presence.Invalid, tt.want)
	}
	// A nil key is generated; a custom kid is used.
	iss, err := NewIssuer(IssuerOptions{Directory: d, BaseURL: testBase, Clock: clk, KeyID: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := iss.AppToken(directory.DemoDaemonClientID)
	if h, _ := decode(t, tok); h["kid"] != "k1" {
		t.Errorf("kid %v", h["kid"])
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		headers []string
		want    string // token, or "!" + message part
	}{
		{nil, "!Access token is empty. The request has no Authorization header: send 'Authorization: Bearer <access token>'. A Graph SDK sends it only to the hosts its authentication provider allows"},
		{[]string{""}, "!Access token is empty."},
		{[]string{"Bearer"}, "!Access token is empty."},
		{[]string{"Bearer    "}, "!Access token is empty."},
		{[]string{"Bearer abc.def.ghi"}, "abc.def.ghi"},
		{[]string{"bearer abc"}, "abc"},
		{[]string{"BEARER   abc"}, "abc"},
		{[]string{"  Bearer abc  "}, "abc"},
		{[]string{"Bearer a-b_c~d+e/f=="}, "a-b_c~d+e/f=="},
		{[]string{"Basic dXNlcjpwdw=="}, "!uses the 'Basic' scheme; presenced expects 'Authorization: Bearer <access token>'"},
		{[]string{"abc.def.ghi"}, "!uses the 'abc.def.ghi' scheme"},
		{[]string{"Bearer abc def"}, "!text after the access token"},
		{[]string{"Bearer abc\tdef"}, "!text after the access token"},
		{[]string{"Bearer \"abc\""}, "!contains the character '\"'"},
		{[]string{"Bearer a=b"}, "!'=' inside it"},
		{[]string{"Bearer a", "Bearer b"}, "!2 Authorization headers"},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest("GET", "http://x/v1.0/me/presence", nil)
		for _, h := range tt.headers {
			r.Header.Add("Authorization", h)
		}
		got, err := BearerToken(r)
		if msg, isErr := strings.CutPrefix(tt.want, "!"); isErr {
			if err == nil {
				t.Errorf("%q: got token %q", tt.headers, got)
				continue
			}
			wantErr(t, err, presence.Unauthenticated, msg)
		} else if err != nil || got != tt.want {
			t.Errorf("%q: got %q, %v; want %q", tt.headers, got, err, tt.want)
		}
	}
}
