package graphapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/presence"
)

const fuzzClient = "6dcddc99-5a7f-430c-a555-551d652a37b1"

func fuzzRequest(body []byte) *http.Request {
	r := httptest.NewRequest("POST", "/v1.0/me/presence/x", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// checkDecodeErr fails unless err is one of the typed errors the API renders:
// a decoder must never fail with a foreign error (that would be a 500).
func checkDecodeErr(t *testing.T, err error) {
	var pe *presence.Error
	var he *httpError
	if err != nil && !errors.As(err, &pe) && !errors.As(err, &he) {
		t.Fatalf("untyped error %T: %v", err, err)
	}
	if pe != nil && (pe.Code != presence.Invalid && pe.Code != presence.TooLarge && pe.Code != presence.Unsupported) {
		t.Fatalf("decoder error with code %s: %v", pe.Code, err)
	}
}

// FuzzDecodeActions feeds arbitrary bodies to every action decoder: no
// panic, only typed 4xx errors, and whatever decodes validates or is
// rejected with a typed error.
func FuzzDecodeActions(f *testing.F) {
	seeds := []string{
		`{"sessionId":"` + fuzzClient + `","availability":"Available","activity":"Available","expirationDuration":"PT1H"}`,
		`{"sessionId":"` + fuzzClient + `:phone"}`,
		`{"availability":"Busy","activity":"Busy","expirationDuration":"P1D"}`,
		`{}`, ``, `null`, `[]`, `{"a@odata.type":"x"}`,
		`{"statusMessage":{"message":{"content":"hi","contentType":"text"},"expiryDateTime":{"dateTime":"2026-12-01T10:00:00","timeZone":"Pacific Standard Time"}}}`,
		`{"statusMessage":{"message":null}}`, `{"ids":["a@b.c","x"]}`, `{"sessionId":1e999}`,
		`{"availability":"Busy","availability":"Away"}`, "{\"statusMessage\":{\"message\":{\"content\":\"\xff\"}}}",
		`{"expirationDuration":"PT0S"}`, `{"expirationDuration":""}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	a := &API{maxBody: 4 << 10}
	p := auth.Principal{ClientID: fuzzClient, TenantID: "t"}
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		for name, spec := range actions {
			cmd, err := spec.decode(a, fuzzRequest(body), p)
			checkDecodeErr(t, err)
			if err == nil {
				if cmd == nil {
					t.Fatalf("%s: nil command without error", name)
				}
				if _, _, err := presence.Apply(presence.Facts{}, cmd, now); err != nil {
					var pe *presence.Error
					if !errors.As(err, &pe) {
						t.Fatalf("%s: apply failed untyped: %v", name, err)
					}
				}
			}
		}
		// A recycled scratch, as the handler's: ids are slices of its
		// body, which held the previous input.
		sc := manyScratch.Get().(*idsScratch)
		ids, err := a.decodeIDs(fuzzRequest(body), sc)
		checkDecodeErr(t, err)
		if err == nil && len(ids) > MaxIDs {
			t.Fatalf("decodeIDs accepted %d ids", len(ids))
		}
		if err == nil {
			strict, serr := decodeIDsStrict(body)
			if serr != nil || !slices.Equal(ids, strict) {
				t.Fatalf("decodeIDs(%q) = %q, the strict decoder %q, %v", body, ids, strict, serr)
			}
		}
		sc.put()
	})
}

// idsBodies are getPresencesByUserId bodies, good and bad, for the scanner's
// tests.
var idsBodies = []string{
	`{"ids":["fa8bf3dc-eca7-46b7-bad1-db199b62afc3","adele@contoso.dev"]}`,
	" {\n\t\"ids\" : [ \"a@b.c\" ,\r\n\"x\" ] } \n",
	`{"ids":[]}`, `{"ids":[""]}`, `{"ids":["a"],"x":1}`, `{"ids":["a"]}x`, `{"ids":["a",]}`, `{"ids":["a""b"]}`,
	`{"ids":null}`, `{"ids":"a"}`, `{"ids":[1]}`, `{"ids":["\u0061@b.c"]}`, `{"ids":["a\"b"]}`, `{"ids":["é@b.c"]}`,
	`{"ids":["a@b.c"],"ids":["d@e.f"]}`, `{"ids@odata.type":"#Collection(String)","ids":["a@b.c"]}`,
	`{"IDs":["a"]}`, `{"ids":["a"]`, `{"ids":["a]}`, `["a"]`, `{}`, ``, "\ufeff{\"ids\":[\"a\"]}", `{"ids":["a` + "\x7f" + `"]}`,
	`{"ids":["a` + "\x01" + `"]}`, `{"ids":["a` + "\xff" + `"]}`,
}

// FuzzScanIDs checks that the fast path of decodeIDs returns exactly what
// the strict decoder returns for every body it accepts (and otherwise
// leaves the body to the strict decoder).
func FuzzScanIDs(f *testing.F) {
	for _, s := range idsBodies {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"ids":[` + strings.Repeat(`"a@b.c",`, MaxIDs-1) + `"a@b.c"]}`))
	f.Add([]byte(`{"ids":[` + strings.Repeat(`"a@b.c",`, MaxIDs) + `"a@b.c"]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkScanIDs(t, body)
	})
}

func checkScanIDs(t *testing.T, body []byte) {
	t.Helper()
	ids, ok := scanIDs(body)
	if !ok {
		return
	}
	var strict []string
	var err error
	if len(bytes.TrimSpace(body)) == 0 { // readBody's nil
		strict, err = decodeIDsStrict(nil)
	} else {
		strict, err = decodeIDsStrict(body)
	}
	if err != nil {
		t.Fatalf("scanIDs accepted %q, the strict decoder says %v", body, err)
	}
	if !slices.Equal(ids, strict) || len(ids) > MaxIDs {
		t.Fatalf("scanIDs(%q) = %q, the strict decoder %q", body, ids, strict)
	}
}

// TestScanIDs: the fast path takes the bodies clients send, and leaves
// everything unusual to the strict decoder, whose answers and errors are
// therefore unchanged.
func TestScanIDs(t *testing.T) {
	for _, s := range idsBodies {
		checkScanIDs(t, []byte(s))
	}
	for _, s := range []string{idsBodies[0], idsBodies[1], idsBodies[2], idsBodies[3],
		`{"ids":[` + strings.Repeat(`"a@b.c",`, MaxIDs-1) + `"a@b.c"]}`} {
		if _, ok := scanIDs([]byte(s)); !ok {
			t.Errorf("scanIDs does not take %q", s)
		}
	}
	for _, s := range idsBodies[4:] {
		if ids, ok := scanIDs([]byte(s)); ok {
			t.Errorf("scanIDs took %q (= %q): it should be left to the strict decoder", s, ids)
		}
	}
	if _, ok := scanIDs([]byte(`{"ids":[` + strings.Repeat(`"a@b.c",`, MaxIDs) + `"a@b.c"]}`)); ok {
		t.Error("scanIDs took more than MaxIDs ids")
	}
	// Through decodeIDs, the strict decoder's errors are the answers.
	a := &API{maxBody: 128 << 10}
	for _, s := range idsBodies {
		sc := manyScratch.Get().(*idsScratch) // recycled: the previous body was in it
		got, gotErr := a.decodeIDs(fuzzRequest([]byte(s)), sc)
		got = slices.Clone(got)
		sc.put()
		want, wantErr := decodeIDsStrict([]byte(s))
		if len(bytes.TrimSpace([]byte(s))) == 0 {
			want, wantErr = decodeIDsStrict(nil)
		}
		if wantErr == nil {
			for i, id := range want {
				if err := checkUserID("ids", id); err != nil {
					want, wantErr = nil, presence.Errorf(presence.Invalid, "ids", "ids[%d]: %s", i, presence.ErrorMessage(err))
					break
				}
			}
		}
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !slices.Equal(got, want) {
			t.Errorf("decodeIDs(%q) = %q, %v; want %q, %v", s, got, gotErr, want, wantErr)
		}
	}
}

// flatBodies are bodies for scanFlat: the usual ones it must take, and
// unusual ones it must leave to the strict decoder.
var flatBodies = []struct {
	body  string
	plain bool
}{
	{`{"sessionId":"6dcddc99-5a7f-430c-a555-551d652a37b1:a","availability":"Busy","activity":"InACall","expirationDuration":"PT1H"}`, true},
	{" {\n\t\"sessionId\" : \"s\" ,\r\n \"availability\":\"Away\"}\n", true},
	{`{}`, true},
	{`{"@odata.type":"#microsoft.graph.x","sessionId":""}`, true},
	{`{"sessionId":"a","sessionId":"b"}`, false},            // the strict decoder refuses it, and says why
	{`{"sessionId":"caf\u00e9"}`, false},                    // escape
	{`{"sessionId":"café"}`, false},                         // non-ASCII
	{`{"expirationDuration":null}`, false},                  // not a string
	{`{"expirationDuration":3600}`, false},                  // not a string
	{`{"sessionId":"a"} {}`, false},                         // data after the object
	{`{"sessionId":"a",}`, false},                           // trailing comma
	{`{"sessionId" "a"}`, false},                            // no colon
	{`["sessionId","a"]`, false},                            // not an object
	{`{"sessionId":"a"`, false},                             // unterminated
	{`{"status":{"message":{"content":"hi"}}}`, false},      // nested
	{"{\"sessionId\":\"a\tb\"}", false},                     // control character in a string
	{`{"sessionId":"a"}` + "\x00", false},                   // not whitespace after
	{`{"a":"1","b":"2","c":"3","d":"4","e":"5"}`, true},     // more keys than usual
	{`{"Availability":"Busy","availability":"Away"}`, true}, // case differs: two keys
	{`{"a":"1","b":"2","c":"3","d":"4","e":"5","f":"6","g":"7","h":"8","i":"9","j":"10","k":"11","l":"12","m":"13","n":"14","o":"15","p":"16"}`, true},
	{`{"a":"1","b":"2","c":"3","d":"4","e":"5","f":"6","g":"7","h":"8","i":"9","j":"10","k":"11","l":"12","m":"13","n":"14","o":"15","p":"16","q":"17"}`, false}, // more than maxFlat
}

func checkScanFlat(t *testing.T, body []byte) {
	t.Helper()
	obj, ok := scanFlatMap(body)
	if !ok {
		return
	}
	strict, err := strictObject(body, "")
	if err != nil {
		t.Fatalf("scanFlat accepted %q, the strict decoder says %v", body, err)
	}
	if len(obj) != len(strict) {
		t.Fatalf("scanFlat(%q) = %q, the strict decoder %q", body, obj, strict)
	}
	for k, v := range strict {
		if !bytes.Equal(obj[k], v) {
			t.Fatalf("scanFlat(%q)[%q] = %s, the strict decoder %s", body, k, obj[k], v)
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil || s != string(v[1:len(v)-1]) {
			t.Fatalf("value %s of %q is not its bytes between quotes (%q, %v)", v, body, s, err)
		}
	}
}

// scanFlatMap is scanFlat's members as the strict decoder's map.
func scanFlatMap(body []byte) (map[string]json.RawMessage, bool) {
	ms, ok := scanFlat(body, nil)
	if !ok {
		return nil, false
	}
	obj := make(map[string]json.RawMessage, len(ms))
	for _, m := range ms {
		obj[m.key] = json.RawMessage(m.val)
	}
	return obj, true
}

// TestScanFlat: the fast path takes the bodies clients send and leaves
// everything unusual to the strict decoder, whose answers and errors are
// therefore unchanged.
func TestScanFlat(t *testing.T) {
	for _, c := range flatBodies {
		if _, ok := scanFlatMap([]byte(c.body)); ok != c.plain {
			t.Errorf("scanFlat(%q): plain %v, want %v", c.body, ok, c.plain)
		}
		checkScanFlat(t, []byte(c.body))
	}
}

// FuzzScanFlat: whatever scanFlat takes, the strict decoder (encoding/json
// and its checks) reads the same way.
func FuzzScanFlat(f *testing.F) {
	for _, c := range flatBodies {
		f.Add([]byte(c.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkScanFlat(t, body)
	})
}

// TestDecodeBodyRecycled: decodeBody reads into a recycled buffer; what one
// request decoded stays as it was when later requests (flat or not, larger
// or smaller) are read into the same buffers, and a body the strict decoder
// read (whose raw values are slices of its buffer) is not recycled.
func TestDecodeBodyRecycled(t *testing.T) {
	decode := func(body string) (sid, avail, act string) {
		t.Helper()
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var exp optString
		err := decodeBody(r, 4<<10, "setPresence", false,
			param{"sessionId", &sid}, param{"availability", &avail}, param{"activity", &act}, param{"expirationDuration", &exp})
		if err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
		return sid, avail, act
	}
	type got struct{ sid, avail, act string }
	bodies := []string{
		`{"sessionId":"aaaaaaaa","availability":"Available","activity":"Available"}`,
		`{"sessionId":"b","availability":"Busy","activity":"InACall"}`,
		// Not flat (an escape, spaces): the strict decoder's.
		"{ \"sessionId\" : \"c\\u0063\", \"availability\":\"Away\",\"activity\":\"Away\" }",
		`{"sessionId":"` + strings.Repeat("d", 2000) + `","availability":"DoNotDisturb","activity":"Presenting"}`,
		`{"sessionId":"e","availability":"BeRightBack","activity":"BeRightBack"}`,
	}
	want := []got{
		{"aaaaaaaa", "Available", "Available"},
		{"b", "Busy", "InACall"},
		{"cc", "Away", "Away"},
		{strings.Repeat("d", 2000), "DoNotDisturb", "Presenting"},
		{"e", "BeRightBack", "BeRightBack"},
	}
	var kept []got
	for round := range 50 {
		for _, b := range bodies {
			sid, avail, act := decode(b)
			kept = append(kept, got{sid, avail, act})
		}
		for i, g := range kept {
			if w := want[i%len(want)]; g != w {
				t.Fatalf("round %d: decoded value %d changed to %+v after later requests; want %+v", round, i, g, w)
			}
		}
	}
}

// decodeFlat decodes a flat body's members in whatever order they come as
// it does them in the order of their names (the strict decoder's, which
// visits a map's sorted keys): the same values and the same first error,
// whether or not it sorts them (it does not when nothing can fail).
func TestDecodeFlatAsStrict(t *testing.T) {
	bodies := []string{
		`{"sessionId":"s","availability":"Busy","activity":"InACall","expirationDuration":"PT1H"}`,
		`{"expirationDuration":"PT1H","activity":"InACall","availability":"Busy","sessionId":"s"}`,
		`{"activity":"InACall","x@odata.type":"#String","sessionId":"s"}`,
		`{"zzz":"1","activity":"InACall","aaa":"2"}`,
		`{"activity":"InACall","Availability":"Busy"}`,
		`{"message":"m","sessionId":"s"}`,
		`{}`,
	}
	type out struct {
		session, avail, act string
		exp                 optString
		raw                 string
		err                 string
	}
	decode := func(body string, sorted bool) out {
		var o out
		params := []param{{"sessionId", &o.session}, {"availability", &o.avail}, {"activity", &o.act}, {"expirationDuration", &o.exp},
			{"message", func(raw json.RawMessage) error { o.raw = string(raw); return errors.New("no message here") }}}
		ms, ok := scanFlat([]byte(body), nil)
		if !ok {
			t.Fatalf("%s: not flat", body)
		}
		if sorted {
			slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.key, b.key) })
		}
		if err := decodeFlat(ms, "setPresence", "", params); err != nil {
			o.err = err.Error()
		}
		return o
	}
	for _, body := range bodies {
		if got, want := decode(body, false), decode(body, true); got != want {
			t.Errorf("%s: as written %+v, in the names' order %+v", body, got, want)
		}
	}
}

// firstValue reads what Header.Get reads, for a canonical key.
func TestFirstValue(t *testing.T) {
	h := http.Header{"Content-Type": {"application/json", "text/plain"}, "Content-Encoding": {}, "X-Empty": {""}}
	for _, k := range []string{"Content-Type", "Content-Encoding", "X-Empty", "Authorization"} {
		if got, want := firstValue(h, k), h.Get(k); got != want {
			t.Errorf("firstValue(%s) = %q, Get %q", k, got, want)
		}
	}
}
