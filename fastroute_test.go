package presenced_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/presenced/presenced/directory"
)

// TestPresenceFastRoute: GET …/users/{id}/presence is served without the
// mux when its path is plain (graphapi's presencePath); the same request
// with one character of the id escaped goes through the mux. Both must
// answer alike — status, body, and every header but the per-request ones
// — for the v1.0 and beta versions, with and without $select, for a
// known user, an unknown one, a malformed id and a missing token.
func TestPresenceFastRoute(t *testing.T) {
	e := startWith(t, directory.DemoFile(5))
	tok := e.appToken()
	known := directory.DemoUserID(2)
	for _, c := range []struct {
		name, id, token string
		status          int
	}{
		{"known", known, tok, 200},
		{"known, capitals", strings.ToUpper(known), tok, 200},
		{"unknown", "0d4f5b1e-1111-4222-8333-944445555666", tok, 404},
		{"malformed", "not-a-user", tok, 400},
		{"no token", known, "", 401},
	} {
		escaped := fmt.Sprintf("%%%02X", c.id[0]) + c.id[1:] // the same id, as the mux reads it
		for _, v := range []string{"/v1.0", "/beta"} {
			for _, q := range []string{"", "?$select=availability,activity"} {
				fast := e.call("GET", v+"/users/"+c.id+"/presence"+q, c.token, nil)
				mux := e.call("GET", v+"/users/"+escaped+"/presence"+q, c.token, nil)
				sameAnswer(t, fmt.Sprintf("%s %s%s", c.name, v, q), fast, mux, c.status)
			}
		}
	}
}

// sameAnswer fails the test (where names the case) unless the answers
// through the plain path (fast) and the escaped one (mux) both have status
// and are alike: the same body and headers but for what differs per
// request, and one request id each.
func sameAnswer(t *testing.T, where string, fast, mux resp, status int) {
	t.Helper()
	if fast.status != status || mux.status != status {
		t.Fatalf("%s: status %d (plain path) and %d (escaped), want %d: %s", where, fast.status, mux.status, status, fast.raw)
	}
	if fb, mb := comparable(t, fast), comparable(t, mux); fb != mb {
		t.Errorf("%s: bodies differ:\nplain   %s\nescaped %s", where, fb, mb)
	}
	fh, mh := headersBut(fast.header), headersBut(mux.header)
	if !maps.EqualFunc(fh, mh, slices.Equal) {
		t.Errorf("%s: headers differ:\nplain   %v\nescaped %v", where, fh, mh)
	}
	for _, h := range []string{"Request-Id", "Client-Request-Id"} {
		if len(fast.header[h]) != 1 || len(mux.header[h]) != 1 {
			t.Errorf("%s: %s %q (plain path), %q (escaped): want one each", where, h, fast.header[h], mux.header[h])
		}
	}
}

// comparable is a response's body without what differs per request (an
// error's innerError: its request-id and date).
func comparable(t *testing.T, r resp) string {
	t.Helper()
	if r.status == 200 {
		return string(r.raw)
	}
	var body map[string]map[string]any
	if err := json.Unmarshal(r.raw, &body); err != nil {
		t.Fatalf("%d %s: %v", r.status, r.raw, err)
	}
	delete(body["error"], "innerError")
	b, _ := json.Marshal(body)
	return string(b)
}

// headersBut is h without the headers that differ per request.
func headersBut(h http.Header) http.Header {
	h = h.Clone()
	for _, k := range []string{"Request-Id", "Client-Request-Id", "Date"} {
		delete(h, k)
	}
	return h
}

// TestActionFastRoute: POST …/users/{id}/presence/{action} is served
// without the mux when its path is plain and names an action (graphapi's
// actionPath); the same request with one character of the id escaped goes
// through the mux. Both must answer alike — status, body, every header but
// the per-request ones — and store alike, for the v1.0 and beta versions,
// for a known user (in capitals too), an unknown one, a malformed id, a
// missing token, a body that is refused, and the preferred presence.
func TestActionFastRoute(t *testing.T) {
	e := startWith(t, directory.DemoFile(5))
	tok := e.appToken()
	known := directory.DemoUserID(2)
	set := fmt.Sprintf(`{"sessionId":%q,"availability":"Busy","activity":"InACall","expirationDuration":"PT1H"}`, directory.DemoDaemonClientID)
	for _, c := range []struct {
		name, id, token, action, body string
		status                        int
	}{
		{"known", known, tok, "setPresence", set, 200},
		{"known, capitals", strings.ToUpper(known), tok, "setPresence", set, 200},
		{"preferred", known, tok, "setUserPreferredPresence", `{"availability":"DoNotDisturb","activity":"DoNotDisturb"}`, 200},
		{"clear preferred", known, tok, "clearUserPreferredPresence", `{}`, 200},
		{"unknown", "0d4f5b1e-1111-4222-8333-944445555666", tok, "setPresence", set, 404},
		{"malformed", "not-a-user", tok, "setPresence", set, 400},
		{"no token", known, "", "setPresence", set, 401},
		{"bad body", known, tok, "setPresence", `{"sessionId":"x","availability":"Busy"}`, 400},
		{"unknown parameter", known, tok, "setPresence", `{"availability":"Busy","nope":"x"}`, 400},
	} {
		escaped := fmt.Sprintf("%%%02X", c.id[0]) + c.id[1:] // the same id, as the mux reads it
		for _, v := range []string{"/v1.0", "/beta"} {
			where := fmt.Sprintf("%s %s %s", c.name, v, c.action)
			fast := e.call("POST", v+"/users/"+c.id+"/presence/"+c.action, c.token, c.body)
			fastSeen := e.call("GET", v+"/users/"+known+"/presence", tok, nil)
			mux := e.call("POST", v+"/users/"+escaped+"/presence/"+c.action, c.token, c.body)
			muxSeen := e.call("GET", v+"/users/"+known+"/presence", tok, nil)
			sameAnswer(t, where, fast, mux, c.status)
			// An action's 200 has no body and says so (net/http writes the
			// header for a handler that wrote none).
			if c.status == 200 && fast.header.Get("Content-Length") != "0" {
				t.Errorf("%s: Content-Length %q, want 0", where, fast.header.Get("Content-Length"))
			}
			// The same write through either route leaves the same presence.
			if fastSeen.status != 200 || string(fastSeen.raw) != string(muxSeen.raw) {
				t.Errorf("%s: presence after the write differs:\nplain   %d %s\nescaped %d %s", where, fastSeen.status, fastSeen.raw, muxSeen.status, muxSeen.raw)
			}
		}
	}
}
