package presenced_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"strings"
	"testing"
)

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Graph SDKs gzip request bodies by default; presenced must read them, and
// must not let a small compressed body expand past the size limit.
func TestCompressedBodies(t *testing.T) {
	e := start(t)
	app := e.appToken()
	id := e.user("adele")
	path := "/v1.0/users/" + id + "/presence/setPresence"
	body, _ := json.Marshal(setBody("Busy", "InACall", "PT1H"))

	r := e.call("POST", path, app, gz(t, body), "Content-Encoding", "gzip")
	if r.status != 200 || pair(e.get(app, id)) != "Busy/InACall" {
		t.Fatalf("gzip body: %d %s", r.status, r.raw)
	}
	before := e.get(app, id).raw
	bomb := gz(t, []byte(`{"sessionId":"`+strings.Repeat("a", 8<<20)+`"}`))
	for _, c := range []struct {
		name     string
		body     []byte
		encoding string
		status   int
		code     string
	}{
		{"gzip bomb", bomb, "gzip", 413, "requestEntityTooLarge"},
		{"not gzip", body, "gzip", 400, "UnableToDeserializePostBody"},
		{"brotli", body, "br", 415, "unsupportedMediaType"},
	} {
		r := e.call("POST", path, app, c.body, "Content-Encoding", c.encoding)
		if r.status != c.status || r.errCode() != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.status, r.raw, c.status, c.code)
		}
	}
	if after := e.get(app, id).raw; string(after) != string(before) {
		t.Fatalf("a rejected body changed the presence")
	}
}
