package presenced_test

import (
	"strings"
	"testing"
)

// TestAPIAnswersOtherOrigins: through the real listener, a page of
// another origin (an MSAL single-page app on its own site) can call the
// API with its token and read the answer, errors and the 401's challenge
// included; a preflight needs no token. See graphapi/cors.go.
func TestAPIAnswersOtherOrigins(t *testing.T) {
	e := start(t)
	const origin = "Origin"
	spa := "http://127.0.0.1:5173"
	pre := e.call("OPTIONS", "/v1.0/me/presence", "", nil, origin, spa, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization")
	if pre.status != 204 || pre.header.Get("Access-Control-Allow-Origin") != "*" || pre.header.Get("Access-Control-Allow-Headers") != "authorization" {
		t.Fatalf("preflight: %d %v", pre.status, pre.header)
	}
	tok := e.userToken("adele", "Presence.Read")
	ok := e.call("GET", "/v1.0/me/presence", tok, nil, origin, spa)
	if ok.status != 200 || ok.header.Get("Access-Control-Allow-Origin") != "*" || ok.str("availability") == "" {
		t.Fatalf("GET with a token: %d %v %s", ok.status, ok.header, ok.raw)
	}
	for _, tc := range []struct {
		name, token string
		status      int
	}{
		{"no token", "", 401},
		{"a malformed token", "not.a.jwt", 401},
		{"a token without the scope", tok, 403}, // Presence.Read cannot set
	} {
		r := e.call("POST", "/v1.0/me/presence/setUserPreferredPresence", tc.token, map[string]any{"availability": "Busy", "activity": "Busy"}, origin, spa)
		exposed := r.header.Get("Access-Control-Expose-Headers")
		if r.status != tc.status || r.header.Get("Access-Control-Allow-Origin") != "*" || r.errCode() == "" ||
			!strings.Contains(exposed, "request-id") || !strings.Contains(exposed, "WWW-Authenticate") {
			t.Errorf("%s: %d %v %s", tc.name, r.status, r.header, r.raw)
		}
	}
	// Without an Origin the answers are as before: no CORS headers.
	if r := e.call("GET", "/v1.0/me/presence", tok, nil); r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("same-origin GET: %d %v", r.status, r.header)
	}
}
