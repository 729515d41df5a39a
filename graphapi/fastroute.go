package graphapi

import (
	"net/http"
	"strings"
)

// The patterns of GET …/users/{id}/presence, as registered with the mux
// (New) and as it names them in Request.Pattern.
const (
	presencePatternV1   = "/v1.0/users/{id}/presence"
	presencePatternBeta = "/beta/users/{id}/presence"
)

// presencePath recognises GET /v1.0/users/{id}/presence (and /beta's),
// the most frequent request, so that ServeHTTP serves it without the mux:
// its routing was ~0.2 µs and an allocation (the path values) of every
// GET. It takes only paths the mux would route to that pattern unchanged
// and with the same id — an id of letters, digits and '@', '.', '_', '-'
// (not "." or ".."), nothing escaped in the request's path — and leaves
// everything else (redirects of unclean paths, escaped ids, other
// routes) to the mux. TestPresenceFastRoute holds the two to the same
// answers.
func presencePath(r *http.Request) (pattern, id string, ok bool) {
	if r.URL.RawPath != "" {
		return "", "", false
	}
	p := r.URL.Path
	var rest string
	switch {
	case strings.HasPrefix(p, "/v1.0/users/"):
		pattern, rest = presencePatternV1, p[len("/v1.0/users/"):]
	case strings.HasPrefix(p, "/beta/users/"):
		pattern, rest = presencePatternBeta, p[len("/beta/users/"):]
	default:
		return "", "", false
	}
	id, ok = strings.CutSuffix(rest, "/presence")
	if !ok || id == "" || id == "." || id == ".." {
		return "", "", false
	}
	for i := 0; i < len(id); i++ {
		if !pathIDChar[id[i]] {
			return "", "", false
		}
	}
	return pattern, id, true
}

// pathIDChar are the characters an id may have for presencePath: none is
// escaped in a URL path, and none is '/'.
var pathIDChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "@._-" {
		t[c] = true
	}
	return t
}()

// The patterns of POST …/users/{id}/presence/{action}, as registered with
// the mux (New).
const (
	actionPatternV1   = "/v1.0/users/{id}/presence/{action}"
	actionPatternBeta = "/beta/users/{id}/presence/{action}"
)

// actionPath is presencePath for POST /v1.0/users/{id}/presence/{action}
// (and /beta's) — setPresence and the other presence actions, every
// write a client makes: the mux's routing was ~0.5 µs and two allocations
// of every write (BenchmarkHTTPOne's profile). It takes a plain id as
// presencePath does and only the name of an action (actions), and leaves
// everything else to the mux. TestActionFastRoute holds the two to the
// same answers.
//
// It returns the action's spec too, so that the write does not look the
// name up again.
func actionPath(r *http.Request) (pattern, id, action string, spec actionSpec, ok bool) {
	if r.URL.RawPath != "" {
		return "", "", "", actionSpec{}, false
	}
	p := r.URL.Path
	var rest string
	switch {
	case strings.HasPrefix(p, "/v1.0/users/"):
		pattern, rest = actionPatternV1, p[len("/v1.0/users/"):]
	case strings.HasPrefix(p, "/beta/users/"):
		pattern, rest = actionPatternBeta, p[len("/beta/users/"):]
	default:
		return "", "", "", actionSpec{}, false
	}
	id, action, ok = strings.Cut(rest, "/presence/")
	if !ok || id == "" || id == "." || id == ".." {
		return "", "", "", actionSpec{}, false
	}
	if spec, ok = actions[action]; !ok {
		return "", "", "", actionSpec{}, false
	}
	for i := 0; i < len(id); i++ {
		if !pathIDChar[id[i]] {
			return "", "", "", actionSpec{}, false
		}
	}
	return pattern, id, action, spec, true
}
