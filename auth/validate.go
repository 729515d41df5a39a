package auth

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/presence"
)

// Principal is who a valid token speaks for. Validate may hand the same
// Scopes and Roles slices to every request with the same token: treat
// them as read-only.
type Principal struct {
	TenantID string // the token's tid
	ClientID string // the calling application (azp / appid)
	UserID   string // the signed-in user's object id; empty for app tokens
	// Delegated is true for a token on behalf of a signed-in user (scp),
	// false for an application acting as itself (roles).
	Delegated bool
	Scopes    []string // delegated scopes (scp), for delegated tokens
	Roles     []string // application permissions (roles), for app tokens
	Name      string   // the user's display name, or the application's name
	// Expires is when the token expires (its exp): what outlives a request,
	// such as a live stream, ends then.
	Expires time.Time
	// CheckedAt is the server's clock when the token was checked: the
	// instant the request is counted at (throttling), so that the request
	// path reads the clock once for both.
	CheckedAt time.Time
}

// MaxTokenLength is the longest access token Validate looks at.
const MaxTokenLength = 16 << 10

// ValidatorOptions configure a Validator.
type ValidatorOptions struct {
	// Issuer supplies the verification keys (its PublicKeys) and, when
	// BaseURL is empty, the base URL. Either Issuer or Keys is required.
	Issuer *Issuer
	// Keys are the verification keys when there is no Issuer: RSA public
	// keys, each with a "kid".
	Keys jwk.Set
	// Directory is where tenants, apps and users are checked. Required.
	Directory *directory.Directory
	// Clock is "now" for exp and nbf. Nil means clock.Real.
	Clock clock.Clock
	// BaseURL is the server's public URL; a token's iss must be
	// BaseURL/{tid}/v2.0.
	BaseURL string
	// Leeway is the clock skew tolerated for exp and nbf. Zero (the
	// default) checks them exactly: issuer and validator share one clock.
	Leeway time.Duration
}

// Validator checks access tokens. It is immutable and safe for concurrent use.
type Validator struct {
	keys   map[string]*rsa.PublicKey // kid → key
	dir    *directory.Directory
	clock  clock.Clock
	base   string
	leeway time.Duration
	err    error // a configuration error, returned by every Validate
	cache  tokenCache
}

// NewValidator builds a Validator. A configuration mistake (no keys, no
// directory) makes every Validate fail with an Internal error saying so.
func NewValidator(o ValidatorOptions) *Validator {
	v := &Validator{keys: map[string]*rsa.PublicKey{}, dir: o.Directory, clock: o.Clock, base: o.BaseURL, leeway: max(o.Leeway, 0)}
	if v.clock == nil {
		v.clock = clock.Real{}
	}
	keys := o.Keys
	if o.Issuer != nil {
		keys = o.Issuer.PublicKeys()
		if v.base == "" {
			v.base = o.Issuer.BaseURL()
		}
	}
	switch {
	case v.dir == nil:
		v.err = presence.Errorf(presence.Internal, "", "auth: the token validator has no directory.")
		return v
	case keys == nil || keys.Len() == 0:
		v.err = presence.Errorf(presence.Internal, "", "auth: the token validator has no keys.")
		return v
	case v.base == "":
		v.err = presence.Errorf(presence.Internal, "", "auth: the token validator has no base URL.")
		return v
	}
	for k := 0; k < keys.Len(); k++ {
		key, _ := keys.Key(k)
		kid, ok := key.KeyID()
		var pub rsa.PublicKey
		if !ok || jwk.Export(key, &pub) != nil {
			v.err = presence.Errorf(presence.Internal, "", "auth: verification key %d is not an RSA public key with a kid.", k)
			return v
		}
		v.keys[kid] = &pub
	}
	return v
}

func unauthenticated(format string, args ...any) error {
	return presence.Errorf(presence.Unauthenticated, "", format, args...)
}

const failure = "Access token validation failure. "

var b64 = base64.RawURLEncoding.Strict()

// tokenClaims is what Validate reads from a verified payload.
type tokenClaims struct {
	Aud   json.RawMessage `json:"aud"`
	Iss   *string         `json:"iss"`
	Exp   json.RawMessage `json:"exp"`
	Nbf   json.RawMessage `json:"nbf"`
	Iat   json.RawMessage `json:"iat"`
	Sub   *string         `json:"sub"`
	JTI   *string         `json:"jti"`
	AppID *string         `json:"appid"`
	Azp   *string         `json:"azp"`
	IDTyp *string         `json:"idtyp"`
	OID   *string         `json:"oid"`
	Roles []string        `json:"roles"`
	Scp   *string         `json:"scp"`
	TID   *string         `json:"tid"`
	Name  string          `json:"name"`
}

// Validate checks a raw access token and returns its principal. Checks, in
// order: well-formed compact JWS; alg RS256 and a known kid; signature; the
// claims' JSON types; exp and nbf against the clock; aud is Microsoft
// Graph; tid is a tenant of the directory and iss is BaseURL/{tid}/v2.0;
// the app (azp or appid) is registered in that tenant; for a delegated
// token (idtyp "user", or scp without idtyp) oid is a user of that tenant,
// for an app token oid is the app's service principal. Every failure is an
// Unauthenticated *presence.Error whose message says which check failed.
func (v *Validator) Validate(raw string) (Principal, error) {
	if v.err != nil {
		return Principal{}, v.err
	}
	if raw == "" {
		return Principal{}, unauthenticated("Access token is empty.")
	}
	version := v.dir.Version()
	now := v.clock.Now()
	if p, ok := v.cache.get(raw, now, v.leeway, version); ok {
		p.CheckedAt = now
		return p, nil
	}
	p, nbf, exp, err := v.validate(raw)
	if err != nil {
		return Principal{}, err
	}
	v.cache.put(raw, p, nbf, exp, version)
	p.CheckedAt = now
	return p, nil
}

// cached is the principal of a token validated before and still valid.
func (v *Validator) cached(raw string) (Principal, bool) {
	if v.err != nil {
		return Principal{}, false
	}
	now := v.clock.Now()
	p, ok := v.cache.get(raw, now, v.leeway, v.dir.Version())
	p.CheckedAt = now
	return p, ok
}

// validate checks a token in full and returns its principal and lifetime.
func (v *Validator) validate(raw string) (_ Principal, nbf, exp time.Time, _ error) {
	p, tok, err := v.check(raw)
	if err != nil {
		return Principal{}, nbf, exp, err
	}
	nbf, _ = tok.NotBefore()
	exp, _ = tok.Expiration()
	p.Expires = exp
	return p, nbf, exp, nil
}

func (v *Validator) check(raw string) (Principal, jwt.Token, error) {
	if len(raw) > MaxTokenLength {
		return Principal{}, nil, unauthenticated(failure+"The token is %d characters long; presenced accepts tokens of up to %d.", len(raw), MaxTokenLength)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return Principal{}, nil, unauthenticated(failure+"The token is not a JWT: a JWT is three base64url parts separated by '.' (header.payload.signature); this has %d part(s).", len(parts))
	}
	var header struct {
		Alg  *string `json:"alg"`
		Kid  *string `json:"kid"`
		Typ  *string `json:"typ"`
		Crit any     `json:"crit"`
	}
	for n, p := range parts {
		if _, err := b64.DecodeString(p); err != nil || p == "" {
			return Principal{}, nil, unauthenticated(failure+"The token's %s is not base64url without padding.", [...]string{"header", "payload", "signature"}[n])
		}
	}
	hb, _ := b64.DecodeString(parts[0])
	if err := json.Unmarshal(hb, &header); err != nil {
		return Principal{}, nil, unauthenticated(failure + "The token header is not a JSON object with string members alg, kid and typ.")
	}
	if header.Alg == nil || *header.Alg != "RS256" {
		alg := "none given"
		if header.Alg != nil {
			alg = fmt.Sprintf("'%s'", clipString(*header.Alg, 20))
		}
		return Principal{}, nil, unauthenticated(failure+"Invalid signature algorithm (%s): tokens must be signed with RS256.", alg)
	}
	if header.Typ != nil && !strings.EqualFold(*header.Typ, "JWT") && !strings.EqualFold(*header.Typ, "at+jwt") {
		return Principal{}, nil, unauthenticated(failure+"The token type (typ) is '%s'; an access token has typ 'JWT'.", clipString(*header.Typ, 20))
	}
	if header.Crit != nil {
		return Principal{}, nil, unauthenticated(failure + "The token header has critical extensions (crit), which presenced does not support.")
	}
	if header.Kid == nil {
		return Principal{}, nil, unauthenticated(failure + "The token header has no key id (kid).")
	}
	key, ok := v.keys[*header.Kid]
	if !ok {
		return Principal{}, nil, unauthenticated(failure+"Invalid signature: the signing key '%s' (kid) is not one of this server's keys (see %s/common/discovery/v2.0/keys).", clipString(*header.Kid, 60), v.base)
	}
	payload, err := jws.Verify([]byte(raw), jws.WithKey(jwa.RS256(), key))
	if err != nil {
		return Principal{}, nil, unauthenticated(failure + "Invalid signature.")
	}

	var c tokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return Principal{}, nil, unauthenticated(failure+"The claim '%s' has the wrong JSON type (%s).", te.Field, te.Value)
		}
		return Principal{}, nil, unauthenticated(failure + "The token payload is not a JSON object of claims.")
	}
	for _, req := range []struct {
		name string
		ok   bool
	}{{"exp", len(c.Exp) > 0}, {"nbf", len(c.Nbf) > 0}, {"iss", c.Iss != nil}, {"aud", len(c.Aud) > 0}, {"tid", c.TID != nil}, {"oid", c.OID != nil}} {
		if !req.ok {
			return Principal{}, nil, unauthenticated(failure+"The token has no '%s' claim.", req.name)
		}
	}

	for _, n := range []struct {
		name string
		raw  json.RawMessage
	}{{"exp", c.Exp}, {"nbf", c.Nbf}, {"iat", c.Iat}} {
		var f float64
		if len(n.raw) > 0 && json.Unmarshal(n.raw, &f) != nil {
			return Principal{}, nil, unauthenticated(failure+"The claim '%s' must be a number of seconds since 1970-01-01T00:00:00Z.", n.name)
		}
	}
	if err := checkAudience(c.Aud); err != nil {
		return Principal{}, nil, err
	}

	// Lifetime: jwx compares exp and nbf with the injected clock.
	tok, err := jwt.Parse(payload, jwt.WithVerify(false), jwt.WithValidate(false))
	if err != nil {
		return Principal{}, nil, unauthenticated(failure+"The token's registered claims are malformed: %s.", jwtReason(err))
	}
	if err := jwt.Validate(tok, jwt.WithClock(v.clock), jwt.WithAcceptableSkew(v.leeway), jwt.WithResetValidators(true),
		jwt.WithValidator(jwt.IsExpirationValid()), jwt.WithValidator(jwt.IsNbfValid())); err != nil {
		exp, _ := tok.Expiration()
		nbf, _ := tok.NotBefore()
		return Principal{}, nil, unauthenticated("%s", lifetimeFailure(nbf, exp, v.clock.Now(), "request a new one from the token endpoint"))
	}

	tid := *c.TID
	tenant, ok := v.dir.Tenant(tid)
	if !ok || tenant.ID != tid {
		return Principal{}, nil, unauthenticated("Invalid issuer: the token's tenant (tid) '%s' is not a tenant of this server.", clipString(tid, 60))
	}
	if want := IssuerURL(v.base, tid); *c.Iss != want {
		return Principal{}, nil, unauthenticated("Invalid issuer '%s': tokens of tenant %s must have iss '%s'.", clipString(*c.Iss, 200), tid, want)
	}

	var clientID string
	switch {
	case c.Azp != nil && c.AppID != nil && *c.Azp != *c.AppID:
		return Principal{}, nil, unauthenticated(failure+"The claims azp '%s' and appid '%s' name different applications.", clipString(*c.Azp, 60), clipString(*c.AppID, 60))
	case c.Azp != nil:
		clientID = *c.Azp
	case c.AppID != nil:
		clientID = *c.AppID
	default:
		return Principal{}, nil, unauthenticated(failure + "The token names no application: it has neither 'azp' nor 'appid'.")
	}
	app, ok := v.dir.App(clientID)
	if !ok || app.ClientID != clientID {
		return Principal{}, nil, unauthenticated(failure+"The application '%s' (azp) is not registered in this server's directory.", clipString(clientID, 60))
	}
	if app.TenantID != tid {
		return Principal{}, nil, unauthenticated(failure+"The application '%s' is registered in tenant %s, not in the token's tenant %s.", clientID, app.TenantID, tid)
	}

	delegated := c.Scp != nil
	if c.IDTyp != nil {
		switch *c.IDTyp {
		case "user":
			delegated = true
		case "app":
			delegated = false
		default:
			return Principal{}, nil, unauthenticated(failure+"The token type claim idtyp is '%s'; it must be 'app' or 'user'.", clipString(*c.IDTyp, 20))
		}
	}
	p := Principal{TenantID: tid, ClientID: clientID, Delegated: delegated}
	if delegated {
		if c.Scp == nil {
			return Principal{}, nil, unauthenticated(failure + "A delegated token (idtyp 'user') must have an 'scp' claim.")
		}
		u, ok := v.dir.UserInTenant(tid, *c.OID)
		if !ok || u.ID != *c.OID {
			return Principal{}, nil, unauthenticated(failure+"The signed-in user '%s' (oid) is not a user of tenant %s.", clipString(*c.OID, 60), tid)
		}
		if !u.AccountEnabled {
			return Principal{}, nil, unauthenticated(failure+"The signed-in user '%s' (oid) is disabled.", u.ID)
		}
		p.UserID = u.ID
		p.Name = u.DisplayName
		p.Scopes = strings.Fields(*c.Scp)
		p.Roles = slices.Clone(c.Roles)
	} else {
		if c.Scp != nil {
			return Principal{}, nil, unauthenticated(failure + "An application token (idtyp 'app') must not have an 'scp' claim.")
		}
		if sp := app.ServicePrincipalID(); *c.OID != sp {
			return Principal{}, nil, unauthenticated(failure+"The application token's oid '%s' is not the service principal of application %s (%s).", clipString(*c.OID, 60), clientID, sp)
		}
		p.Name = app.Name
		p.Roles = slices.Clone(c.Roles)
	}
	if p.Roles == nil {
		p.Roles = []string{}
	}
	if p.Scopes == nil {
		p.Scopes = []string{}
	}
	return p, tok, nil
}

func jwtReason(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return clipString(s, 120)
}

func checkAudience(raw json.RawMessage) error {
	var auds []string
	var one string
	if json.Unmarshal(raw, &one) == nil {
		auds = []string{one}
	} else if json.Unmarshal(raw, &auds) != nil {
		return unauthenticated(failure + "The claim 'aud' must be a string or an array of strings.")
	}
	for _, a := range auds {
		if a == GraphAudience || a == GraphAudience+"/" || strings.EqualFold(a, GraphResourceID) {
			return nil
		}
	}
	return unauthenticated("Invalid audience '%s': presenced accepts tokens for Microsoft Graph, with aud '%s' or '%s'.",
		clipString(strings.Join(auds, " "), 200), GraphAudience, GraphResourceID)
}

// BearerToken returns the access token of an "Authorization: Bearer <token>"
// header (RFC 6750; the scheme is case-insensitive). A missing header or an
// empty token is "Access token is empty."; another scheme, more than one
// Authorization header or characters that cannot be in a token are each
// an Unauthenticated error that says so.
func BearerToken(r *http.Request) (string, error) { return BearerTokenKnown(r, nil) }

// BearerTokenKnown is BearerToken that does not scan again the characters
// of a token known(tok) says a validator took before (Chain.Known): every
// token a validator sees came through this scan, so a known one passed it
// and would again, and the scan of a token's ~1 KB was half a microsecond
// of every request.
func BearerTokenKnown(r *http.Request, known func(string) bool) (string, error) {
	tok, err := BearerTokenUnchecked(r)
	if err != nil {
		return "", err
	}
	if known != nil && known(tok) {
		return tok, nil
	}
	if err := CheckTokenChars(tok); err != nil {
		return "", err
	}
	return tok, nil
}

// BearerTokenUnchecked is the first half of BearerToken: the token of the
// request's one "Authorization: Bearer <token>" header, or the error that
// says why there is none, without the scan of the token's characters
// (CheckTokenChars, the second half). A caller that finds the token among
// those a validator took before (they all passed that scan) need not
// scan it again; any other must, before anything else of it is read.
func BearerTokenUnchecked(r *http.Request) (string, error) {
	hs := r.Header["Authorization"] // the canonical key read directly: Values checks and canonicalises it a call
	if len(hs) == 0 {
		// Graph's words, then why and what to do: the Graph SDKs' Azure
		// authentication provider attaches the token only to the hosts it
		// allows (Graph's own by default), so an SDK pointed at this
		// server with only its base URL changed sends no header at all.
		return "", unauthenticated("Access token is empty. The request has no Authorization header: send 'Authorization: Bearer <access token>'." +
			" A Graph SDK sends it only to the hosts its authentication provider allows (Microsoft Graph's by default): add this server's host to them.")
	}
	if len(hs) > 1 {
		return "", unauthenticated("The request has %d Authorization headers; send one, 'Authorization: Bearer <access token>'.", len(hs))
	}
	h := trimBlanks(hs[0])
	if h == "" {
		return "", unauthenticated("Access token is empty.")
	}
	scheme, rest, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", unauthenticated("The Authorization header uses the '%s' scheme; presenced expects 'Authorization: Bearer <access token>'.", clipString(printableOnly(scheme), 30))
	}
	tok := strings.TrimLeft(rest, " ")
	if tok == "" {
		return "", unauthenticated("Access token is empty.")
	}
	return tok, nil
}

// CheckTokenChars is BearerToken's second half: it rejects a token with a
// character no access token has, or with '=' anywhere but at its end.
func CheckTokenChars(tok string) error {
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !tokenChar[c] {
			if c == ' ' || c == '\t' {
				return unauthenticated("The Authorization header has text after the access token; it must be exactly 'Bearer <access token>'.")
			}
			return unauthenticated("The access token in the Authorization header contains the character %q, which cannot be in a token.", rune(c))
		}
	}
	if strings.TrimRight(tok, "=") == "" {
		return unauthenticated("The access token in the Authorization header is only '='.")
	}
	if i := strings.IndexByte(tok, '='); i >= 0 && strings.Trim(tok[i:], "=") != "" {
		return unauthenticated("The access token in the Authorization header has '=' inside it; '=' may only end a token.")
	}
	return nil
}

// trimBlanks is strings.Trim(s, " \t") without building the cutset's
// table on every request (measured ~0.2 µs of a GET).
func trimBlanks(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// tokenChar marks the bytes of RFC 6750's b64token: letters, digits and
// -._~+/= (a table: this loop runs over every byte of every request's token,
// ~1 KB, and the chain of comparisons was a third of a GET's handler time).
var tokenChar = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/=", byte(c)) >= 0
	}
	return t
}()

func printableOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// lifetimeFailure is the message of a token refused for its lifetime:
// Graph's words ("Access token has expired or is not yet valid."), then
// when it is valid and the server's time, then which of the two it is and
// what to do — for an expired token, renew (how is the caller's: renew);
// for one not yet valid, the issuer's clock runs ahead of the server's.
func lifetimeFailure(nbf, exp, now time.Time, renew string) string {
	msg := fmt.Sprintf("Access token has expired or is not yet valid. It is valid from %s until %s; the server time is %s.",
		nbf.UTC().Format(time.RFC3339), exp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	if !exp.IsZero() && !now.Before(exp) {
		return msg + " It has expired: " + renew + "."
	}
	return msg + " It is not valid yet: the clock of the issuer that signed it is ahead of this server's."
}
