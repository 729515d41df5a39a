// Package testidp is a small, real OpenID Connect issuer for tests: its
// own RSA keys, its discovery document and JWKS, and a token endpoint for
// the client credentials grant, laid out as Microsoft Entra ID's
// (/{tenant}/v2.0/.well-known/openid-configuration,
// /{tenant}/discovery/v2.0/keys, /{tenant}/oauth2/v2.0/token), so that
// MSAL and azidentity sign in against it as against Entra. It stands for an
// organisation's identity provider in tests of presenced's external
// issuers; it signs with jwx, and nothing in presenced is faked.
package testidp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Client is an application registered at the issuer.
type Client struct {
	Secret string
	Roles  []string // app roles of the API, carried in "roles"
}

// IdP is one running issuer.
type IdP struct {
	t      testing.TB
	srv    *httptest.Server
	Tenant string // the tenant id in its paths and issuer

	mu      sync.Mutex
	keys    []*rsa.PrivateKey // the last one signs; all are published
	kids    []string
	clients map[string]Client
	now     func() time.Time

	// Requests counts requests by kind: "discovery", "keys", "token".
	requests sync.Map
}

// Options configure an issuer.
type Options struct {
	Tenant  string
	Clients map[string]Client
	// TLS, when set, serves https with this configuration (MSAL and
	// azidentity accept only https authorities).
	TLS *tls.Config
	// Now is the issuer's clock (default time.Now).
	Now func() time.Time
}

// Start runs an issuer on a loopback port until the test ends.
func Start(t testing.TB, o Options) *IdP {
	t.Helper()
	if o.Now == nil {
		o.Now = time.Now
	}
	idp := &IdP{t: t, Tenant: o.Tenant, clients: o.Clients, now: o.Now}
	idp.Rotate(false)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", idp.discovery)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", idp.jwks)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", idp.token)
	idp.srv = httptest.NewUnstartedServer(mux)
	if o.TLS != nil {
		idp.srv.TLS = o.TLS
		idp.srv.StartTLS()
	} else {
		idp.srv.Start()
	}
	t.Cleanup(idp.srv.Close)
	return idp
}

// URL is the issuer's base URL (https://127.0.0.1:port), its authority
// host.
func (idp *IdP) URL() string { return idp.srv.URL }

// Issuer is the "iss" of its tokens: URL/{tenant}/v2.0.
func (idp *IdP) Issuer() string { return idp.srv.URL + "/" + idp.Tenant + "/v2.0" }

// Stop closes the issuer: it is down from then on.
func (idp *IdP) Stop() { idp.srv.Close() }

// Requests is how many requests of a kind ("discovery", "keys", "token")
// it answered.
func (idp *IdP) Requests(kind string) int64 {
	v, _ := idp.requests.LoadOrStore(kind, new(atomic.Int64))
	return v.(*atomic.Int64).Load()
}

func (idp *IdP) count(kind string) {
	v, _ := idp.requests.LoadOrStore(kind, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// Rotate makes a new signing key; keepOld keeps the previous ones
// published (a rotation with overlap), else only the new one is.
func (idp *IdP) Rotate(keepOld bool) string {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		idp.t.Fatal(err)
	}
	idp.mu.Lock()
	defer idp.mu.Unlock()
	kid := fmt.Sprintf("key-%d", len(idp.kids)+1)
	if !keepOld {
		idp.keys, idp.kids = nil, nil
	}
	idp.keys, idp.kids = append(idp.keys, k), append(idp.kids, kid)
	return kid
}

func (idp *IdP) discovery(w http.ResponseWriter, r *http.Request) {
	idp.count("discovery")
	base := idp.srv.URL + "/" + r.PathValue("tenant")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base + "/v2.0",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post"},
	})
}

func (idp *IdP) jwks(w http.ResponseWriter, _ *http.Request) {
	idp.count("keys")
	idp.mu.Lock()
	defer idp.mu.Unlock()
	set := jwk.NewSet()
	for i, k := range idp.keys {
		pub, err := jwk.Import(&k.PublicKey)
		if err != nil {
			idp.t.Error(err)
			return
		}
		_ = pub.Set(jwk.KeyIDKey, idp.kids[i])
		_ = pub.Set(jwk.KeyUsageKey, "sig")
		_ = pub.Set(jwk.AlgorithmKey, jwa.RS256())
		_ = set.AddKey(pub)
	}
	writeJSON(w, http.StatusOK, set)
}

// token serves the client credentials grant: scope "<resource>/.default"
// gives a token for audience <resource> with the client's roles.
func (idp *IdP) token(w http.ResponseWriter, r *http.Request) {
	idp.count("token")
	if err := r.ParseForm(); err != nil {
		oauthError(w, "invalid_request", err.Error())
		return
	}
	clientID, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	idp.mu.Lock()
	c, ok := idp.clients[clientID]
	idp.mu.Unlock()
	if r.PostForm.Get("grant_type") != "client_credentials" || !ok || c.Secret != secret {
		oauthError(w, "invalid_client", "unknown client or wrong secret")
		return
	}
	// MSAL adds the OpenID scopes to the resource's .default, as Entra
	// ID expects; they are not the resource.
	resource := ""
	for _, sc := range strings.Fields(r.PostForm.Get("scope")) {
		if res, ok := strings.CutSuffix(sc, "/.default"); ok && resource == "" {
			resource = res
		} else if sc != "openid" && sc != "profile" && sc != "offline_access" && sc != "email" {
			resource = "!"
		}
	}
	if resource == "" || resource == "!" {
		oauthError(w, "invalid_scope", "ask for <resource>/.default")
		return
	}
	now := idp.now()
	tok := idp.Mint(map[string]any{
		"aud": resource, "azp": clientID, "appid": clientID, "idtyp": "app", "roles": c.Roles,
		"oid": "00000000-5e41-4000-8000-" + clientID[len(clientID)-12:], "sub": clientID,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": tok})
}

// Mint signs claims with the current key, adding iss, tid, ver and jti;
// exp, nbf and iat default to an hour from now.
func (idp *IdP) Mint(claims map[string]any) string {
	idp.mu.Lock()
	key, kid := idp.keys[len(idp.keys)-1], idp.kids[len(idp.kids)-1]
	idp.mu.Unlock()
	return idp.sign(claims, key, kid)
}

func (idp *IdP) sign(claims map[string]any, key *rsa.PrivateKey, kid string) string {
	now := idp.now()
	full := map[string]any{"iss": idp.Issuer(), "tid": idp.Tenant, "ver": "2.0", "jti": fmt.Sprint(now.UnixNano()),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range claims {
		full[k] = v
	}
	payload, err := json.Marshal(full)
	if err != nil {
		idp.t.Fatal(err)
	}
	h := jws.NewHeaders()
	_ = h.Set(jws.KeyIDKey, kid)
	_ = h.Set(jws.TypeKey, "JWT")
	b, err := jws.Sign(payload, jws.WithKey(jwa.RS256(), key, jws.WithProtectedHeaders(h)))
	if err != nil {
		idp.t.Fatal(err)
	}
	return string(b)
}

// MintWithStranger signs claims with a key the issuer does not publish,
// under kid.
func (idp *IdP) MintWithStranger(claims map[string]any, kid string) string {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		idp.t.Fatal(err)
	}
	return idp.sign(claims, k, kid)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func oauthError(w http.ResponseWriter, code, desc string) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"error": code, "error_description": desc})
}
