package graphapi

import (
	"bytes"
	"errors"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/presenced/presenced/presence"
)

// strictBodies are bodies for strictObject: ones it takes, and ones it
// refuses with the error code and target a client sees.
var strictBodies = []struct {
	body, code, target string
}{
	{`{"a":"1","b":{"c":[1,2,{"d":null}]}}`, "", ""},
	{`{"a":"\ud83d\ude00","b":"é"}`, "", ""},
	{`{"Availability":"x","availability":"y"}`, "", ""}, // case differs: two properties
	{`{"a":"1","a":"1"}`, "invalidRequest", "a"},
	{`{"a":"1","\u0061":"2"}`, "invalidRequest", "a"},
	{`{"s":{"m":{"c":"x","c":"y"}}}`, "invalidRequest", "s.m.c"},
	{`{"ids":[{"x":1,"x":2}]}`, "invalidRequest", "ids.0.x"},
	{"{\"a\":\"caf\xe9\"}", "UnableToDeserializePostBody", ""},
	{"{\"a\xff\":1}", "UnableToDeserializePostBody", ""},
	{`{"a":"\ud800"}`, "UnableToDeserializePostBody", ""},
	{`{"a":"\udc00\ud800"}`, "UnableToDeserializePostBody", ""},
	{`{"a":1`, "UnableToDeserializePostBody", ""},
	{`null`, "UnableToDeserializePostBody", ""},
	{`{"a":1} {}`, "UnableToDeserializePostBody", ""},
}

// errCode is the Graph code and target a client would see for err.
func errCode(err error) (code, target string) {
	var he *httpError
	var pe *presence.Error
	switch {
	case errors.As(err, &he):
		return he.code, ""
	case errors.As(err, &pe):
		return statusOf[pe.Code].code, pe.Field
	}
	return "", ""
}

func TestStrictObject(t *testing.T) {
	for _, c := range strictBodies {
		_, err := strictObject([]byte(c.body), "")
		if code, target := errCode(err); code != c.code || target != c.target {
			t.Errorf("strictObject(%q): %v (%q, target %q); want %q, target %q", c.body, err, code, target, c.code, c.target)
		}
		checkStrictObject(t, []byte(c.body))
	}
	if _, err := strictObject([]byte("{\"a\":\"\xff\"}"), ""); err == nil || err.Error() != "The request body is not valid UTF-8 at byte 6 (counting from 0); JSON text must be UTF-8." {
		t.Errorf("invalid UTF-8: %v", err)
	}
}

// checkStrictObject: strictObject takes exactly the objects JSON v2, whose
// syntax is strict about duplicate names, UTF-8 and surrogates, takes,
// with the same members; it fails only with errors the API renders.
func checkStrictObject(t *testing.T, body []byte) {
	t.Helper()
	obj, err := strictObject(body, "")
	checkDecodeErr(t, err)
	var v2 map[string]jsontext.Value
	v2err := jsonv2.Unmarshal(body, &v2)
	if v2err == nil && v2 == nil {
		v2err = errors.New("null")
	}
	if (err == nil) != (v2err == nil) {
		t.Fatalf("body %q: strictObject says %v, JSON v2 says %v", body, err, v2err)
	}
	if err != nil {
		return
	}
	if len(obj) != len(v2) {
		t.Fatalf("body %q: strictObject %q, JSON v2 %q", body, obj, v2)
	}
	for k, v := range v2 {
		if !bytes.Equal(bytes.TrimSpace(obj[k]), bytes.TrimSpace(v)) {
			t.Fatalf("body %q, member %q: strictObject %s, JSON v2 %s", body, k, obj[k], v)
		}
	}
}

// FuzzStrictObject: the strict decoder takes what JSON v2 takes, and reads
// it the same way.
func FuzzStrictObject(f *testing.F) {
	for _, c := range strictBodies {
		f.Add([]byte(c.body))
	}
	for _, c := range flatBodies {
		f.Add([]byte(c.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkStrictObject(t, body)
	})
}
