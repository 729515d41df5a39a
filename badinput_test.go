package presenced_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/directory"
)

// TestBadInputIsRejectedAndWritesNothing sends every kind of bad request to
// every handler and checks the Graph error and that nothing changed.
func TestBadInputIsRejectedAndWritesNothing(t *testing.T) {
	e := start(t)
	app := e.appToken()
	adele := e.user("adele")
	alex := e.user("alex")
	adeleTok := e.userToken("adele", "")
	readOnly := e.userToken("adele", "Presence.Read")
	u := "/v1.0/users/" + adele + "/presence/"
	// Give adele some state so that "nothing written" is visible.
	e.must("POST", u+"setPresence", app, setBody("Busy", "InACall", "PT1H"))

	// An expired token: issued now, checked two hours later.
	expired := e.appToken()
	e.get(expired, adele) // validated once (and so cached) while still valid
	forged := app[:len(app)-4] + "AAAA"
	sid := directory.DemoDaemonClientID
	big := `{"sessionId":"` + strings.Repeat("x", 200<<10) + `"}`
	tooMany := make([]string, 651)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
	}

	cases := []struct {
		name, method, path, token string
		body                      any
		headers                   []string
		status                    int
		code                      string
		msg                       string // a fragment the message must contain
	}{
		// Authentication.
		{"no token", "GET", u[:len(u)-1], "", nil, nil, 401, "InvalidAuthenticationToken", "empty"},
		{"forged token", "POST", u + "setPresence", forged, setBody("Available", "Available", ""), nil, 401, "InvalidAuthenticationToken", "signature"},
		{"not a JWT", "GET", u[:len(u)-1], "not-a-jwt", nil, nil, 401, "InvalidAuthenticationToken", ""},
		{"basic auth", "GET", u[:len(u)-1], "", nil, []string{"Authorization", "Basic Zm9vOmJhcg=="}, 401, "InvalidAuthenticationToken", "Bearer"},
		// Permissions (semantics §5).
		{"/me with an app token", "GET", "/v1.0/me/presence", app, nil, nil, 400, "invalidRequest", "signed-in user"},
		{"/me write with an app token", "POST", "/v1.0/me/presence/setPresence", app, setBody("Available", "Available", ""), nil, 400, "invalidRequest", "signed-in user"},
		{"delegated writes another user", "POST", "/v1.0/users/" + alex + "/presence/setUserPreferredPresence", adeleTok, map[string]any{"availability": "Busy", "activity": "Busy"}, nil, 403, "accessDenied", "another user"},
		{"read-only scope writes", "POST", "/v1.0/me/presence/setStatusMessage", readOnly, map[string]any{"statusMessage": map[string]any{"message": map[string]any{"content": "x"}}}, nil, 403, "accessDenied", "Presence.ReadWrite"},
		{"read-only scope reads others", "GET", "/v1.0/users/" + alex + "/presence", readOnly, nil, nil, 403, "accessDenied", "Presence.Read.All"},
		{"read-only scope getPresencesByUserId", "POST", "/v1.0/communications/getPresencesByUserId", readOnly, map[string]any{"ids": []string{adele}}, nil, 403, "accessDenied", "Presence.Read.All"},
		// An empty id (an SDK given ""), or a dot segment: a Graph 400, not ServeMux's HTML 307 to a
		// cleaned path whose answer named 'presence' as the user id.
		{"empty user id", "GET", "/v1.0/users//presence", app, nil, nil, 400, "invalidRequest", "'/v1.0/users//presence' has an empty segment"},
		{"empty user id in a write", "POST", "/v1.0/users//presence/setPresence", app, setBody("Available", "Available", ""), nil, 400, "invalidRequest", "a user id or another key is missing"},
		{"empty presence id in a write", "POST", "/v1.0/communications/presences//setPresence", app, setBody("Available", "Available", ""), nil, 400, "invalidRequest", "empty segment"},
		{"dot segment", "GET", "/v1.0/users/" + adele + "/../" + adele + "/presence", app, nil, nil, 400, "invalidRequest", "'..'"},
		// Malformed bodies.
		{"malformed JSON", "POST", u + "setPresence", app, `{"sessionId":`, nil, 400, "UnableToDeserializePostBody", "JSON"},
		{"JSON array", "POST", u + "setPresence", app, `[1,2]`, nil, 400, "UnableToDeserializePostBody", "object"},
		{"trailing data", "POST", u + "setPresence", app, `{"sessionId":"` + sid + `","availability":"Away","activity":"Away"} {}`, nil, 400, "UnableToDeserializePostBody", "after"},
		{"wrong content type", "POST", u + "setPresence", app, `sessionId=x`, []string{"Content-Type", "text/plain"}, 415, "unsupportedMediaType", "application/json"},
		{"no content type", "POST", u + "setPresence", app, `{"sessionId":"x"}`, []string{"Content-Type", ""}, 415, "unsupportedMediaType", "application/json"},
		{"oversized body", "POST", u + "clearPresence", app, big, nil, 413, "requestEntityTooLarge", "limit"},
		{"empty body", "POST", u + "setPresence", app, "", nil, 400, "invalidRequest", "empty"},
		{"unknown property", "POST", u + "setPresence", app, map[string]any{"sessionId": sid, "availability": "Away", "activity": "Away", "availabilty": "Away"}, nil, 400, "invalidRequest", "availabilty"},
		// An action without parameters says so rather than listing none ("its parameters are .").
		{"property of clearLocation", "POST", u + "clearLocation", app, map[string]any{"placeId": "x"}, nil, 400, "invalidRequest", "clearLocation takes no parameters"},
		{"property of clearAutomaticLocation", "POST", u + "clearAutomaticLocation", app, map[string]any{"placeId": "x"}, nil, 400, "invalidRequest", "clearAutomaticLocation takes no parameters"},
		{"property of clearUserPreferredPresence", "POST", u + "clearUserPreferredPresence", app, map[string]any{"sessionId": sid}, nil, 400, "invalidRequest", "clearUserPreferredPresence takes no parameters"},
		{"wrong case property", "POST", u + "setPresence", app, map[string]any{"SessionId": sid, "availability": "Away", "activity": "Away"}, nil, 400, "invalidRequest", "did you mean 'sessionId'"},
		{"number for a string", "POST", u + "setPresence", app, map[string]any{"sessionId": 42, "availability": "Away", "activity": "Away"}, nil, 400, "invalidRequest", "sessionId"},
		// Values (graph-presence §2.4, §3.1; semantics §5).
		{"unknown availability", "POST", u + "setPresence", app, setBody("Sleepy", "Away", ""), nil, 400, "invalidRequest", "Sleepy"},
		{"pair not accepted by setPresence", "POST", u + "setPresence", app, setBody("Busy", "Busy", ""), nil, 400, "invalidRequest", "Busy/InACall"},
		{"OOF is not writable", "POST", u + "setPresence", app, setBody("Available", "OutOfOffice", ""), nil, 400, "invalidRequest", "OutOfOffice"},
		{"pair not accepted by setUserPreferredPresence", "POST", u + "setUserPreferredPresence", app, map[string]any{"availability": "Busy", "activity": "InACall"}, nil, 400, "invalidRequest", "Busy/Busy"},
		{"missing availability", "POST", u + "setPresence", app, map[string]any{"sessionId": sid, "activity": "Away"}, nil, 400, "invalidRequest", "availability"},
		{"duration not ISO 8601", "POST", u + "setPresence", app, setBody("Away", "Away", "5 minutes"), nil, 400, "invalidRequest", "expirationDuration"},
		{"duration too short", "POST", u + "setPresence", app, setBody("Away", "Away", "PT4M"), nil, 400, "invalidRequest", "PT5M"},
		{"duration too long", "POST", u + "setPresence", app, setBody("Away", "Away", "PT4H1M"), nil, 400, "invalidRequest", "PT4H"},
		{"preferred duration too long", "POST", u + "setUserPreferredPresence", app, map[string]any{"availability": "Away", "activity": "Away", "expirationDuration": "P31D"}, nil, 400, "invalidRequest", "expirationDuration"},
		{"months are not a duration", "POST", u + "setUserPreferredPresence", app, map[string]any{"availability": "Away", "activity": "Away", "expirationDuration": "P1M"}, nil, 400, "invalidRequest", "expirationDuration"},
		{"sessionId of another app", "POST", u + "setPresence", app, map[string]any{"sessionId": "22553876-f5ab-4529-bffb-cfe50aa89f87", "availability": "Away", "activity": "Away"}, nil, 400, "invalidRequest", sid},
		{"sessionId label too long", "POST", u + "setPresence", app, map[string]any{"sessionId": sid + ":" + strings.Repeat("a", 65), "availability": "Away", "activity": "Away"}, nil, 400, "invalidRequest", "1-64"},
		{"sessionId missing", "POST", u + "clearPresence", app, map[string]any{}, nil, 400, "invalidRequest", "sessionId"},
		{"unknown session", "POST", u + "clearPresence", app, map[string]any{"sessionId": sid + ":nothing"}, nil, 404, "itemNotFound", "nothing"},
		{"status message html", "POST", u + "setStatusMessage", app, map[string]any{"statusMessage": map[string]any{"message": map[string]any{"content": "<b>x</b>", "contentType": "html"}}}, nil, 400, "invalidRequest", "text"},
		{"status message too long", "POST", u + "setStatusMessage", app, map[string]any{"statusMessage": map[string]any{"message": map[string]any{"content": strings.Repeat("x", 281)}}}, nil, 400, "invalidRequest", "280"},
		{"status expiry with offset", "POST", u + "setStatusMessage", app, map[string]any{"statusMessage": map[string]any{"message": map[string]any{"content": "x"}, "expiryDateTime": map[string]any{"dateTime": "2026-12-01T10:00:00+02:00", "timeZone": "UTC"}}}, nil, 400, "invalidRequest", "dateTime"},
		{"status expiry unknown zone", "POST", u + "setStatusMessage", app, map[string]any{"statusMessage": map[string]any{"message": map[string]any{"content": "x"}, "expiryDateTime": map[string]any{"dateTime": "2026-12-01T10:00:00", "timeZone": "Mars Standard Time"}}}, nil, 400, "invalidRequest", "Mars"},
		{"status expiry in the past", "POST", u + "setStatusMessage", app, map[string]any{"statusMessage": map[string]any{"message": map[string]any{"content": "x"}, "expiryDateTime": map[string]any{"dateTime": "2020-12-01T10:00:00", "timeZone": "UTC"}}}, nil, 400, "invalidRequest", "future"},
		{"status unknown nested property", "POST", u + "setStatusMessage", app, map[string]any{"statusMessage": map[string]any{"message": map[string]any{"content": "x", "colour": "red"}}}, nil, 400, "invalidRequest", "statusMessage.message.colour"},
		{"status missing", "POST", u + "setStatusMessage", app, map[string]any{}, nil, 400, "invalidRequest", "statusMessage"},
		// Users and ids.
		{"unknown user", "POST", "/v1.0/users/00000000-0000-0000-0000-00000000abcd/presence/setPresence", app, setBody("Away", "Away", ""), nil, 404, "itemNotFound", "00000000-0000-0000-0000-00000000abcd"},
		{"unknown UPN", "GET", "/v1.0/users/nobody@contoso.dev/presence", app, nil, nil, 404, "itemNotFound", "nobody@contoso.dev"},
		{"malformed user id", "GET", "/v1.0/communications/presences/not-a-user", app, nil, nil, 400, "invalidRequest", "GUID"},
		{"more than 650 ids", "POST", "/v1.0/communications/getPresencesByUserId", app, map[string]any{"ids": tooMany}, nil, 400, "invalidRequest", "651"},
		// The required-ids message says what is accepted: [] is (an empty collection), so not "1 to 650".
		{"ids missing", "POST", "/v1.0/communications/getPresencesByUserId", app, map[string]any{}, nil, 400, "invalidRequest", "at most 650 user ids"},
		{"ids null", "POST", "/v1.0/communications/getPresencesByUserId", app, map[string]any{"ids": nil}, nil, 400, "invalidRequest", "an empty array answers an empty collection"},
		{"ids not strings", "POST", "/v1.0/communications/getPresencesByUserId", app, map[string]any{"ids": []any{adele, 7}}, nil, 400, "invalidRequest", "ids[1]"},
		{"ids malformed entry", "POST", "/v1.0/communications/getPresencesByUserId", app, map[string]any{"ids": []any{adele, "x y"}}, nil, 400, "invalidRequest", "ids[1]"},
		{"ids missing", "POST", "/v1.0/communications/getPresencesByUserId", app, map[string]any{}, nil, 400, "invalidRequest", "ids"},
		// Routes and methods.
		{"unknown action", "POST", u + "setMood", app, map[string]any{}, nil, 400, "BadRequest", "setMood"},
		{"wrong method", "DELETE", u[:len(u)-1], app, nil, nil, 405, "notSupported", "DELETE"},
		{"GET an action", "GET", u + "setPresence", app, nil, nil, 405, "notSupported", "POST"},
		{"unknown path", "GET", "/v1.0/users/" + adele + "/mailFolders", app, nil, nil, 404, "BadRequest", "mailFolders"},
		// A trailing '/' on a path a route serves says so, not "not found for the segment 'presence'".
		{"trailing slash", "GET", u, app, nil, nil, 404, "BadRequest", "'" + u + "' ends in '/': write it without ('" + u[:len(u)-1] + "')"},
		{"trailing slash on a write", "POST", u + "setPresence/", app, setBody("Available", "Available", ""), nil, 404, "BadRequest", "'" + u + "setPresence/' ends in '/'"},
		{"trailing slash on a list", "GET", "/v1.0/communications/presences/", app, nil, nil, 404, "BadRequest", "ends in '/'"},
		{"trailing slash on no route", "GET", "/v1.0/users/" + adele + "/mailFolders/", app, nil, nil, 404, "BadRequest", "Resource not found for the segment 'mailFolders'"},
		{"list presences", "GET", "/v1.0/communications/presences", app, nil, nil, 400, "notSupported", "getPresencesByUserId"},
	}
	want := e.get(app, adele)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := append([]string{"client-request-id", "bad-" + strings.ReplaceAll(c.name, " ", "-")}, c.headers...)
			r := e.call(c.method, c.path, c.token, c.body, h...)
			if r.status != c.status || r.errCode() != c.code {
				t.Fatalf("got %d %q, want %d %q: %s", r.status, r.errCode(), c.status, c.code, r.raw)
			}
			if !strings.Contains(r.errMessage(), c.msg) {
				t.Errorf("message %q does not mention %q", r.errMessage(), c.msg)
			}
			inner, _ := r.body["error"].(map[string]any)["innerError"].(map[string]any)
			if inner["request-id"] == "" || inner["request-id"] != r.header.Get("request-id") || inner["client-request-id"] != h[1] || inner["date"] == "" {
				t.Errorf("innerError = %v", inner)
			}
			if r.header.Get("client-request-id") != h[1] {
				t.Errorf("client-request-id not echoed")
			}
			if got := e.get(app, adele); string(got.raw) != string(want.raw) {
				t.Fatalf("a rejected request changed adele's presence:\nbefore %s\nafter  %s", want.raw, got.raw)
			}
		})
	}
	t.Run("expired token", func(t *testing.T) {
		e.fake.Add(2 * time.Hour)
		r := e.call("GET", u[:len(u)-1], expired, nil)
		if r.status != http.StatusUnauthorized || !strings.Contains(r.errMessage(), "expired") {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
}
