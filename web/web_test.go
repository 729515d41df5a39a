package web

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/presenced/presenced/directory"
)

func serve(t *testing.T, h http.Handler, method, path string, hdr ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	rd := io.Reader(r.Body)
	if r.Header.Get("Content-Encoding") == "gzip" {
		z, err := gzip.NewReader(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		rd = z
	}
	b, _ := io.ReadAll(rd)
	return string(b)
}

// TestBoardHandler: every response carries the strict CSP; the page names
// the applications that may sign in (those whose SPA redirect URIs hold
// the board's URL) and every asset it loads is served, from this server.
func TestBoardHandler(t *testing.T) {
	h, err := New(Options{Directory: directory.Demo(), BaseURL: "http://127.0.0.1:8080", Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	page := serve(t, h, "GET", "/")
	html := body(t, page)
	if page.StatusCode != 200 || page.Header.Get("Content-Security-Policy") != CSP || page.Header.Get("X-Frame-Options") != "DENY" ||
		!strings.Contains(html, directory.DemoClientID) || !strings.Contains(html, `&#34;dev&#34;:true`) {
		t.Fatalf("page: %d %v\n%s", page.StatusCode, page.Header, html)
	}
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(html, -1) {
		ref := m[1]
		if ref[0] == '#' {
			continue
		}
		if !strings.HasPrefix(ref, "/board/") {
			t.Errorf("the page loads %s, not an asset of its own", ref)
			continue
		}
		r := serve(t, h, "GET", ref, "Accept-Encoding", "gzip, deflate")
		if r.StatusCode != 200 || r.Header.Get("Content-Encoding") != "gzip" || r.Header.Get("ETag") == "" || body(t, r) == "" {
			t.Errorf("%s: %d %v", ref, r.StatusCode, r.Header)
		}
		if again := serve(t, h, "GET", ref, "If-None-Match", r.Header.Get("ETag")); again.StatusCode != 304 {
			t.Errorf("%s revalidated: %d", ref, again.StatusCode)
		}
	}
	for _, name := range []string{"app.js", "app.css"} {
		js := body(t, serve(t, h, "GET", "/board/"+name))
		if m := regexp.MustCompile(`(?:fetch|EventSource|import|url)\(\s*['"]https?://`).FindString(js); m != "" {
			t.Errorf("%s fetches from another site: %s", name, m)
		}
	}
	if r := serve(t, h, "POST", "/"); r.StatusCode != 405 || r.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d", r.StatusCode)
	}
	if r := serve(t, h, "GET", "/board/nothing.js"); r.StatusCode != 404 || r.Header.Get("Content-Security-Policy") != CSP {
		t.Errorf("unknown asset: %d", r.StatusCode)
	}

	// A board whose URL no application registered says so, and offers no sign-in.
	other, _ := New(Options{Directory: directory.Demo(), BaseURL: "https://presence.example.com"})
	if html := body(t, serve(t, other, "GET", "/")); !strings.Contains(html, `&#34;apps&#34;:[]`) || strings.Contains(html, `&#34;dev&#34;:true`) {
		t.Errorf("unregistered board: %s", html)
	}
}
