// Package auth issues and checks the OAuth 2.0 access tokens of presenced,
// shaped like Microsoft Entra ID v2.0 access tokens for Microsoft Graph,
// and decides what a token may do (graph-presence.md §4, semantics §5).
//
// The Issuer is a small built-in authorization server: a token endpoint
// (client credentials and password grants), OpenID discovery and a JWKS.
// The Validator checks a bearer token's signature (RS256 only), issuer,
// audience, lifetime (on the injected clock) and its app and user against
// the directory, and returns a Principal. Authorize applies the permission
// table to a Principal.
//
// Every error is a *presence.Error: Unauthenticated for a bad token,
// Forbidden for a missing permission, Invalid for a /me request without a
// user.
package auth

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/cert"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/presenced/presenced/auth/throttle"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/guid"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// Audiences of Microsoft Graph: issued tokens carry GraphAudience; the
// Validator accepts both.
const (
	GraphAudience   = "https://graph.microsoft.com"
	GraphResourceID = "00000003-0000-0000-c000-000000000000"
)

// DefaultTokenLifetime is the lifetime of issued tokens unless configured.
const DefaultTokenLifetime = time.Hour

// IssuerOptions configure an Issuer.
type IssuerOptions struct {
	// Directory says which tenants, apps and users exist. Required.
	Directory *directory.Directory
	// Clock stamps iat, nbf and exp. Nil means clock.Real.
	Clock clock.Clock
	// BaseURL is the server's public URL without a trailing slash, e.g.
	// http://127.0.0.1:8080. Issuer URLs are BaseURL/{tenant id}/v2.0.
	// Required.
	BaseURL string
	// Key is the RSA signing key (at least 2048 bits). Nil: a new key is
	// generated, and tokens do not survive a restart (see LoadOrCreateKey).
	Key crypto.Signer
	// KeyID is the "kid" of the key. Empty: the key's RFC 7638 SHA-256
	// thumbprint, base64url, so a persisted key keeps its kid.
	KeyID string
	// TokenLifetime is how long tokens are valid. Zero: one hour.
	TokenLifetime time.Duration
	// Lockout is the smart lockout of the password grant: zero values are
	// Entra's defaults (10 failures, 60 s), a negative Threshold turns it
	// off. Its clock is Clock.
	Lockout throttle.LockoutOptions
	// TokenRate limits token requests per source address: zero values are
	// the defaults (throttle.DefaultRate, throttle.DefaultBurst), a
	// negative PerSecond turns it off. Its clock is Clock.
	TokenRate throttle.RateOptions
	// Logger receives sign-in lockouts (default slog.Default()).
	Logger *slog.Logger
	// Grants is the engine bucket where authorization codes and refresh
	// tokens are kept (the authorization-code flow). Nil: the flow is not
	// served (GET /authorize says so).
	Grants store.KV
	// Observer is told of every token issued or refused (nil: nobody).
	Observer Observer
	// Passwords checks users' passwords (the password grant and browser
	// sign-in); nil: no user can sign in with a password.
	Passwords Passwords
}

// Passwords checks a user's password, as dirstore.Store does: the user
// (object id or userPrincipalName) of the tenant, and whether password is
// theirs. The user is returned as the directory has it (a disabled
// account too, for the caller to refuse).
type Passwords interface {
	Authenticate(ctx context.Context, tenant, username, password string) (directory.User, bool, error)
}

// Issuer mints tokens and serves the token, discovery and keys endpoints.
// It is safe for concurrent use; its only state that changes is the
// sign-in limits' counts (smart lockout, the token rate).
//
// Issued tokens are RS256 JWS with header typ "JWT" and the key's kid, and
// these claims (the shape of an Entra ID v2.0 access token for Graph):
//
//	aud    https://graph.microsoft.com
//	iss    BaseURL/{tid}/v2.0
//	tid    the tenant id
//	azp, appid  the client id; app_displayname its name
//	azpacr "1" when the client authenticated with a secret, "0" when not (public client)
//	idtyp  "app" (client credentials) or "user" (delegated)
//	oid    app tokens: the app's service principal id (directory.App.ServicePrincipalID);
//	       delegated tokens: the user's object id
//	sub    app tokens: = oid; delegated tokens: a pairwise id, base64url(SHA-256(client id "/" user id))
//	roles  app tokens: the app's granted application permissions (JSON array)
//	scp    delegated tokens: the granted scopes, space-separated
//	upn, preferred_username, name  delegated tokens: the user's UPN and display name
//	iat = nbf = issue time; exp = iat + lifetime; jti a random GUID; ver "2.0"
type Issuer struct {
	dir       *directory.Directory
	clock     clock.Clock
	base      string
	signer    crypto.Signer
	pub       *rsa.PublicKey
	kid       string
	keys      jwk.Set          // public keys, as published (without "issuer")
	published []map[string]any // the keys' JSON members; the JWKS endpoint adds the tenant's "issuer"
	lifetime  time.Duration
	lockout   *throttle.Lockout // nil: off
	rate      *throttle.Rate    // nil: off
	log       *slog.Logger
	grants    *grantStore // nil: no authorization-code flow
	obs       Observer
	passwords Passwords
}

// NewIssuer checks the options and builds an Issuer.
func NewIssuer(o IssuerOptions) (*Issuer, error) {
	if o.Directory == nil {
		return nil, presence.Errorf(presence.Invalid, "Directory", "auth: the issuer needs a directory.")
	}
	if err := checkBaseURL(o.BaseURL); err != nil {
		return nil, err
	}
	if o.TokenLifetime < 0 {
		return nil, presence.Errorf(presence.Invalid, "TokenLifetime", "auth: token lifetime %v is negative.", o.TokenLifetime)
	}
	if o.TokenLifetime == 0 {
		o.TokenLifetime = DefaultTokenLifetime
	}
	if o.TokenLifetime < time.Second {
		return nil, presence.Errorf(presence.Invalid, "TokenLifetime", "auth: token lifetime %v is shorter than a second; token times have seconds precision.", o.TokenLifetime)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Key == nil {
		k, err := GenerateKey()
		if err != nil {
			return nil, err
		}
		o.Key = k
	}
	pub, ok := o.Key.Public().(*rsa.PublicKey)
	if !ok {
		return nil, presence.Errorf(presence.Invalid, "Key", "auth: the signing key is a %T; tokens are signed with RS256 and need an RSA key.", o.Key.Public())
	}
	if pub.N.BitLen() < KeyBits {
		return nil, presence.Errorf(presence.Invalid, "Key", "auth: the signing key has %d bits; at least %d are required.", pub.N.BitLen(), KeyBits)
	}
	jk, err := jwk.Import(pub)
	if err != nil {
		return nil, presence.Errorf(presence.Internal, "Key", "auth: importing the public key: %v", err)
	}
	if o.KeyID == "" {
		tp, err := jk.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, presence.Errorf(presence.Internal, "Key", "auth: key thumbprint: %v", err)
		}
		o.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	}
	der, err := SigningCertificate(o.Key)
	if err != nil {
		return nil, err
	}
	var chain cert.Chain
	if err := chain.Add([]byte(base64.StdEncoding.EncodeToString(der))); err != nil {
		return nil, presence.Errorf(presence.Internal, "Key", "auth: the signing certificate: %v", err)
	}
	x5t := sha1.Sum(der) // Entra's x5t is the SHA-1 thumbprint; no security rests on it
	for _, kv := range []struct {
		k string
		v any
	}{{jwk.KeyIDKey, o.KeyID}, {jwk.KeyUsageKey, "sig"}, {jwk.AlgorithmKey, jwa.RS256()},
		{jwk.X509CertChainKey, &chain}, {jwk.X509CertThumbprintKey, base64.RawURLEncoding.EncodeToString(x5t[:])}} {
		if err := jk.Set(kv.k, kv.v); err != nil {
			return nil, presence.Errorf(presence.Internal, "Key", "auth: setting %s of the public key: %v", kv.k, err)
		}
	}
	set := jwk.NewSet()
	if err := set.AddKey(jk); err != nil {
		return nil, presence.Errorf(presence.Internal, "Key", "auth: building the key set: %v", err)
	}
	if o.Lockout.Clock == nil {
		o.Lockout.Clock = o.Clock
	}
	if o.TokenRate.Clock == nil {
		o.TokenRate.Clock = o.Clock
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Observer == nil {
		o.Observer = noObserver{}
	}
	published, err := publishedKeys(set)
	if err != nil {
		return nil, err
	}
	i := &Issuer{dir: o.Directory, clock: o.Clock, base: o.BaseURL, signer: o.Key, pub: pub, kid: o.KeyID, keys: set, published: published, lifetime: o.TokenLifetime,
		lockout: throttle.NewLockout(o.Lockout), rate: throttle.NewRate(o.TokenRate), log: o.Logger, obs: o.Observer, passwords: o.Passwords}
	if o.Grants != nil {
		i.grants = &grantStore{kv: o.Grants, clock: o.Clock, log: o.Logger}
	}
	return i, nil
}

func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return presence.Errorf(presence.Invalid, "BaseURL", "auth: the base URL is empty; it must be the server's public URL such as http://127.0.0.1:8080.")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil:
		return presence.Errorf(presence.Invalid, "BaseURL", "auth: base URL %q is not an absolute http or https URL such as http://127.0.0.1:8080.", s)
	case strings.HasSuffix(s, "/"):
		return presence.Errorf(presence.Invalid, "BaseURL", "auth: base URL %q ends in '/'; write it without the trailing slash.", s)
	case u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, "?#"):
		return presence.Errorf(presence.Invalid, "BaseURL", "auth: base URL %q has a query or fragment.", s)
	}
	return nil
}

// Run removes expired authorization codes and refresh tokens from the
// engine, once a minute, until ctx ends. Without Grants it returns at once.
func (i *Issuer) Run(ctx context.Context) {
	if i.grants != nil {
		i.grants.run(ctx)
	}
}

// IssuerURL is the "iss" of tokens for a tenant: baseURL/{tenantID}/v2.0.
func IssuerURL(baseURL, tenantID string) string { return baseURL + "/" + tenantID + "/v2.0" }

// BaseURL returns the base URL the issuer was built with.
func (i *Issuer) BaseURL() string { return i.base }

// KeyID returns the "kid" of the signing key.
func (i *Issuer) KeyID() string { return i.kid }

// PublicKeys returns the published key set (a copy): the JWKS served at
// /{tenant}/discovery/v2.0/keys.
func (i *Issuer) PublicKeys() jwk.Set {
	s, err := i.keys.Clone()
	if err != nil {
		panic("auth: cloning a key set: " + err.Error())
	}
	return s
}

// Lifetime returns how long issued tokens are valid.
func (i *Issuer) Lifetime() time.Duration { return i.lifetime }

// claims is the payload of an issued access token, in the shape of an
// Entra ID v2.0 access token for Microsoft Graph.
type claims struct {
	Aud               string   `json:"aud"`
	Iss               string   `json:"iss"`
	Iat               int64    `json:"iat"`
	Nbf               int64    `json:"nbf"`
	Exp               int64    `json:"exp"`
	AppDisplayName    string   `json:"app_displayname,omitempty"`
	AppID             string   `json:"appid"`
	Azp               string   `json:"azp"`
	Azpacr            string   `json:"azpacr"`
	IDTyp             string   `json:"idtyp"`
	JTI               string   `json:"jti"`
	Name              string   `json:"name,omitempty"`
	OID               string   `json:"oid"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Roles             []string `json:"roles,omitempty"`
	Scp               string   `json:"scp,omitempty"`
	Sub               string   `json:"sub"`
	TID               string   `json:"tid"`
	UPN               string   `json:"upn,omitempty"`
	Ver               string   `json:"ver"`
}

// mint signs a token for app, delegated for user when user is not nil.
func (i *Issuer) mint(app directory.App, user *directory.User, scopes []string, withSecret bool) (string, error) {
	now := i.clock.Now().Truncate(time.Second)
	c := claims{
		Aud: GraphAudience, Iss: IssuerURL(i.base, app.TenantID),
		Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(i.lifetime).Unix(),
		AppDisplayName: app.Name, AppID: app.ClientID, Azp: app.ClientID, Azpacr: "0",
		JTI: guid.New(), TID: app.TenantID, Ver: "2.0",
	}
	if withSecret {
		c.Azpacr = "1"
	}
	if user == nil {
		c.IDTyp = "app"
		c.OID = app.ServicePrincipalID()
		c.Sub = c.OID
		c.Roles = append([]string{}, app.Roles...)
	} else {
		c.IDTyp = "user"
		c.OID = user.ID
		c.Sub = pairwiseSub(app.ClientID, user.ID)
		c.Scp = strings.Join(scopes, " ")
		c.UPN = user.UserPrincipalName
		c.PreferredUsername = user.UserPrincipalName
		c.Name = user.DisplayName
	}
	return i.sign(c)
}

// ChangeTrackingAppID is the application id of "Microsoft Graph Change
// Tracking", which Graph names as the client (appid, azp) in the
// validationTokens of rich change notifications.
const ChangeTrackingAppID = "0bf30f3b-4a52-48df-9a82-234910c4a086"

// ValidationToken mints a validation token for a rich change notification
// sent to appID of tenantID: as Graph's, a JWT whose audience is the
// subscribing app and whose issuer is the tenant's STS
// (https://sts.windows.net/{tenantId}/), signed with this issuer's key (so
// it verifies against the JWKS this server publishes).
func (i *Issuer) ValidationToken(tenantID, appID string) (string, error) {
	now := i.clock.Now().Truncate(time.Second)
	return i.sign(claims{
		Aud: appID, Iss: "https://sts.windows.net/" + tenantID + "/",
		Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(i.lifetime).Unix(),
		AppID: ChangeTrackingAppID, Azp: ChangeTrackingAppID, Azpacr: "2", IDTyp: "app",
		JTI: guid.New(), OID: ChangeTrackingAppID, Sub: ChangeTrackingAppID, TID: tenantID, Ver: "1.0",
	})
}

// sign encodes and signs claims as an RS256 JWT with this issuer's key.
func (i *Issuer) sign(c claims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", presence.Errorf(presence.Internal, "", "auth: encoding token claims: %v", err)
	}
	h := jws.NewHeaders()
	for k, v := range map[string]any{jws.TypeKey: "JWT", jws.KeyIDKey: i.kid} {
		if err := h.Set(k, v); err != nil {
			return "", presence.Errorf(presence.Internal, "", "auth: token header %s: %v", k, err)
		}
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.RS256(), i.signer, jws.WithProtectedHeaders(h)))
	if err != nil {
		return "", presence.Errorf(presence.Internal, "", "auth: signing a token: %v", err)
	}
	return string(tok), nil
}

// AppToken mints an app-only token for a registered application with the
// roles the directory grants it, without checking its secret. For tests and
// tools; clients use the token endpoint.
func (i *Issuer) AppToken(clientID string) (string, error) {
	app, ok := i.dir.App(clientID)
	if !ok {
		return "", presence.Errorf(presence.NotFound, "clientId", "auth: application %q is not in the directory.", clientID)
	}
	return i.mint(app, nil, nil, app.HasSecret())
}

// UserToken mints a delegated token for a user (object id or UPN) of the
// application's tenant, without checking passwords. scopes are Graph scope
// names the directory has consented for the app (any of "Presence.Read",
// "https://graph.microsoft.com/Presence.Read", ".default" forms); none
// means all consented scopes. For tests and tools.
func (i *Issuer) UserToken(clientID, userID string, scopes []string) (string, error) {
	app, ok := i.dir.App(clientID)
	if !ok {
		return "", presence.Errorf(presence.NotFound, "clientId", "auth: application %q is not in the directory.", clientID)
	}
	u, ok := i.dir.UserInTenant(app.TenantID, userID)
	if !ok {
		return "", presence.Errorf(presence.NotFound, "userId", "auth: user %q is not in tenant %s of application %q.", userID, app.TenantID, app.Name)
	}
	if len(scopes) == 0 {
		scopes = []string{GraphAudience + "/.default"}
	}
	granted, oerr := delegatedScopes(app, scopes)
	if oerr != nil {
		return "", presence.Errorf(presence.Forbidden, "scopes", "auth: %s", oerr.desc)
	}
	return i.mint(app, &u, granted, !app.Public)
}
