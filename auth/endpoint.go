package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/guid"
	"github.com/presenced/presenced/observe/reqlog"
)

// MaxTokenRequest is the largest token request body accepted (64 KiB).
const MaxTokenRequest = 64 << 10

// oauthError is an error of the token endpoint, answered as Entra ID does:
// {"error", "error_description": "AADSTS<code>: …", "error_codes": [code],
// "timestamp", "trace_id", "correlation_id"}.
type oauthError struct {
	status int    // HTTP status
	err    string // OAuth error code: invalid_request, invalid_client, …
	code   int    // AADSTS number
	desc   string // what is wrong, for the developer
}

func oerr(status int, e string, code int, format string, args ...any) *oauthError {
	return &oauthError{status: status, err: e, code: code, desc: fmt.Sprintf(format, args...)}
}

// Handler serves, for {tenant} a tenant id or verified domain:
//
//	POST /{tenant}/oauth2/v2.0/token                   token endpoint
//	GET  /{tenant}/v2.0/.well-known/openid-configuration OpenID discovery
//	GET  /{tenant}/discovery/v2.0/keys                 JWKS (also /common/…)
//	GET  /{tenant}/oauth2/v2.0/authorize               the sign-in page (authorization-code flow, PKCE)
//	POST /{tenant}/oauth2/v2.0/authorize               its form: password check, then the code to the redirect URI
//	GET  /{tenant}/oauth2/v2.0/logout                  end_session_endpoint
//	GET  /common/UserRealm/{username}                  MSAL's question before a password grant: every account is managed
//
// Everything else is 404 with an OAuth error body. Mount it at the server
// root: the paths are exactly these.
func (i *Issuer) Handler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("/{tenant}/oauth2/v2.0/token", cors(i.serveToken))
	m.HandleFunc("/{tenant}/v2.0/.well-known/openid-configuration", cors(i.serveDiscovery))
	m.HandleFunc("/{tenant}/discovery/v2.0/keys", cors(i.serveKeys))
	m.HandleFunc("/{tenant}/oauth2/v2.0/authorize", i.serveAuthorize)
	m.HandleFunc("/{tenant}/oauth2/v2.0/logout", i.serveLogout)
	m.HandleFunc("/common/UserRealm/{user}", cors(i.serveUserRealm))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		i.writeError(w, r, oerr(http.StatusNotFound, "invalid_request", 900561,
			"No endpoint at %s. presenced serves POST /{tenant}/oauth2/v2.0/token, GET /{tenant}/oauth2/v2.0/authorize, GET /{tenant}/oauth2/v2.0/logout, GET /{tenant}/v2.0/.well-known/openid-configuration, GET /{tenant}/discovery/v2.0/keys and GET /common/UserRealm/{username}, the Graph API under /v1.0 and /beta, and the presence board at /.", clipString(r.URL.Path, 200)))
	})
	return m
}

// cors lets single-page apps of any origin call the token, discovery and
// keys endpoints from the browser, as Entra's do (no cookies are involved:
// "*" allows no credentials). A preflight is answered here.
func cors(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") == "" {
			h(w, r)
			return
		}
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Expose-Headers", "client-request-id, Retry-After")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
			// The headers a library adds (MSAL's x-client-*, client-request-id)
			// carry no credentials: whatever the browser asks for is allowed.
			if h := r.Header.Get("Access-Control-Request-Headers"); h != "" {
				w.Header().Set("Access-Control-Allow-Headers", h)
			}
			w.Header().Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h(w, r)
	}
}

// tenant resolves the {tenant} path segment. The error names only what
// the caller asked for, as Entra's does: never this server's tenants (a
// stranger probing the server learns nothing from it).
func (i *Issuer) tenant(r *http.Request, errCode string) (directory.Tenant, *oauthError) {
	name := r.PathValue("tenant")
	if t, ok := i.dir.Tenant(name); ok {
		return t, nil
	}
	hint := ""
	switch strings.ToLower(name) {
	case "common", "organizations", "consumers":
		hint = fmt.Sprintf(" presenced has no multi-tenant endpoints: use your tenant's id or one of its verified domains instead of '%s'.", name)
	}
	return directory.Tenant{}, oerr(http.StatusBadRequest, errCode, 90002,
		"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.%s", asked(r), hint)
}

// asked is the {tenant} of the request as the caller wrote it: errors
// name the tenant so, and not by the name or id the directory has for it.
func asked(r *http.Request) string { return clipString(r.PathValue("tenant"), 100) }

func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	resp, e := i.tokenRequest(w, r)
	if e != nil {
		i.obs.TokenRejected(e.err, e.code)
		if e.err == "invalid_client" && r.Header.Get("Authorization") != "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="presenced"`)
		}
		i.writeError(w, r, e)
		return
	}
	i.obs.TokenIssued(resp.grant)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}

// tokenRequest answers a request to the token endpoint, after its rate
// limit, method and tenant.
func (i *Issuer) tokenRequest(w http.ResponseWriter, r *http.Request) (*tokenResponse, *oauthError) {
	if e := i.allow(w, r); e != nil {
		return nil, e
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, oerr(http.StatusMethodNotAllowed, "invalid_request", 900561,
			"The endpoint only accepts POST requests. Received a %s request.", r.Method)
	}
	t, e := i.tenant(r, "invalid_request")
	if e != nil {
		return nil, e
	}
	return i.token(w, r, t)
}

type tokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope,omitempty"`
	ExpiresIn    int64  `json:"expires_in"`
	ExtExpiresIn int64  `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
	// The authorization-code and refresh grants: a refresh token with
	// offline_access (and, for a single-page app, its fixed remaining
	// life), an id token with openid.
	RefreshToken          string `json:"refresh_token,omitempty"`
	RefreshTokenExpiresIn int64  `json:"refresh_token_expires_in,omitempty"`
	IDToken               string `json:"id_token,omitempty"`
	// ClientInfo answers client_info=1 (MSAL asks for it): base64url of
	// {"uid": the user's object id, "utid": the tenant id}, as Entra's.
	ClientInfo string `json:"client_info,omitempty"`
	grant      string // for the Observer
}

// form reads the urlencoded body: one value per parameter.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, *oauthError) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/x-www-form-urlencoded" {
		got := "no Content-Type"
		if ct != "" {
			got = fmt.Sprintf("Content-Type '%s'", clipString(ct, 100))
		}
		return nil, oerr(http.StatusBadRequest, "invalid_request", 900144,
			"The token request body must be application/x-www-form-urlencoded (grant_type=…&client_id=…); the request has %s.", got)
	}
	// A compressed body is refused, not decoded: Entra's token endpoint
	// reads a gzip body as it comes and finds no grant_type in it, so a
	// client that compresses works here only to fail there. 415 is what
	// compressing clients (Kiota's CompressionHandler) retry uncompressed.
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	default:
		return nil, oerr(http.StatusUnsupportedMediaType, "invalid_request", 90020,
			"The token request body has Content-Encoding '%s'; the token endpoint, as Entra's, takes only an uncompressed body: send it without Content-Encoding.", clipString(enc, 60))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxTokenRequest))
	if err != nil {
		var mbe *http.MaxBytesError
		var ne net.Error
		switch {
		case errors.As(err, &mbe):
			return nil, oerr(http.StatusRequestEntityTooLarge, "invalid_request", 90020,
				"The token request body is larger than %d bytes.", MaxTokenRequest)
		case errors.As(err, &ne) && ne.Timeout():
			return nil, oerr(http.StatusRequestTimeout, "invalid_request", 90020,
				"The token request body did not arrive within the server's read timeout; send the whole request at once.")
		case errors.As(err, &ne): // its words name this server's addresses
			return nil, oerr(http.StatusBadRequest, "invalid_request", 90020, "Reading the token request body failed: the connection failed while it was sent.")
		}
		return nil, oerr(http.StatusBadRequest, "invalid_request", 90020, "Reading the token request body failed: %v", err)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, oerr(http.StatusBadRequest, "invalid_request", 90020, "The token request body is not valid application/x-www-form-urlencoded: %v.", err)
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range form {
			if !yield(k) {
				return
			}
		}
	}) {
		if len(form[k]) > 1 {
			return nil, oerr(http.StatusBadRequest, "invalid_request", 90015,
				"Parameter '%s' appears %d times in the token request; each parameter may appear once.", clipString(k, 50), len(form[k]))
		}
	}
	return form, nil
}

func (i *Issuer) token(w http.ResponseWriter, r *http.Request, t directory.Tenant) (*tokenResponse, *oauthError) {
	form, e := readForm(w, r)
	if e != nil {
		return nil, e
	}
	missing := func(p string) *oauthError {
		return oerr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: '%s'.", p)
	}
	grant := form.Get("grant_type")
	switch grant {
	case "":
		return nil, missing("grant_type")
	case "client_credentials", "password", "authorization_code", "refresh_token":
	default:
		return nil, oerr(http.StatusBadRequest, "unsupported_grant_type", 70003,
			"The app requested an unsupported grant type '%s'. presenced supports grant_type=client_credentials (an application acting as itself), password (a user's name and password), authorization_code (a code from the sign-in page, with PKCE) and refresh_token.", clipString(grant, 60))
	}
	if form.Has("client_assertion") || form.Has("client_assertion_type") {
		return nil, oerr(http.StatusBadRequest, "invalid_request", 90014,
			"client_assertion (certificate credentials) is not supported by presenced; authenticate with client_secret, in the body or with HTTP Basic authentication.")
	}

	// The client: form parameters or HTTP Basic (RFC 6749 §2.3.1), not both.
	clientID, secret := form.Get("client_id"), form.Get("client_secret")
	_, hasSecret := form["client_secret"]
	if h := r.Header.Get("Authorization"); h != "" {
		user, pass, ok := r.BasicAuth()
		if !ok {
			return nil, oerr(http.StatusUnauthorized, "invalid_client", 7000218,
				"The Authorization header of a token request must be HTTP Basic authentication with the client id and secret (client_secret_basic).")
		}
		uid, err1 := url.QueryUnescape(user)
		upw, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil {
			return nil, oerr(http.StatusUnauthorized, "invalid_client", 7000218,
				"The client id and secret in the Basic Authorization header must be form-urlencoded before base64 (RFC 6749 §2.3.1).")
		}
		if hasSecret {
			return nil, oerr(http.StatusBadRequest, "invalid_request", 90014,
				"The request authenticates the client twice, with a Basic Authorization header and a client_secret parameter; use only one.")
		}
		if clientID != "" && !strings.EqualFold(clientID, uid) {
			return nil, oerr(http.StatusBadRequest, "invalid_request", 90014,
				"The client_id parameter '%s' differs from the client id '%s' in the Basic Authorization header.", clipString(clientID, 60), clipString(uid, 60))
		}
		clientID, secret, hasSecret = uid, upw, true
	}
	if clientID == "" {
		return nil, missing("client_id")
	}
	if !directory.IsGUID(strings.ToLower(clientID)) {
		return nil, oerr(http.StatusBadRequest, "unauthorized_client", 700038,
			"'%s' is not a valid application identifier: a client id is a GUID such as %s.", clipString(clientID, 60), directory.DemoDaemonClientID)
	}
	app, ok := i.dir.App(clientID)
	if ok && app.TenantID == t.ID {
		reqlog.SetCaller(r.Context(), t.ID, app.ClientID) // for the request's log lines
	}
	if !ok || app.TenantID != t.ID {
		// Where an application is registered is not said: that would tell
		// anyone who has a client id which tenants this server has.
		return nil, oerr(http.StatusBadRequest, "unauthorized_client", 700016,
			"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application is not registered in this tenant on this server (presenced admin app list --tenant TENANT lists the ones that are) or the request was sent to the wrong tenant.",
			clipString(clientID, 60), asked(r))
	}
	// Until the client has authenticated, errors name it by the id the
	// caller sent, as Entra's do (its AADSTS7000215 names the app id): its
	// display name would tell anyone guessing client ids what the
	// applications are called.
	switch {
	case hasSecret && !app.HasSecret():
		return nil, oerr(http.StatusUnauthorized, "invalid_client", 700025,
			"Client is public so neither 'client_assertion' nor 'client_secret' should be presented. Application '%s' has no client secret.", clientID)
	case hasSecret:
		ok, err := directory.VerifySecret(r.Context(), app, secret, i.clock.Now())
		if err != nil && r.Context().Err() != nil {
			return nil, oerr(http.StatusServiceUnavailable, "temporarily_unavailable", 50000, "Checking the client secret took too long; try again.")
		}
		if !ok {
			return nil, oerr(http.StatusUnauthorized, "invalid_client", 7000215,
				"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID)
		}
	}
	switch {
	case grant == "authorization_code" || grant == "refresh_token":
		// Whether this client must authenticate depends on where the
		// code was sent (a SPA never does): the grant decides.
		resp, e := i.userGrant(r, t, app, form, grant, hasSecret)
		if resp != nil {
			resp.grant = grant
		}
		return resp, e
	case !hasSecret && (grant == "client_credentials" || !app.Public):
		why := "it is a confidential client"
		if app.Public {
			why = "client credentials always need a secret, and this public client has none"
		}
		return nil, oerr(http.StatusUnauthorized, "invalid_client", 7000218,
			"The request body must contain the following parameter: 'client_assertion' or 'client_secret'. Application '%s' must authenticate: %s.", clientID, why)
	}

	scope := form.Get("scope")
	if strings.TrimSpace(scope) == "" {
		return nil, missing("scope")
	}
	if grant == "client_credentials" {
		if e := appScope(scope); e != nil {
			return nil, e
		}
		tok, err := i.mint(app, nil, nil, true)
		if err != nil {
			return nil, oerr(http.StatusInternalServerError, "server_error", 50000, "Issuing the token failed.")
		}
		resp := i.response(tok, "")
		resp.grant = grant
		return resp, nil
	}

	resp, e := i.passwordGrant(r, t, app, form, scope, hasSecret)
	if resp != nil {
		resp.grant = grant
	}
	return resp, e
}

func (i *Issuer) response(tok, scope string) *tokenResponse {
	s := int64(i.lifetime / time.Second)
	return &tokenResponse{TokenType: "Bearer", Scope: scope, ExpiresIn: s, ExtExpiresIn: s, AccessToken: tok}
}

// graphPrefix strips a Microsoft Graph resource prefix from a scope value;
// ok is false when the value names another resource.
func graphPrefix(s string) (name string, graph bool, ok bool) {
	for _, p := range []string{GraphAudience + "/", GraphResourceID + "/"} {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			return s[len(p):], true, true
		}
	}
	if strings.Contains(s, "/") {
		return s, false, false
	}
	return s, false, true
}

// appScope checks the scope of a client credentials request: exactly the
// Graph ".default", beside which the OpenID scopes are ignored, as Entra
// ignores them: MSAL (and so azidentity, Microsoft's documented way to
// get a token for the Graph SDK) adds "openid offline_access profile" to
// every request it sends, client credentials included.
func appScope(scope string) *oauthError {
	var fields []string
	for _, s := range strings.Fields(scope) {
		if !slices.ContainsFunc(oidcScopes, func(o string) bool { return strings.EqualFold(o, s) }) {
			fields = append(fields, s)
		}
	}
	if len(fields) == 0 {
		return oerr(http.StatusBadRequest, "invalid_scope", 1002012,
			"The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI): use scope=%s/.default.", clipString(scope, 200), GraphAudience)
	}
	for _, s := range fields {
		name, graph, ok := graphPrefix(s)
		if !ok {
			return oerr(http.StatusBadRequest, "invalid_resource", 500011,
				"The resource principal named %s was not found in the tenant. presenced issues tokens for Microsoft Graph only: use scope=%s/.default.", clipString(resourceOf(s), 100), GraphAudience)
		}
		if !graph || name != ".default" || len(fields) != 1 {
			return oerr(http.StatusBadRequest, "invalid_scope", 1002012,
				"The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI): use scope=%s/.default.", clipString(scope, 200), GraphAudience)
		}
	}
	return nil
}

func resourceOf(s string) string {
	if i := strings.LastIndex(s, "/"); i > 0 {
		return s[:i]
	}
	return s
}

// oidcScopes are accepted in a delegated request but never put in "scp".
var oidcScopes = []string{"openid", "profile", "offline_access", "email"}

// delegatedScopes resolves the requested scopes of a delegated token
// against what the app has consented: ".default" is every consented Graph
// scope; named scopes must each be consented. The result is in canonical
// case, without duplicates and without the OpenID scopes.
func delegatedScopes(app directory.App, requested []string) ([]string, *oauthError) {
	var consented []string
	for _, s := range app.Scopes {
		if !slices.Contains(oidcScopes, s) {
			consented = append(consented, s)
		}
	}
	known := directory.KnownScopes()
	var out []string
	all := false
	for _, s := range requested {
		if slices.ContainsFunc(oidcScopes, func(o string) bool { return strings.EqualFold(o, s) }) {
			continue
		}
		name, graph, ok := graphPrefix(s)
		if !ok {
			return nil, oerr(http.StatusBadRequest, "invalid_resource", 500011,
				"The resource principal named %s was not found in the tenant. presenced issues tokens for Microsoft Graph only.", clipString(resourceOf(s), 100))
		}
		if name == ".default" && graph {
			all = true
			continue
		}
		k := slices.IndexFunc(known, func(o string) bool { return strings.EqualFold(o, name) })
		if k < 0 || slices.Contains(oidcScopes, known[k]) {
			return nil, oerr(http.StatusBadRequest, "invalid_scope", 70011,
				"The provided value for the input parameter 'scope' is not valid. The scope '%s' does not exist; presenced knows the delegated scopes %s.", clipString(s, 100), strings.Join(consentable(), ", "))
		}
		if !slices.Contains(consented, known[k]) {
			return nil, oerr(http.StatusBadRequest, "invalid_scope", 65001,
				"The user or administrator has not consented to use the application with ID '%s' named '%s' for the scope %s. The application's consented scopes are: %s.", app.ClientID, app.Name, known[k], orNone(consented))
		}
		if !slices.Contains(out, known[k]) {
			out = append(out, known[k])
		}
	}
	if all && len(out) > 0 {
		return nil, oerr(http.StatusBadRequest, "invalid_scope", 70011,
			"The provided value for the input parameter 'scope' is not valid. %s/.default cannot be combined with named Graph scopes (%s): ask for either.", GraphAudience, strings.Join(out, " "))
	}
	if all {
		out = consented
	}
	if len(out) == 0 {
		if all {
			return nil, oerr(http.StatusBadRequest, "invalid_scope", 65001,
				"The user or administrator has not consented to use the application with ID '%s' named '%s': it has no consented Microsoft Graph scopes.", app.ClientID, app.Name)
		}
		return nil, oerr(http.StatusBadRequest, "invalid_scope", 70011,
			"The provided value for the input parameter 'scope' is not valid. Ask for at least one Microsoft Graph scope, such as Presence.Read or %s/.default.", GraphAudience)
	}
	return out, nil
}

func consentable() []string {
	var out []string
	for _, s := range directory.KnownScopes() {
		if !slices.Contains(oidcScopes, s) {
			out = append(out, s)
		}
	}
	return out
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// writeError answers an OAuth error in Entra's shape.
func (i *Issuer) writeError(w http.ResponseWriter, r *http.Request, e *oauthError) {
	now := i.clock.Now().UTC()
	ts := now.Format("2006-01-02 15:04:05Z")
	trace := guid.New()
	corr := r.Header.Get("client-request-id")
	if !directory.IsGUID(strings.ToLower(corr)) {
		corr = guid.New()
	}
	corr = strings.ToLower(corr)
	body := struct {
		Error         string `json:"error"`
		Description   string `json:"error_description"`
		Codes         []int  `json:"error_codes"`
		Timestamp     string `json:"timestamp"`
		TraceID       string `json:"trace_id"`
		CorrelationID string `json:"correlation_id"`
	}{
		Error:         e.err,
		Description:   fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", e.code, e.desc, trace, corr, ts),
		Codes:         []int{e.code},
		Timestamp:     ts,
		TraceID:       trace,
		CorrelationID: corr,
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("client-request-id", corr)
	writeJSON(w, e.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// clipString shortens s for echoing in a message.
func clipString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// discovery is the OpenID Provider metadata of a tenant.
type discovery struct {
	TokenEndpoint                     string   `json:"token_endpoint"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	JWKSURI                           string   `json:"jwks_uri"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	Issuer                            string   `json:"issuer"`
	RequestURIParameterSupported      bool     `json:"request_uri_parameter_supported"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	TenantRegionScope                 *string  `json:"tenant_region_scope"`
	CloudInstanceName                 string   `json:"cloud_instance_name"`
	CloudGraphHostName                string   `json:"cloud_graph_host_name"`
	MSGraphHost                       string   `json:"msgraph_host"`
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	if !getOrHead(w, r, i) {
		return
	}
	t, e := i.tenant(r, "invalid_tenant")
	if e != nil {
		i.writeError(w, r, e)
		return
	}
	host := i.base
	if u, err := url.Parse(i.base); err == nil {
		host = u.Host
	}
	tb := i.base + "/" + t.ID
	writeJSON(w, http.StatusOK, discovery{
		TokenEndpoint:                     tb + "/oauth2/v2.0/token",
		TokenEndpointAuthMethodsSupported: []string{"client_secret_post", "client_secret_basic"},
		JWKSURI:                           tb + "/discovery/v2.0/keys",
		ResponseModesSupported:            []string{"query", "fragment", "form_post"},
		SubjectTypesSupported:             []string{"pairwise"},
		IDTokenSigningAlgValuesSupported:  []string{"RS256"},
		ResponseTypesSupported:            []string{"code"},
		ScopesSupported:                   []string{"openid", "profile", "email", "offline_access"},
		Issuer:                            IssuerURL(i.base, t.ID),
		RequestURIParameterSupported:      false,
		AuthorizationEndpoint:             tb + "/oauth2/v2.0/authorize",
		GrantTypesSupported:               []string{"client_credentials", "password", "authorization_code", "refresh_token"},
		ClaimsSupported:                   []string{"aud", "iss", "iat", "nbf", "exp", "azp", "appid", "azpacr", "idtyp", "jti", "name", "nonce", "oid", "preferred_username", "roles", "scp", "sid", "sub", "tid", "upn", "ver"},
		EndSessionEndpoint:                tb + "/oauth2/v2.0/logout",
		CodeChallengeMethodsSupported:     []string{"S256"},
		CloudInstanceName:                 "presenced",
		CloudGraphHostName:                host,
		MSGraphHost:                       host,
	})
}

func getOrHead(w http.ResponseWriter, r *http.Request, i *Issuer) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	i.writeError(w, r, oerr(http.StatusMethodNotAllowed, "invalid_request", 900561,
		"The endpoint only accepts GET requests. Received a %s request.", r.Method))
	return false
}
