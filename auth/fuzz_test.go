package auth

import (
	"net/http"
	"strings"
	"testing"

	"github.com/presenced/presenced/directory"
)

// FuzzValidate: no input panics, and only the exact tokens the issuer
// minted validate (no malleability: no other spelling of a valid token).
func FuzzValidate(f *testing.F) {
	fx := newFixture(f)
	app := fx.appToken(f)
	user := fx.userToken(f, directory.DemoUserAdele)
	valid := map[string]bool{app: true, user: true}
	parts := strings.Split(app, ".")
	for _, s := range []string{"", ".", "..", "a.b.c", app, user, app + "x", parts[0] + ".." + parts[2],
		"eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ4In0.", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + "A",
		strings.ToLower(app), "Bearer " + app} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := fx.val.Validate(s)
		if err == nil && !valid[s] {
			t.Fatalf("validated a token the issuer did not mint: %q → %+v", s, p)
		}
		if err != nil && valid[s] {
			t.Fatalf("rejected a minted token: %v", err)
		}
	})
}

// FuzzBearerToken: no header panics; an accepted header is exactly
// "Bearer" (any case) and a token of RFC 6750 b64token characters.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"", "Bearer", "Bearer x", "bearer a.b.c", "Basic x", "Bearer  a b", "Bearer a==", "Bearer =a", "\tBearer\tx", "Bearer é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r, _ := http.NewRequest("GET", "http://x/", nil)
		r.Header["Authorization"] = []string{h}
		tok, err := BearerToken(r)
		if err != nil {
			if tok != "" {
				t.Fatal("token with error")
			}
			return
		}
		fields := strings.Fields(h)
		if len(fields) != 2 || !strings.EqualFold(fields[0], "bearer") || fields[1] != tok || tok == "" {
			t.Fatalf("accepted %q as %q", h, tok)
		}
		body := strings.TrimRight(tok, "=")
		if body == "" || strings.Trim(body, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~+/") != "" {
			t.Fatalf("accepted token %q with characters outside b64token", tok)
		}
	})
}

// FuzzTrimBlanks: trimBlanks is strings.Trim(s, " \t"), which
// BearerTokenUnchecked used before.
func FuzzTrimBlanks(f *testing.F) {
	for _, s := range []string{"", " ", "\t", " \t x \t ", "Bearer x", "\tBearer\tx\t", "x\n", " \v"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := trimBlanks(s), strings.Trim(s, " \t"); got != want {
			t.Fatalf("trimBlanks(%q) = %q, strings.Trim %q", s, got, want)
		}
	})
}
