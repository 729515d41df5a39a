package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/guid"
)

// userGrant serves grant_type=authorization_code and refresh_token: the
// tokens of a user who signed in on the sign-in page. Each answer is a
// delegated access token, an id token when openid was asked, and a new
// refresh token when offline_access was (the one presented is spent).
func (i *Issuer) userGrant(r *http.Request, t directory.Tenant, app directory.App, form url.Values, grant string, hasSecret bool) (*tokenResponse, *oauthError) {
	if i.grants == nil {
		return nil, oerr(http.StatusBadRequest, "unsupported_grant_type", 70003, "This server does not serve the authorization-code flow (it is not configured).")
	}
	if grant == "refresh_token" {
		return i.refreshGrant(r, t, app, form, hasSecret)
	}
	code := form.Get("code")
	if code == "" {
		return nil, oerr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'code'.")
	}
	c, rev, err := i.grants.lookupCode(r.Context(), t.ID, code)
	switch {
	case errors.Is(err, errGrantRedeemed):
		// RFC 6749 §4.1.2: a code used twice may have been stolen; what
		// it gave is revoked.
		if err := i.grants.revokeFamily(r.Context(), c.TenantID, c.UserID, c.Family); err != nil {
			i.log.Warn("revoking the refresh tokens of a replayed code", "err", err)
		}
		return nil, oerr(http.StatusBadRequest, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	case errors.Is(err, errGrantExpired):
		return nil, oerr(http.StatusBadRequest, "invalid_grant", 70008,
			"The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource. (Authorization codes live %s.)", CodeLifetime)
	case errors.Is(err, errGrantUnknown):
		return nil, oerr(http.StatusBadRequest, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid: the provided value for the 'code' parameter is not a valid authorization code of this tenant.")
	case err != nil:
		i.log.Error("reading an authorization code", "err", err)
		return nil, oerr(http.StatusServiceUnavailable, "temporarily_unavailable", 90006, "The service is temporarily unavailable; try again.")
	}
	if !strings.EqualFold(c.ClientID, app.ClientID) {
		return nil, oerr(http.StatusBadRequest, "invalid_grant", 70000, "Provided grant is invalid or malformed: the authorization code was issued to another application.")
	}
	ru := form.Get("redirect_uri")
	if ru == "" {
		return nil, oerr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'redirect_uri'.")
	}
	if ru != c.RedirectURI {
		return nil, oerr(http.StatusBadRequest, "invalid_grant", 50011,
			"The redirect URI '%s' specified in the request does not match the redirect URI '%s' the authorization code was issued for.", clipString(ru, 300), c.RedirectURI)
	}
	if e := i.clientAuth(r, app, c.SPA, hasSecret); e != nil {
		return nil, e
	}
	if e := checkVerifier(c.Challenge, form); e != nil {
		return nil, e
	}
	scopes, e := narrowScopes(app, form.Get("scope"), c.Scopes)
	if e != nil {
		return nil, e
	}
	u, ok := i.dir.UserInTenant(t.ID, c.UserID)
	if !ok {
		return nil, oerr(http.StatusBadRequest, "invalid_grant", 50034, "The user account %s does not exist in the %s directory any more.", c.UserID, asked(r))
	}
	if !u.AccountEnabled {
		return nil, errDisabled()
	}
	family := ""
	if slices.Contains(c.OIDC, "offline_access") {
		family = newFamily()
	}
	if err := i.grants.redeemCode(r.Context(), code, c, rev, family); errors.Is(err, errGrantRedeemed) {
		return nil, oerr(http.StatusBadRequest, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	} else if err != nil {
		i.log.Error("redeeming an authorization code", "err", err)
		return nil, oerr(http.StatusServiceUnavailable, "temporarily_unavailable", 90006, "The service is temporarily unavailable; try again.")
	}
	rr := refreshRecord{TenantID: t.ID, UserID: u.ID, ClientID: app.ClientID, SPA: c.SPA, Secret: hasSecret, Scopes: c.Scopes, OIDC: c.OIDC, AuthTime: c.IssuedAt}
	return i.userTokens(r, app, u, scopes, form.Get("scope"), hasSecret, rr, family, c.Nonce, true, form.Get("client_info") == "1")
}

// refreshGrant spends a refresh token and answers with the next one.
func (i *Issuer) refreshGrant(r *http.Request, t directory.Tenant, app directory.App, form url.Values, hasSecret bool) (*tokenResponse, *oauthError) {
	tok := form.Get("refresh_token")
	if tok == "" {
		return nil, oerr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'refresh_token'.")
	}
	var checked *oauthError
	rr, next, err := i.grants.rotateRefresh(r.Context(), t.ID, tok, func(rr refreshRecord) bool {
		switch {
		case !strings.EqualFold(rr.ClientID, app.ClientID):
			checked = oerr(http.StatusBadRequest, "invalid_grant", 70000, "Provided grant is invalid or malformed: the refresh token was issued to another application.")
		default:
			checked = i.clientAuth(r, app, rr.SPA, hasSecret)
		}
		return checked == nil
	})
	switch {
	case checked != nil:
		return nil, checked
	case errors.Is(err, errGrantReused):
		return nil, oerr(http.StatusBadRequest, "invalid_grant", 50173,
			"The provided grant has expired due to it being revoked, and a fresh auth token is needed: this refresh token was used before (each use returns the next one, and the one used is spent), so its sign-in is revoked. Sign in again.")
	case errors.Is(err, errGrantExpired) && rr.SPA:
		return nil, oerr(http.StatusBadRequest, "invalid_grant", 700084,
			"The refresh token was issued to a single page app (SPA), and therefore has a fixed, limited lifetime of 1.00:00:00, which cannot be extended. It is now expired and a new sign in request must be sent by the SPA to the sign in page. The token was issued on %s.", rr.AuthTime.UTC().Format(time.RFC3339))
	case errors.Is(err, errGrantExpired):
		return nil, oerr(http.StatusBadRequest, "invalid_grant", 700082,
			"The refresh token has expired due to inactivity. The token was issued on %s and was inactive for 90.00:00:00.", rr.AuthTime.UTC().Format(time.RFC3339))
	case errors.Is(err, errGrantUnknown):
		return nil, oerr(http.StatusBadRequest, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid: the refresh token is not one this tenant issued, or its sign-in was revoked (signed out).")
	case err != nil:
		i.log.Error("rotating a refresh token", "err", err)
		return nil, oerr(http.StatusServiceUnavailable, "temporarily_unavailable", 90006, "The service is temporarily unavailable; try again.")
	}
	u, ok := i.dir.UserInTenant(t.ID, rr.UserID)
	if !ok {
		return nil, oerr(http.StatusBadRequest, "invalid_grant", 50034, "The user account %s does not exist in the %s directory any more.", rr.UserID, asked(r))
	}
	if !u.AccountEnabled {
		return nil, errDisabled()
	}
	// Consent is checked again: an operator may have withdrawn a scope.
	granted, e := delegatedScopes(app, rr.Scopes)
	if e != nil {
		return nil, e
	}
	scopes, e := narrowScopes(app, form.Get("scope"), granted)
	if e != nil {
		return nil, e
	}
	resp, e := i.userTokens(r, app, u, scopes, form.Get("scope"), hasSecret, rr, "", "", slices.Contains(rr.OIDC, "openid"), form.Get("client_info") == "1")
	if e != nil {
		return nil, e
	}
	resp.RefreshToken = next
	if rr.SPA {
		resp.RefreshTokenExpiresIn = int64(rr.Expires.Sub(i.clock.Now()) / time.Second)
	}
	return resp, nil
}

// clientAuth checks how a client redeems a code or refresh token, as
// Entra: a single-page app's from the browser (an Origin header) and
// without a secret; any other cross-origin redemption is refused; a
// confidential client authenticates with its secret.
func (i *Issuer) clientAuth(r *http.Request, app directory.App, spa, hasSecret bool) *oauthError {
	origin := r.Header.Get("Origin")
	switch {
	case spa && origin == "":
		return oerr(http.StatusBadRequest, "invalid_request", 9002327,
			"Tokens issued for the 'Single-Page Application' client-type may only be redeemed via cross-origin requests (with an Origin header).")
	case spa && hasSecret:
		return oerr(http.StatusUnauthorized, "invalid_client", 700025,
			"Client is public so neither 'client_assertion' nor 'client_secret' should be presented: the code was issued to a single-page application redirect URI of application '%s'.", app.ClientID)
	case spa:
		return nil
	case origin != "":
		return oerr(http.StatusBadRequest, "invalid_request", 9002326,
			"Cross-origin token redemption is permitted only for the 'Single-Page Application' client-type. Request origin: '%s'.", clipString(origin, 200))
	case !app.Public && !hasSecret:
		return oerr(http.StatusUnauthorized, "invalid_client", 7000218,
			"The request body must contain the following parameter: 'client_assertion' or 'client_secret'. Application '%s' is a confidential client.", app.ClientID)
	}
	return nil
}

// checkVerifier is PKCE's check at the token endpoint (RFC 7636 §4.6).
func checkVerifier(challenge string, form url.Values) *oauthError {
	v, has := form.Get("code_verifier"), form.Has("code_verifier")
	switch {
	case challenge == "" && has:
		return oerr(http.StatusBadRequest, "invalid_grant", 501481, "A code_verifier was sent, but the authorization request had no code_challenge.")
	case challenge == "":
		return nil
	case !has:
		return oerr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'code_verifier'.")
	}
	h := sha256.Sum256([]byte(v))
	got := base64.RawURLEncoding.EncodeToString(h[:])
	if len(v) < 43 || len(v) > 128 || strings.IndexFunc(v, func(c rune) bool { return !verifierChar(c) }) >= 0 ||
		subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) != 1 {
		return oerr(http.StatusBadRequest, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
	}
	return nil
}

func verifierChar(c rune) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("-._~", c)
}

// narrowScopes is the scope parameter of a redemption: none keeps what was
// granted, named ones must be among them.
func narrowScopes(app directory.App, scope string, granted []string) ([]string, *oauthError) {
	if strings.TrimSpace(scope) == "" {
		return granted, nil
	}
	asked, e := delegatedScopes(app, strings.Fields(scope))
	if e != nil {
		return nil, e
	}
	for _, s := range asked {
		if !slices.Contains(granted, s) {
			return nil, oerr(http.StatusBadRequest, "invalid_scope", 70011,
				"The provided value for the input parameter 'scope' is not valid. The scope %s was not granted at sign-in (granted: %s).", s, orNone(granted))
		}
	}
	return asked, nil
}

// userTokens mints the tokens of a user grant and starts the refresh
// token family when it is new; asked is the request's scope parameter
// (see scopeAnswer).
func (i *Issuer) userTokens(r *http.Request, app directory.App, u directory.User, scopes []string, asked string, hasSecret bool, rr refreshRecord, family, nonce string, idToken, clientInfo bool) (*tokenResponse, *oauthError) {
	fail := oerr(http.StatusInternalServerError, "server_error", 50000, "Issuing the token failed.")
	tok, err := i.mint(app, &u, scopes, hasSecret)
	if err != nil {
		return nil, fail
	}
	resp := i.response(tok, scopeAnswer(asked, scopes))
	if family != "" {
		rr.Expires = rr.AuthTime.Add(RefreshInactivity)
		if rr.SPA {
			rr.Expires = rr.AuthTime.Add(SPARefreshLifetime)
			resp.RefreshTokenExpiresIn = int64(rr.Expires.Sub(i.clock.Now()) / time.Second)
		}
		if resp.RefreshToken, err = i.grants.issueRefresh(r.Context(), family, rr); err != nil {
			i.log.Error("storing a refresh token", "err", err)
			return nil, fail
		}
	}
	if clientInfo {
		ci, _ := json.Marshal(map[string]string{"uid": u.ID, "utid": app.TenantID})
		resp.ClientInfo = base64.RawURLEncoding.EncodeToString(ci)
	}
	if idToken && slices.Contains(rr.OIDC, "openid") {
		if resp.IDToken, err = i.idToken(app, u, rr, family, nonce); err != nil {
			return nil, fail
		}
	}
	return resp, nil
}

// idClaims are an id token's claims (OpenID Connect Core §2, as Entra's
// v2.0 id tokens): for the application (aud), about the user.
type idClaims struct {
	Aud               string `json:"aud"`
	Iss               string `json:"iss"`
	Iat               int64  `json:"iat"`
	Nbf               int64  `json:"nbf"`
	Exp               int64  `json:"exp"`
	AuthTime          int64  `json:"auth_time,omitempty"`
	Name              string `json:"name,omitempty"`
	Nonce             string `json:"nonce,omitempty"`
	OID               string `json:"oid"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	SID               string `json:"sid,omitempty"`
	Sub               string `json:"sub"`
	TID               string `json:"tid"`
	UTI               string `json:"uti"`
	Ver               string `json:"ver"`
}

// idToken signs an id token. sid names the sign-in (its refresh token
// family): the end_session_endpoint revokes it from an id_token_hint.
func (i *Issuer) idToken(app directory.App, u directory.User, rr refreshRecord, sid, nonce string) (string, error) {
	now := i.clock.Now().Truncate(time.Second)
	if sid == "" {
		sid = rr.family
	}
	c := idClaims{Aud: app.ClientID, Iss: IssuerURL(i.base, app.TenantID), Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(i.lifetime).Unix(),
		AuthTime: rr.AuthTime.Unix(), Nonce: nonce, OID: u.ID, SID: sid, Sub: pairwiseSub(app.ClientID, u.ID), TID: app.TenantID, UTI: guid.New(), Ver: "2.0"}
	if slices.Contains(rr.OIDC, "profile") {
		c.Name, c.PreferredUsername = u.DisplayName, u.UserPrincipalName
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	h := jws.NewHeaders()
	for k, v := range map[string]any{jws.TypeKey: "JWT", jws.KeyIDKey: i.kid} {
		if err := h.Set(k, v); err != nil {
			return "", err
		}
	}
	out, err := jws.Sign(payload, jws.WithKey(jwa.RS256(), i.signer, jws.WithProtectedHeaders(h)))
	return string(out), err
}

// idTokenHint reads an id token this issuer signed for tenantID (expired
// or not: a hint names who signs out, it authorises nothing else).
func (i *Issuer) idTokenHint(raw, tenantID string) (idClaims, bool) {
	payload, err := jws.Verify([]byte(raw), jws.WithKey(jwa.RS256(), i.pub))
	if err != nil {
		return idClaims{}, false
	}
	var c idClaims
	if json.Unmarshal(payload, &c) != nil || c.TID != tenantID || c.Iss != IssuerURL(i.base, tenantID) || c.Ver != "2.0" || c.UTI == "" {
		return idClaims{}, false
	}
	return c, true
}

// pairwiseSub is the "sub" of a user's tokens for an application.
func pairwiseSub(clientID, userID string) string {
	h := sha256.Sum256([]byte(clientID + "/" + userID))
	return base64.RawURLEncoding.EncodeToString(h[:])
}
