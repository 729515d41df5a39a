package presenced_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/directory"
)

// subResp is one entry of a $batch's "responses".
type subResp struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

func (s subResp) field(t *testing.T, key string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(s.Body, &m); err != nil {
		t.Fatalf("response %s: body %s: %v", s.ID, s.Body, err)
	}
	if e, ok := m["error"].(map[string]any); ok && key == "code" {
		v, _ := e["code"].(string)
		return v
	}
	v, _ := m[key].(string)
	return v
}

// batch posts a $batch and returns its responses by id.
func (e *env) batch(version, token string, requests ...map[string]any) (resp, map[string]subResp) {
	e.t.Helper()
	r := e.call("POST", "/"+version+"/$batch", token, map[string]any{"requests": requests})
	if r.status != 200 {
		return r, nil
	}
	var body struct{ Responses []subResp }
	if err := json.Unmarshal(r.raw, &body); err != nil {
		e.t.Fatalf("batch response: %v\n%s", err, r.raw)
	}
	out := map[string]subResp{}
	for _, s := range body.Responses {
		out[s.ID] = s
	}
	if len(out) != len(requests) {
		e.t.Fatalf("%d responses to %d requests: %s", len(out), len(requests), r.raw)
	}
	return r, out
}

func getReq(id, url string, dependsOn ...string) map[string]any {
	m := map[string]any{"id": id, "method": "GET", "url": url}
	if len(dependsOn) > 0 {
		m["dependsOn"] = dependsOn
	}
	return m
}

func postReq(id, url string, body any, dependsOn ...string) map[string]any {
	m := map[string]any{"id": id, "method": "POST", "url": url, "body": body, "headers": map[string]string{"Content-Type": "application/json"}}
	if len(dependsOn) > 0 {
		m["dependsOn"] = dependsOn
	}
	return m
}

// A batch mixes reads and writes, under /v1.0 and /beta; each request is
// served as it would be alone, and a read that depends on a write sees it.
func TestBatchMixedReadsAndWrites(t *testing.T) {
	e := start(t)
	app := e.appToken()
	adele, alex := e.user("adele"), e.user("alex")
	for _, version := range []string{"v1.0", "beta"} {
		t.Run(version, func(t *testing.T) {
			avail, act := "Busy", "InACall"
			if version == "beta" {
				avail, act = "DoNotDisturb", "Presenting"
			}
			r, res := e.batch(version, app,
				getReq("before", "/users/"+alex+"/presence"),
				postReq("set", "/users/"+adele+"/presence/setPresence", setBody(avail, act, "PT1H")),
				getReq("after", "users/"+adele+"/presence", "set"), // the leading slash is optional
				postReq("many", "/communications/getPresencesByUserId", map[string]any{"ids": []string{adele, alex}}, "set"),
			)
			if r.header.Get("OData-Version") != "4.0" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Errorf("batch headers: %v", r.header)
			}
			if s := res["before"]; s.Status != 200 || s.field(t, "availability") != "Offline" ||
				!strings.Contains(s.field(t, "@odata.context"), "/"+version+"/$metadata#users('"+alex+"')/presence/$entity") ||
				!strings.HasPrefix(s.Headers["Content-Type"], "application/json") || s.Headers["OData-Version"] != "4.0" {
				t.Errorf("before: %+v %s", s, s.Body)
			}
			if s := res["set"]; s.Status != 200 || len(s.Body) != 0 {
				t.Errorf("set: %+v %s", s, s.Body)
			}
			if s := res["after"]; s.Status != 200 || s.field(t, "availability")+"/"+s.field(t, "activity") != avail+"/"+act {
				t.Errorf("after: %d %s", s.Status, s.Body)
			}
			if s := res["many"]; s.Status != 200 || !strings.Contains(string(s.Body), `"value":[`) || !strings.Contains(string(s.Body), avail) {
				t.Errorf("many: %d %s", s.Status, s.Body)
			}
			if got := pair(e.get(app, adele)); got != avail+"/"+act {
				t.Errorf("the batch's write, read alone: %s", got)
			}
		})
	}
}

// A failed request fails every request that depends on it, directly or
// not, with 424; requests that do not depend on it run.
func TestBatchDependencyChainWithAFailure(t *testing.T) {
	e := start(t)
	app := e.appToken()
	adele := e.user("adele")
	_, res := e.batch("v1.0", app,
		getReq("1", "/users/"+adele+"/presence"),
		postReq("2", "/users/"+adele+"/presence/clearPresence", map[string]any{"sessionId": directory.DemoDaemonClientID}, "1"), // no such session: 404
		postReq("3", "/users/"+adele+"/presence/setPresence", setBody("Busy", "InACall", "PT1H"), "2"),
		getReq("4", "/users/"+adele+"/presence", "3"),
		getReq("5", "/users/"+adele+"/presence"),
	)
	want := map[string]int{"1": 200, "2": 404, "3": 424, "4": 424, "5": 200}
	for id, st := range want {
		if res[id].Status != st {
			t.Errorf("request %s: %d %s, want %d", id, res[id].Status, res[id].Body, st)
		}
	}
	if c := res["3"].field(t, "code"); c != "failedDependency" || !strings.Contains(string(res["3"].Body), "depends on request '2', which failed with 404") {
		t.Errorf("424 body: %s", res["3"].Body)
	}
	if got := pair(e.get(app, adele)); got != "Offline/Offline" {
		t.Errorf("the write after the failure ran: %s", got)
	}
}

// A request to a path the API does not serve fails alone, as it would
// outside a batch; so does a method a path does not take.
func TestBatchUnknownPath(t *testing.T) {
	e := start(t)
	app := e.appToken()
	adele := e.user("adele")
	_, res := e.batch("v1.0", app,
		getReq("unknown", "/users/"+adele+"/mailFolders"),
		getReq("action", "/users/"+adele+"/presence/noSuchAction"),
		map[string]any{"id": "wrong-method", "method": "DELETE", "url": "/users/" + adele + "/presence"},
		getReq("ok", "/users/"+adele+"/presence"),
		getReq("slash", "/users/"+adele+"/presence/"),
	)
	if s := res["slash"]; s.Status != 404 || !strings.Contains(string(s.Body), "/users/"+adele+"/presence/' ends in '/'") {
		t.Errorf("trailing slash: %d %s", s.Status, s.Body)
	}
	if s := res["unknown"]; s.Status != 404 || s.field(t, "code") != "BadRequest" || !strings.Contains(string(s.Body), "mailFolders") {
		t.Errorf("unknown path: %d %s", s.Status, s.Body)
	}
	if s := res["action"]; s.Status != 405 && s.Status != 400 {
		t.Errorf("unknown action: %d %s", s.Status, s.Body)
	}
	if s := res["wrong-method"]; s.Status != 405 || s.Headers["Allow"] != "GET" {
		t.Errorf("wrong method: %d %v %s", s.Status, s.Headers, s.Body)
	}
	if res["ok"].Status != 200 {
		t.Errorf("the good request: %d %s", res["ok"].Status, res["ok"].Body)
	}
}

// Each request of a batch is counted against the application's budget on
// its own: past it, the batch answers 200 and the requests over the budget
// answer 429 with Retry-After, as Graph's do.
func TestBatchRequestsAreThrottledEachOnItsOwn(t *testing.T) {
	e := startWithConfig(t, func(c *presenced.Config) { c.ThrottleRequests = 5 })
	app := e.appToken()
	adele := e.user("adele")
	var reqs []map[string]any
	for i := range 8 {
		reqs = append(reqs, getReq(fmt.Sprint(i), "/users/"+adele+"/presence"))
	}
	r, res := e.batch("v1.0", app, reqs...)
	if r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.raw)
	}
	ok, throttled := 0, 0
	for _, s := range res {
		switch s.Status {
		case 200:
			ok++
		case 429:
			throttled++
			if s.field(t, "code") != "TooManyRequests" || s.Headers["Retry-After"] != "6" { // 5 per 30 s: one every 6 s
				t.Errorf("429: %v %s", s.Headers, s.Body)
			}
		}
	}
	if ok != 5 || throttled != 3 {
		t.Errorf("%d answered, %d throttled; want 5 and 3", ok, throttled)
	}
}

// A batch that is not well-formed is one Graph error, and none of its
// requests runs: not the write it holds either.
func TestMalformedBatchesWriteNothing(t *testing.T) {
	e := start(t)
	app := e.appToken()
	adele := e.user("adele")
	write := postReq("w", "/users/"+adele+"/presence/setPresence", setBody("Busy", "InACall", "PT1H"))
	many := make([]any, 21)
	for i := range many {
		many[i] = postReq(fmt.Sprint(i), "/users/"+adele+"/presence/setPresence", setBody("Busy", "InACall", "PT1H"))
	}
	tests := []struct {
		name, body, want string
	}{
		{"21 requests", mustJSON(t, map[string]any{"requests": many}), "The batch has 21 requests; a batch holds 1 to 20 requests."},
		{"no requests", `{"requests":[]}`, "The batch has 0 requests"},
		{"not JSON", `{"requests":[`, "UnableToDeserializePostBody"},
		{"requests is not an array", `{"requests":{}}`, "must be an array"},
		{"requests missing", `{}`, "Property 'requests' is required"},
		{"an unknown property", batchOf(t, write, map[string]any{"id": "x", "method": "GET", "url": "/me", "priority": 1}), "'requests[1].priority'"},
		{"a request without id", batchOf(t, write, map[string]any{"method": "GET", "url": "/users/" + adele + "/presence"}), "requests[1].id' is required"},
		{"two ids that differ in case only", batchOf(t, write, getReq("W", "/users/"+adele+"/presence")), "both have the id 'W'"},
		{"dependsOn an unknown id", batchOf(t, write, getReq("r", "/users/"+adele+"/presence", "nope")), "names 'nope': no request of the batch"},
		{"dependsOn itself", batchOf(t, write, getReq("r", "/users/"+adele+"/presence", "r")), "cannot depend on itself"},
		{"a cycle", batchOf(t, write, getReq("a", "/users/"+adele+"/presence", "b"), getReq("b", "/users/"+adele+"/presence", "a")), "in a cycle"},
		{"a body without Content-Type", batchOf(t, write, map[string]any{"id": "b", "method": "POST", "url": "/users/" + adele + "/presence/setPresence", "body": setBody("Away", "Away", "")}), "no Content-Type header"},
		{"an absolute url", batchOf(t, write, getReq("abs", "https://graph.microsoft.com/v1.0/users/"+adele+"/presence")), "not a URL relative to the version"},
		{"a batch in a batch", batchOf(t, write, postReq("nested", "/$batch", map[string]any{"requests": []any{}})), "a batch cannot contain a batch"},
		// The routes answered these with a 307 to the clean path, no body,
		// inside the batch's 200: a request of a batch cannot follow it.
		{"a '..' segment", batchOf(t, write, getReq("dots", "/users/../users/"+adele+"/presence")), "'.', '..' or empty path segments"},
		{"a '.' segment", batchOf(t, write, getReq("dot", "/./users/"+adele+"/presence")), "'.', '..' or empty path segments"},
		{"an empty segment", batchOf(t, write, getReq("empty", "/users//"+adele+"/presence")), "'.', '..' or empty path segments"},
		{"an empty user id (an SDK given \"\")", batchOf(t, write, postReq("empty-id", "/users//presence/setPresence", setBody("Away", "Away", ""))), "'.', '..' or empty path segments"},
		{"'..' out of the version", batchOf(t, write, getReq("out", "/../metrics")), "'.', '..' or empty path segments"},
		{"an escaped '..' to a batch", batchOf(t, write, postReq("nested2", "/users/..%2f$batch", map[string]any{"requests": []any{}})), "'.', '..' or empty path segments"},
		{"an unknown method", batchOf(t, write, map[string]any{"id": "m", "method": "BREW", "url": "/me/presence"}), "method 'BREW' is not accepted"},
		{"a body that is a string but not base64", batchOf(t, write, map[string]any{"id": "s", "method": "POST", "url": "/users/" + adele + "/presence/setPresence", "body": "{not base64}", "headers": map[string]string{"Content-Type": "application/json"}}), "not base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call("POST", "/v1.0/$batch", app, tt.body)
			if r.status != 400 || !strings.Contains(string(r.raw), tt.want) || r.body["error"] == nil {
				t.Errorf("%d %s, want 400 with %q", r.status, r.raw, tt.want)
			}
		})
	}
	if got := pair(e.get(app, adele)); got != "Offline/Offline" {
		t.Errorf("a malformed batch wrote: %s", got)
	}
	// Without a token the batch is refused whole.
	if r := e.call("POST", "/v1.0/$batch", "", batchOf(t, write)); r.status != http.StatusUnauthorized {
		t.Errorf("no token: %d %s", r.status, r.raw)
	}
	if r := e.call("GET", "/v1.0/$batch", app, nil); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
		t.Errorf("GET $batch: %d %s", r.status, r.raw)
	}
	if got := pair(e.get(app, adele)); got != "Offline/Offline" {
		t.Errorf("a refused batch wrote: %s", got)
	}
}

// A delegated token's batch runs with that user: /me works inside it, and
// the rules about whom it may write hold for each request.
func TestBatchRunsWithTheBatchsToken(t *testing.T) {
	e := start(t)
	tok := e.userToken("adele", "")
	alex := e.user("alex")
	_, res := e.batch("v1.0", tok,
		postReq("mine", "/me/presence/setPresence", map[string]any{"sessionId": directory.DemoClientID, "availability": "Away", "activity": "Away"}),
		postReq("theirs", "/users/"+alex+"/presence/setPresence", map[string]any{"sessionId": directory.DemoClientID, "availability": "Away", "activity": "Away"}),
		// A token in a request's headers does not replace the batch's.
		map[string]any{"id": "me", "method": "GET", "url": "/me/presence", "headers": map[string]string{"Authorization": "Bearer nonsense"}},
	)
	if res["mine"].Status != 200 || res["theirs"].Status != 403 || res["me"].Status != 200 || res["me"].field(t, "availability") != "Away" {
		t.Errorf("mine %d, theirs %d, me %d %s", res["mine"].Status, res["theirs"].Status, res["me"].Status, res["me"].Body)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func batchOf(t *testing.T, reqs ...map[string]any) string {
	return mustJSON(t, map[string]any{"requests": reqs})
}
