package auth

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/guid"
)

// The authorization-code flow's first leg (OAuth 2.0 §4.1, PKCE RFC 7636,
// OpenID Connect Core): GET /{tenant}/oauth2/v2.0/authorize checks the
// request and shows the sign-in page; POST (the page's form) checks the
// password — behind the smart lockout and the token rate limit, as the
// password grant — and sends a code to the application's redirect URI.
// There is no single sign-on session: every authorize signs in (no cookie
// is set), and prompt=none answers login_required.

// maxParam bounds each authorize parameter (state, nonce, login_hint…):
// they are echoed into pages and redirects.
const maxParam = 2048

// authRequest is a checked authorization request.
type authRequest struct {
	tenant       directory.Tenant
	app          directory.App
	redirectURI  string
	kind         directory.RedirectKind
	responseMode string // query, fragment or form_post
	state, nonce string
	scope        string   // as asked, for the sign-in form
	scopes       []string // the Graph scopes granted
	oidc         []string // OpenID scopes asked: openid, profile, email, offline_access
	challenge    string
	method       string
	loginHint    string
}

// params are the request's parameters that the sign-in form carries over
// to its POST.
func (q *authRequest) params() url.Values {
	v := url.Values{"client_id": {q.app.ClientID}, "response_type": {"code"}, "redirect_uri": {q.redirectURI},
		"response_mode": {q.responseMode}, "scope": {q.scope}}
	for k, x := range map[string]string{"state": q.state, "nonce": q.nonce, "code_challenge": q.challenge, "code_challenge_method": q.method} {
		if x != "" {
			v.Set(k, x)
		}
	}
	return v
}

func (i *Issuer) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	if i.grants == nil {
		i.writeError(w, r, oerr(http.StatusBadRequest, "unsupported_response_type", 70000,
			"This server does not serve interactive sign-in (the authorization-code flow is not configured). Get tokens from POST %s/{tenant}/oauth2/v2.0/token with grant_type=client_credentials or grant_type=password.", i.base))
		return
	}
	if !i.getOrPost(w, r) {
		return
	}
	if ok, secs := i.rateOK(r); !ok {
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		i.errorPage(w, r, oerr(http.StatusTooManyRequests, "temporarily_unavailable", 90055,
			"Too many sign-in requests from this address. Try again in %d seconds.", secs))
		return
	}
	t, params, e := i.browserRequest(w, r)
	if e != nil {
		i.errorPage(w, r, e)
		return
	}
	q, page, redirect := i.checkAuthorize(r, t, params)
	switch {
	case page != nil:
		i.errorPage(w, r, page)
		return
	case redirect != nil:
		i.respond(w, r, q, errorParams(r, i, redirect, q.state))
		return
	}
	if r.Method == http.MethodGet {
		i.signInPage(w, q, params.Get("login_hint"), "", http.StatusOK)
		return
	}
	u, e := i.checkPassword(r, t, params.Get("login"), params.Get("passwd"))
	if e != nil {
		// Wrong credentials are said on the page, as Entra's; the
		// application hears nothing until the user signs in.
		i.signInPage(w, q, params.Get("login"), e.desc, http.StatusOK)
		return
	}
	code, err := i.grants.issueCode(r.Context(), codeRecord{TenantID: t.ID, UserID: u.ID, ClientID: q.app.ClientID, RedirectURI: q.redirectURI,
		SPA: q.kind == directory.RedirectSPA, Scopes: q.scopes, OIDC: q.oidc, Nonce: q.nonce, Challenge: q.challenge})
	if err != nil {
		i.log.Error("storing an authorization code", "err", err)
		i.respond(w, r, q, errorParams(r, i, oerr(http.StatusInternalServerError, "server_error", 50000, "Issuing the authorization code failed; try again."), q.state))
		return
	}
	out := url.Values{"code": {code}}
	if q.state != "" {
		out.Set("state", q.state)
	}
	i.respond(w, r, q, out)
}

// getOrPost answers a method the browser endpoints do not take on a page.
func (i *Issuer) getOrPost(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodPost {
		return true
	}
	w.Header().Set("Allow", "GET, POST")
	i.errorPage(w, r, oerr(http.StatusMethodNotAllowed, "invalid_request", 900561,
		"The endpoint only accepts GET and POST requests. Received a %s request.", r.Method))
	return false
}

// browserRequest resolves the tenant of a browser endpoint and reads its
// parameters: the query of a GET, the form of a POST.
func (i *Issuer) browserRequest(w http.ResponseWriter, r *http.Request) (directory.Tenant, url.Values, *oauthError) {
	t, e := i.tenant(r, "invalid_tenant")
	if e != nil {
		return t, nil, e
	}
	if r.Method == http.MethodPost {
		form, e := readForm(w, r)
		return t, form, e
	}
	return t, r.URL.Query(), nil
}

// checkAuthorize checks an authorization request. A fault of the client
// or redirect URI is answered on a page of this server (page): sending it
// to an unchecked redirect URI would make the server an open redirector.
// Any other fault goes to the redirect URI (redirect), as OAuth says.
func (i *Issuer) checkAuthorize(r *http.Request, t directory.Tenant, p url.Values) (q *authRequest, page, redirect *oauthError) {
	for k, v := range p {
		if len(v) > 1 {
			return nil, oerr(http.StatusBadRequest, "invalid_request", 90015, "Parameter '%s' appears %d times in the request; each parameter may appear once.", clipString(k, 50), len(v)), nil
		}
		if len(v[0]) > maxParam {
			return nil, oerr(http.StatusBadRequest, "invalid_request", 90015, "Parameter '%s' is longer than %d characters.", clipString(k, 50), maxParam), nil
		}
	}
	clientID := p.Get("client_id")
	if clientID == "" {
		return nil, oerr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'."), nil
	}
	app, ok := i.dir.App(clientID)
	if !directory.IsGUID(strings.ToLower(clientID)) || !ok || app.TenantID != t.ID {
		return nil, oerr(http.StatusBadRequest, "unauthorized_client", 700016,
			"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application is not registered in this tenant on this server (presenced admin app list --tenant TENANT lists the ones that are) or the request was sent to the wrong tenant.",
			clipString(clientID, 60), asked(r)), nil
	}
	redirectURI := p.Get("redirect_uri")
	if redirectURI == "" {
		return nil, oerr(http.StatusBadRequest, "invalid_request", 900971, "No reply address provided: the request must contain 'redirect_uri', one of the redirect URIs registered for application '%s' (%s).", app.Name, app.ClientID), nil
	}
	kind, ok := app.RedirectURI(redirectURI)
	if !ok {
		return nil, oerr(http.StatusBadRequest, "invalid_request", 50011,
			"The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'. Make sure the redirect URI sent in the request matches one of the application's redirect URIs, or register it (presenced admin app set %s --spa-redirect-uri URI, or --redirect-uri URI for a web app).",
			clipString(redirectURI, 300), app.ClientID, app.ClientID), nil
	}
	q = &authRequest{tenant: t, app: app, redirectURI: redirectURI, kind: kind, state: p.Get("state"), nonce: p.Get("nonce"),
		loginHint: p.Get("login_hint"), challenge: p.Get("code_challenge"), method: p.Get("code_challenge_method"), responseMode: "query"}
	switch m := p.Get("response_mode"); m {
	case "", "query":
	case "fragment", "form_post":
		q.responseMode = m
	default:
		return q, nil, oerr(http.StatusBadRequest, "invalid_request", 70007, "The response_mode '%s' is not supported; use query, fragment or form_post.", clipString(m, 40))
	}
	switch rt := p.Get("response_type"); rt {
	case "code":
	case "":
		return q, nil, oerr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'response_type'.")
	default:
		return q, nil, oerr(http.StatusBadRequest, "unsupported_response_type", 70005,
			"response_type '%s' is not supported: presenced serves the authorization-code flow, response_type=code (with PKCE); the implicit and hybrid flows are not served.", clipString(rt, 40))
	}
	switch prompt := p.Get("prompt"); prompt {
	case "", "login", "select_account", "consent":
	case "none":
		return q, nil, oerr(http.StatusBadRequest, "login_required", 50058,
			"A silent sign-in request was sent but no user is signed in: presenced keeps no sign-in session (it sets no cookie). Sign in interactively, or renew tokens with the refresh token (scope offline_access).")
	default:
		return q, nil, oerr(http.StatusBadRequest, "invalid_request", 90023, "prompt '%s' is not supported; use login, select_account, consent or none.", clipString(prompt, 40))
	}
	q.scope = p.Get("scope")
	if strings.TrimSpace(q.scope) == "" {
		return q, nil, oerr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
	}
	fields := strings.Fields(q.scope)
	for _, s := range fields {
		if k := slices.IndexFunc(oidcScopes, func(o string) bool { return strings.EqualFold(o, s) }); k >= 0 && !slices.Contains(q.oidc, oidcScopes[k]) {
			q.oidc = append(q.oidc, oidcScopes[k])
		}
	}
	scopes, e := delegatedScopes(app, fields)
	if e != nil {
		return q, nil, e
	}
	q.scopes = scopes
	return q, nil, checkChallenge(q)
}

// checkChallenge applies PKCE's rules: S256 only (plain proves nothing a
// code thief does not have), a challenge of the right size, and one is
// required of single-page apps and public clients, which cannot keep a
// secret to bind the code to.
func checkChallenge(q *authRequest) *oauthError {
	if q.challenge == "" {
		if q.method != "" {
			return oerr(http.StatusBadRequest, "invalid_request", 50147, "code_challenge_method is given without a code_challenge.")
		}
		switch {
		case q.kind == directory.RedirectSPA:
			return oerr(http.StatusBadRequest, "invalid_request", 9002325, "Proof Key for Code Exchange is required for cross-origin authorization code redemption: a single-page application must send code_challenge with code_challenge_method=S256.")
		case q.app.Public:
			return oerr(http.StatusBadRequest, "invalid_request", 9002325, "Proof Key for Code Exchange is required: public client '%s' cannot authenticate when it redeems the code, so it must send code_challenge with code_challenge_method=S256.", q.app.Name)
		}
		return nil
	}
	switch q.method {
	case "S256":
	case "", "plain":
		return oerr(http.StatusBadRequest, "invalid_request", 501491,
			"code_challenge_method '%s' is not supported: presenced accepts only S256 (the challenge is BASE64URL(SHA256(code_verifier))); a plain challenge is the verifier itself and protects nothing.", orDefault(q.method, "plain (the default)"))
	default:
		return oerr(http.StatusBadRequest, "invalid_request", 501491, "code_challenge_method '%s' is not supported: use S256.", clipString(q.method, 40))
	}
	if b, err := base64.RawURLEncoding.Strict().DecodeString(q.challenge); err != nil || len(b) != 32 {
		return oerr(http.StatusBadRequest, "invalid_request", 501491, "Invalid size of Code_Challenge parameter: an S256 code_challenge is 43 characters of base64url (a SHA-256 hash, without padding).")
	}
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// errorParams are an OAuth error's parameters for the redirect URI, with
// the description in Entra's form.
func errorParams(r *http.Request, i *Issuer, e *oauthError, state string) url.Values {
	ts := i.clock.Now().UTC().Format("2006-01-02 15:04:05Z")
	v := url.Values{"error": {e.err}, "error_description": {fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", e.code, e.desc, guid.New(), guid.New(), ts)},
		"error_codes": {fmt.Sprint(e.code)}, "timestamp": {ts}}
	if state != "" {
		v.Set("state", state)
	}
	return v
}

// respond sends the authorization response (a code or an error) to the
// checked redirect URI, as its response mode says.
func (i *Issuer) respond(w http.ResponseWriter, r *http.Request, q *authRequest, v url.Values) {
	noStore(w)
	switch q.responseMode {
	case "fragment":
		http.Redirect(w, r, q.redirectURI+"#"+v.Encode(), http.StatusFound)
	case "form_post":
		i.formPostPage(w, q.redirectURI, v)
	default:
		sep := "?"
		if strings.Contains(q.redirectURI, "?") {
			sep = "&"
		}
		http.Redirect(w, r, q.redirectURI+sep+v.Encode(), http.StatusFound)
	}
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

// serveLogout is the end_session_endpoint (OpenID Connect RP-Initiated
// Logout): with id_token_hint it revokes that sign-in's refresh tokens
// (the id token's sid), then it sends the browser to
// post_logout_redirect_uri when that is one of the application's
// registered redirect URIs, or shows that the user signed out.
func (i *Issuer) serveLogout(w http.ResponseWriter, r *http.Request) {
	if !i.getOrPost(w, r) {
		return
	}
	t, p, e := i.browserRequest(w, r)
	if e != nil {
		i.errorPage(w, r, e)
		return
	}
	clientID := p.Get("client_id")
	if h := p.Get("id_token_hint"); h != "" && i.grants != nil {
		if c, ok := i.idTokenHint(h, t.ID); ok {
			if err := i.grants.revokeFamily(r.Context(), t.ID, c.OID, c.SID); err != nil {
				i.log.Warn("revoking a sign-in's refresh tokens at sign-out", "err", err)
			}
			if clientID == "" {
				clientID = c.Aud
			}
		}
	}
	if to := p.Get("post_logout_redirect_uri"); to != "" && i.logoutTarget(t, clientID, to) {
		if s := p.Get("state"); s != "" && len(s) <= maxParam {
			sep := "?"
			if strings.Contains(to, "?") {
				sep = "&"
			}
			to += sep + url.Values{"state": {s}}.Encode()
		}
		noStore(w)
		http.Redirect(w, r, to, http.StatusFound)
		return
	}
	i.signedOutPage(w)
}

// logoutTarget reports whether to is a registered redirect URI of the
// client, or of any application of the tenant when no client is named.
func (i *Issuer) logoutTarget(t directory.Tenant, clientID, to string) bool {
	for _, a := range i.dir.Apps() {
		if a.TenantID != t.ID || (clientID != "" && !strings.EqualFold(a.ClientID, clientID)) {
			continue
		}
		if _, ok := a.RedirectURI(to); ok {
			return true
		}
	}
	return false
}
