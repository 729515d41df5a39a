package graphapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
)

// TestCORS: browsers of other origins may call the API as Graph's (an
// MSAL single-page app on its own site, TestBrowserMSAL): a preflight is
// answered 204 before routing or authentication, and every answer to a
// request with an Origin carries Access-Control-Allow-Origin: * — errors
// included, so that the page can read them.
func TestCORS(t *testing.T) {
	a := New(Options{Clock: clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))})
	do := func(method, path string, h map[string]string) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(method, path, nil)
		for k, v := range h {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		return w
	}
	pre := map[string]string{"Origin": "http://127.0.0.1:5173", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization, client-request-id"}

	t.Run("preflight", func(t *testing.T) {
		w := do("OPTIONS", "/v1.0/me/presence", pre)
		h := w.Header()
		if w.Code != 204 || h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Headers") != "authorization, client-request-id" ||
			h.Get("Access-Control-Allow-Methods") != corsMethods || h.Get("Access-Control-Max-Age") != "86400" || w.Body.Len() != 0 {
			t.Fatalf("preflight: %d %v %q", w.Code, h, w.Body)
		}
		if h.Get("request-id") == "" {
			t.Error("a preflight's answer has no request-id")
		}
	})
	t.Run("an oversized or malformed header list is not echoed", func(t *testing.T) {
		for _, v := range []string{strings.Repeat("x-a, ", 300), "authorization\r\nx-evil: 1"} {
			r := httptest.NewRequest("OPTIONS", "/v1.0/me/presence", nil)
			r.Header.Set("Origin", "https://spa.example")
			r.Header.Set("Access-Control-Request-Method", "GET")
			r.Header["Access-Control-Request-Headers"] = []string{v}
			w := httptest.NewRecorder()
			a.ServeHTTP(w, r)
			if w.Code != 204 || w.Header().Get("Access-Control-Allow-Headers") != "" {
				t.Errorf("%q: %d allow-headers %q", v[:20], w.Code, w.Header().Get("Access-Control-Allow-Headers"))
			}
		}
	})
	t.Run("an error answered to another origin is readable", func(t *testing.T) {
		w := do("GET", "/v1.0/nothing-here", map[string]string{"Origin": "https://spa.example"})
		if w.Code != http.StatusNotFound || w.Header().Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(w.Header().Get("Access-Control-Expose-Headers"), "request-id") || !strings.Contains(w.Body.String(), `"error"`) {
			t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
		}
	})
	t.Run("without an Origin nothing changes", func(t *testing.T) {
		w := do("OPTIONS", "/v1.0/me/presence", map[string]string{"Access-Control-Request-Method": "GET"})
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("%d %v", w.Code, w.Header())
		}
		w = do("OPTIONS", "/v1.0/me/presence", map[string]string{"Origin": "https://spa.example"}) // not a preflight: routed
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("a plain OPTIONS with an Origin: %d %v", w.Code, w.Header())
		}
	})
}
