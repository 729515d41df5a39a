package graphapi

import (
	"net/http"
	"strings"
)

// The API answers browsers of any origin, as Microsoft Graph does: a
// single-page app on its own site (an MSAL app) calls it with the user's
// token in the Authorization header. Nothing here is ambient — no cookie,
// no session: a call is authorised by the bearer token it carries — so
// "*" (which admits no credentials) gives a page no more than its token
// does. A preflight (OPTIONS with Access-Control-Request-Method) is
// answered before routing, throttling and authentication, which it
// precedes in the browser and which it does not carry.

// corsMethods are the methods the API serves anywhere.
const corsMethods = "GET, POST, PATCH, DELETE"

// corsExposed are the response headers a page may read besides the
// CORS-safelisted ones: Graph's request ids, throttling's Retry-After, a
// created resource's Location, ETag and Preference-Applied, and a 401's
// WWW-Authenticate (MSAL reads a claims challenge from it).
const corsExposed = "request-id, client-request-id, Retry-After, Location, ETag, Preference-Applied, WWW-Authenticate"

// maxCORSRequestHeaders bounds the preflight's list of headers echoed back.
const maxCORSRequestHeaders = 1024

// cors sets the CORS headers of a request with an Origin and reports
// whether it was a preflight, answered here.
func cors(w http.ResponseWriter, r *http.Request) bool {
	if _, ok := r.Header["Origin"]; !ok {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		h.Set("Access-Control-Expose-Headers", corsExposed)
		return false
	}
	h.Set("Access-Control-Allow-Methods", corsMethods)
	// The headers a client library adds (Authorization, Content-Type,
	// client-request-id, SDK telemetry) are allowed, whatever their names:
	// none is a credential the browser adds by itself.
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" && len(req) <= maxCORSRequestHeaders && !strings.ContainsAny(req, "\r\n") {
		h.Set("Access-Control-Allow-Headers", req)
	}
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
	return true
}
