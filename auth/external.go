package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
)

// ExternalOptions configure the validator of tokens from the issuers
// tenants trust (their own identity providers). Directory is required.
type ExternalOptions struct {
	Directory *directory.Directory
	Clock     clock.Clock
	// Keys keeps fetched key sets across restarts (nil: memory only).
	Keys KeyStore
	// HTTPClient fetches discovery documents and key sets (default: 10 s
	// timeout, https or loopback http only).
	HTTPClient *http.Client
	// MinRefresh and MaxAge: see DefaultMinRefresh and DefaultMaxAge.
	MinRefresh, MaxAge time.Duration
	// Leeway is the clock skew tolerated for exp and nbf (default 5
	// minutes, as Microsoft's token libraries: the issuer's clock is not
	// the server's).
	Leeway time.Duration
	Logger *slog.Logger
}

// External checks tokens issued by the external issuers of tenants
// (directory.Issuer): the signature with the issuer's key, the issuer, an
// accepted audience, the lifetime, and the user the claim names in the
// issuer's tenant. It is the second Authenticator beside the built-in
// Validator; Chain chooses between them by the token's iss.
type External struct {
	dir    *directory.Directory
	clock  clock.Clock
	keys   *keyCache
	leeway time.Duration
	cache  tokenCache
}

// NewExternal builds the validator of external issuers' tokens.
func NewExternal(o ExternalOptions) *External {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Leeway == 0 {
		o.Leeway = 5 * time.Minute
	}
	return &External{dir: o.Directory, clock: o.Clock, leeway: max(o.Leeway, 0),
		keys: newKeyCache(o.Clock, o.HTTPClient, o.Keys, o.MinRefresh, o.MaxAge, o.Logger)}
}

// externalAlgs are the signature algorithms accepted from external
// issuers (never "none", never HMAC: a shared secret is not a public key).
var externalAlgs = map[string]jwa.SignatureAlgorithm{
	"RS256": jwa.RS256(), "RS384": jwa.RS384(), "RS512": jwa.RS512(),
	"PS256": jwa.PS256(), "PS384": jwa.PS384(), "PS512": jwa.PS512(),
	"ES256": jwa.ES256(), "ES384": jwa.ES384(), "ES512": jwa.ES512(),
}

// Validate checks a token of an external issuer; see External.
func (x *External) Validate(raw string) (Principal, error) {
	if p, ok := x.cached(raw); ok {
		return p, nil
	}
	version := x.dir.Version()
	now := x.clock.Now()
	p, nbf, exp, err := x.check(context.Background(), raw, now)
	if err != nil {
		return Principal{}, err
	}
	x.cache.put(raw, p, nbf, exp, version)
	p.CheckedAt = now
	return p, nil
}

// externalClaims is what an external token must or may carry.
type externalClaims map[string]json.RawMessage

func (c externalClaims) str(name string) (string, bool) {
	var s string
	v, ok := c[name]
	if !ok || json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// list reads a claim that is an array of strings or one string of
// space-separated values (Entra's scp), and whether it is there.
func (c externalClaims) list(name string) ([]string, bool) {
	v, ok := c[name]
	if !ok || bytes.Equal(v, []byte("null")) {
		return nil, false
	}
	var arr []string
	if json.Unmarshal(v, &arr) == nil {
		return arr, true
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return strings.Fields(s), true
	}
	return nil, false
}

func (c externalClaims) seconds(name string) (time.Time, bool) {
	var f float64
	v, ok := c[name]
	if !ok || bytes.Equal(v, []byte("null")) || json.Unmarshal(v, &f) != nil {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

func (x *External) check(ctx context.Context, raw string, now time.Time) (_ Principal, nbf, exp time.Time, _ error) {
	fail := func(format string, args ...any) (Principal, time.Time, time.Time, error) {
		return Principal{}, time.Time{}, time.Time{}, unauthenticated(format, args...)
	}
	if len(raw) > MaxTokenLength {
		return fail(failure+"The token is %d characters long; presenced accepts tokens of up to %d.", len(raw), MaxTokenLength)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return fail(failure + "The token is not a JWT.")
	}
	hb, err1 := b64.DecodeString(parts[0])
	pb, err2 := b64.DecodeString(parts[1])
	if err1 != nil || err2 != nil {
		return fail(failure + "The token's header or payload is not base64url without padding.")
	}
	var header struct {
		Alg  string `json:"alg"`
		Kid  string `json:"kid"`
		Typ  string `json:"typ"`
		Crit any    `json:"crit"`
	}
	if json.Unmarshal(hb, &header) != nil {
		return fail(failure + "The token header is not a JSON object.")
	}
	alg, ok := externalAlgs[header.Alg]
	if !ok {
		return fail(failure+"Invalid signature algorithm ('%s'): tokens of external issuers must be signed with RS, PS or ES 256, 384 or 512.", clipString(header.Alg, 20))
	}
	if header.Crit != nil {
		return fail(failure + "The token header has critical extensions (crit), which presenced does not support.")
	}
	var c externalClaims
	if json.Unmarshal(pb, &c) != nil {
		return fail(failure + "The token payload is not a JSON object of claims.")
	}
	iss, _ := c.str("iss")
	tenant, is, ok := x.dir.IssuerOf(iss)
	if !ok {
		return fail("Invalid issuer '%s': no tenant of this server trusts it.", clipString(iss, 200))
	}
	key, err := x.keys.key(ctx, is.Issuer, is.JWKSURI, header.Kid)
	if err != nil {
		if errors.Is(err, errNoKey) {
			return fail(failure+"Invalid signature: the signing key '%s' (kid) is not one of the issuer's keys (%s).", clipString(header.Kid, 60), err)
		}
		return fail(failure+"The issuer's signing keys could not be fetched: %s.", clipString(err.Error(), 300))
	}
	if kalg, ok := key.Algorithm(); ok && kalg.String() != alg.String() {
		return fail(failure+"Invalid signature: the key '%s' is for %s, the token says %s.", clipString(header.Kid, 60), kalg, alg)
	}
	if _, err := jws.Verify([]byte(raw), jws.WithKey(alg, key)); err != nil {
		return fail(failure + "Invalid signature.")
	}

	exp, okE := c.seconds("exp")
	if !okE {
		return fail(failure + "The token has no 'exp' claim (a number of seconds since 1970).")
	}
	nbf, okN := c.seconds("nbf")
	if !okN {
		nbf, _ = c.seconds("iat")
	}
	if !now.Before(exp.Add(x.leeway)) || !nbf.IsZero() && now.Before(nbf.Add(-x.leeway)) {
		return fail("%s", lifetimeFailure(nbf, exp, now, "request a new one from its issuer"))
	}
	auds, _ := c.list("aud")
	if !slices.ContainsFunc(auds, func(a string) bool { return slices.Contains(is.Audiences, a) }) {
		return fail("Invalid audience '%s': the issuer's tokens are accepted for %s.", clipString(strings.Join(auds, " "), 200), strings.Join(is.Audiences, ", "))
	}

	p := Principal{TenantID: tenant.ID, Expires: exp}
	for _, name := range []string{"azp", "appid", "client_id"} {
		if v, ok := c.str(name); ok && v != "" {
			p.ClientID = v
			break
		}
	}
	if p.ClientID == "" {
		return fail(failure + "The token names no application: it has none of 'azp', 'appid', 'client_id'.")
	}
	scopes, delegated := c.list(is.ScopesClaim)
	if idtyp, ok := c.str("idtyp"); ok {
		delegated = idtyp == "user"
	}
	p.Roles, _ = c.list(is.RolesClaim)
	if delegated {
		who, ok := c.str(is.UserClaim)
		if !ok || who == "" {
			return fail(failure+"A delegated token of this issuer must name its user in '%s'.", is.UserClaim)
		}
		u, found := x.dir.UserInTenant(tenant.ID, who)
		if found && is.UserMatch == directory.MatchID && !strings.EqualFold(u.ID, who) || found && is.UserMatch == directory.MatchUPN && !strings.EqualFold(u.UserPrincipalName, who) {
			found = false
		}
		if !found {
			return fail(failure+"The signed-in user '%s' (%s) is not a user of tenant %s.", clipString(who, 120), is.UserClaim, tenant.ID)
		}
		if !u.AccountEnabled {
			return fail(failure+"The signed-in user '%s' (%s) is disabled.", u.ID, is.UserClaim)
		}
		p.Delegated, p.UserID, p.Name, p.Scopes = true, u.ID, u.DisplayName, scopes
	}
	if p.Roles == nil {
		p.Roles = []string{}
	}
	if p.Scopes == nil {
		p.Scopes = []string{}
	}
	return p, nbf, exp, nil
}

// cached is the principal of a token validated before and still valid.
func (x *External) cached(raw string) (Principal, bool) {
	now := x.clock.Now()
	p, ok := x.cache.get(raw, now, x.leeway, x.dir.Version())
	p.CheckedAt = now
	return p, ok
}

// Chain is the server's Authenticator: tokens of an issuer a tenant
// trusts go to External, every other token to the built-in Validator
// (which also explains what is wrong with a token no one issued).
type Chain struct {
	Builtin  *Validator
	External *External
}

// Validate checks a token with the validator its issuer calls for.
func (c Chain) Validate(raw string) (Principal, error) {
	if c.External != nil {
		// The usual request: a token seen before, by either.
		if p, ok := c.Builtin.cached(raw); ok {
			return p, nil
		}
		if p, ok := c.External.cached(raw); ok {
			return p, nil
		}
		if iss, ok := peekIssuer(raw); ok && !strings.HasPrefix(iss, c.Builtin.base+"/") {
			if _, _, trusted := c.External.dir.IssuerOf(iss); trusted {
				return c.External.Validate(raw)
			}
		}
	}
	return c.Builtin.Validate(raw)
}

// Cached is Validate's answer for a token one of the validators took
// before and that is still within its lifetime (the usual request), and
// false for any other, which Validate then checks: the request's token is
// looked up once, not once by Known and again by Validate.
func (c Chain) Cached(raw string) (Principal, bool) {
	if p, ok := c.Builtin.cached(raw); ok {
		return p, true
	}
	if c.External != nil {
		return c.External.cached(raw)
	}
	return Principal{}, false
}

// Known reports whether raw is a token one of the validators took before
// (under the directory they checked it against): BearerTokenKnown's known.
func (c Chain) Known(raw string) bool {
	if c.Builtin.err == nil && c.Builtin.cache.has(raw, c.Builtin.dir.Version()) {
		return true
	}
	return c.External != nil && c.External.cache.has(raw, c.External.dir.Version())
}

// peekIssuer reads a token's "iss" without checking anything, to choose
// its validator: the payload's first "iss" member, by a scan rather than
// a decode (this runs for every token not yet cached).
func peekIssuer(raw string) (string, bool) {
	i := strings.IndexByte(raw, '.')
	if i < 0 {
		return "", false
	}
	j := strings.IndexByte(raw[i+1:], '.')
	if j < 0 || j > MaxTokenLength {
		return "", false
	}
	payload, err := b64.DecodeString(raw[i+1 : i+1+j])
	if err != nil {
		return "", false
	}
	for {
		k := bytes.Index(payload, []byte(`"iss"`))
		if k < 0 {
			return "", false
		}
		rest := bytes.TrimLeft(payload[k+5:], " \t\r\n")
		if len(rest) > 0 && rest[0] == ':' { // a member name, not a value "iss"
			var s string
			if json.NewDecoder(bytes.NewReader(bytes.TrimLeft(rest[1:], " \t\r\n"))).Decode(&s) != nil {
				return "", false
			}
			return s, true
		}
		payload = payload[k+5:]
	}
}
