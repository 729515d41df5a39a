package presenced_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"strings"
	"testing"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/scim"
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

// SCIM reads bodies as the Graph API does: gzip is decompressed and the
// limit is counted after decompression, so the same body is taken or
// refused by the same rule on both. SCIM read the compressed bytes as
// JSON ("invalid character '\x1f'"), though docs/security.md gave its limit
// "after decompression".
func TestSCIMCompressedBodies(t *testing.T) {
	e := start(t)
	tok := e.scimToken(directory.DemoTenantID)
	user := func(upn string, size int) []byte {
		b := []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + upn + `","active":true}`)
		if size > 0 { // padded with spaces to size bytes
			b = append(b[:len(b)-1], append(bytes.Repeat([]byte(" "), size-len(b)), '}')...)
		}
		return b
	}
	limit := presenced.DefaultMaxBodyBytes
	for _, c := range []struct {
		name     string
		body     []byte
		encoding string
		status   int
		want     string
	}{
		{"gzip", gz(t, user("zipped@contoso.dev", 0)), "gzip", 201, ""},
		{"gzip, at the limit after decompression", gz(t, user("at-limit@contoso.dev", limit)), "gzip", 201, ""},
		{"gzip, a byte over the limit after decompression", gz(t, user("over-limit@contoso.dev", limit+1)), "gzip", 413, "larger than"},
		{"gzip bomb", gz(t, []byte(`{"userName":"`+strings.Repeat("a", 8<<20)+`"}`)), "gzip", 413, "larger than"},
		{"not gzip", user("plain@contoso.dev", 0), "gzip", 400, "not gzip"},
		{"brotli", user("brotli@contoso.dev", 0), "br", 415, "not supported"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(e.srv.Directory().Users(directory.DemoTenantID))
			r := e.call("POST", scim.Prefix+"/Users", tok, c.body, "Content-Type", "application/scim+json", "Content-Encoding", c.encoding)
			if r.status != c.status || c.status != 201 && !strings.Contains(r.str("detail"), c.want) {
				t.Fatalf("%d %s, want %d %q", r.status, r.raw, c.status, c.want)
			}
			if after := len(e.srv.Directory().Users(directory.DemoTenantID)); c.status != 201 && after != before {
				t.Errorf("a refused request changed the directory")
			}
		})
	}
}
