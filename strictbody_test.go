package presenced_test

import (
	"strings"
	"testing"

	"github.com/presenced/presenced/directory"
)

// TestStrictBodiesAsGraphReadsThem: what encoding/json would read silently
// differently from what was sent, and durations out of the documented
// range, are refused with a Graph error that says why, and write nothing.
//   - An explicit expirationDuration is in range, PT0S and P0D included:
//     only an absent one means the default.
//   - A property that appears twice in one object is refused (OData
//     rejects duplicate properties; encoding/json would keep the last).
//   - A body that is not UTF-8, or holds an unpaired surrogate escape, is
//     refused (encoding/json would store U+FFFD in its place).
func TestStrictBodiesAsGraphReadsThem(t *testing.T) {
	e := start(t)
	app := e.appToken()
	adele := e.user("adele")
	u := "/v1.0/users/" + adele + "/presence/"
	sid := directory.DemoDaemonClientID
	e.must("POST", u+"setPresence", app, setBody("Busy", "InACall", "PT1H"))
	e.must("POST", u+"setStatusMessage", app, map[string]any{"statusMessage": map[string]any{"message": map[string]any{"content": "before"}}})
	status := func(content string) string {
		return `{"statusMessage":{"message":{"content":"` + content + `","contentType":"text"}}}`
	}
	cases := []struct {
		name, action string
		body         any
		code, msg    string
		target       string
	}{
		{"setPresence PT0S", "setPresence", setBody("Away", "Away", "PT0S"), "invalidRequest", "expirationDuration PT0S is out of range; accepted PT5M..PT4H", "expirationDuration"},
		{"setPresence P0D", "setPresence", setBody("Away", "Away", "P0D"), "invalidRequest", "expirationDuration PT0S is out of range; accepted PT5M..PT4H", "expirationDuration"},
		{"setPresence duration given as empty", "setPresence", `{"sessionId":"` + sid + `","availability":"Away","activity":"Away","expirationDuration":""}`, "invalidRequest", "duration is empty", "expirationDuration"},
		{"setUserPreferredPresence PT0S", "setUserPreferredPresence", map[string]any{"availability": "Away", "activity": "Away", "expirationDuration": "PT0S"}, "invalidRequest", "accepted PT5M..P30D", "expirationDuration"},
		{"setUserPreferredPresence P0D", "setUserPreferredPresence", map[string]any{"availability": "Busy", "activity": "Busy", "expirationDuration": "P0D"}, "invalidRequest", "accepted PT5M..P30D", "expirationDuration"},
		{"duplicate property", "setPresence", `{"sessionId":"` + sid + `","availability":"Away","activity":"Away","availability":"Available"}`, "invalidRequest", "Property 'availability' appears twice in the request body; each property may appear once.", "availability"},
		{"duplicate property spelled with an escape", "setPresence", `{"sessionId":"` + sid + `","availability":"Away","activity":"Away","\u0061vailability":"Away"}`, "invalidRequest", "Property 'availability' appears twice", "availability"},
		{"duplicate nested property", "setStatusMessage", `{"statusMessage":{"message":{"content":"a","content":"b"}}}`, "invalidRequest", "Property 'statusMessage.message.content' appears twice", "statusMessage.message.content"},
		{"duplicate ids", "getPresencesByUserId", `{"ids":["` + adele + `"],"ids":["` + adele + `"]}`, "invalidRequest", "Property 'ids' appears twice", "ids"},
		{"invalid UTF-8 in a status message", "setStatusMessage", status("caf\xe9 au lait"), "UnableToDeserializePostBody", "The request body is not valid UTF-8 at byte 43", ""},
		{"invalid UTF-8 in a property name", "setPresence", "{\"session\xffId\":\"x\"}", "UnableToDeserializePostBody", "not valid UTF-8 at byte 9", ""},
		{"unpaired surrogate escape", "setStatusMessage", status(`\ud83d alone`), "UnableToDeserializePostBody", "surrogate", ""},
	}
	before := e.get(app, adele)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := u + c.action
			if c.action == "getPresencesByUserId" {
				path = "/v1.0/communications/getPresencesByUserId"
			}
			r := e.call("POST", path, app, c.body)
			errBody, _ := r.body["error"].(map[string]any)
			target, _ := errBody["target"].(string)
			if r.status != 400 || r.errCode() != c.code || !strings.Contains(r.errMessage(), c.msg) || target != c.target {
				t.Fatalf("got %d %q %q target %q; want 400 %q mentioning %q, target %q", r.status, r.errCode(), r.errMessage(), target, c.code, c.msg, c.target)
			}
			if after := e.get(app, adele); string(after.raw) != string(before.raw) {
				t.Fatalf("a rejected request changed adele's presence:\nbefore %s\nafter  %s", before.raw, after.raw)
			}
		})
	}
	// No expirationDuration (or null) is the default.
	e.must("POST", u+"setPresence", app, setBody("Away", "Away", ""))
	e.must("POST", u+"setPresence", app, `{"sessionId":"`+sid+`","availability":"Away","activity":"Away","expirationDuration":null}`)
	// A pair of surrogate escapes is one character and is kept as sent.
	e.must("POST", u+"setStatusMessage", app, status(`\ud83d\ude00 back soon`))
	if m := e.get(app, adele).body["statusMessage"].(map[string]any)["message"].(map[string]any)["content"]; m != "\U0001F600 back soon" {
		t.Fatalf("status message %q", m)
	}
}
