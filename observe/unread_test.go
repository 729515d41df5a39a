package observe_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/observe"
)

// An answer started before the request's body was read to its end closes
// the connection, and one given after keeps it — with the guard on its own
// (CloseUnread) and inside Wrap's response writer (HTTPOptions.CloseUnread)
// alike; without either, net/http keeps the connection (and would first
// read the body). A request without a body is not guarded.
func TestCloseUnread(t *testing.T) {
	// early answers before reading; "read" reads the body first; "flush"
	// answers early through the writer's Flush (the live stream's way).
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/read":
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				t.Errorf("reading the body: %v", err)
			}
			w.WriteHeader(http.StatusNoContent)
		case "/flush":
			w.(http.Flusher).Flush()
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	for _, tc := range []struct {
		name  string
		h     http.Handler
		guard bool
	}{
		{"CloseUnread", observe.CloseUnread(handler), true},
		{"Wrap", observe.Wrap(handler, observe.HTTPOptions{Metrics: observe.NewMetrics(), CloseUnread: true}), true},
		{"Wrap without", observe.Wrap(handler, observe.HTTPOptions{Metrics: observe.NewMetrics()}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.h)
			defer srv.Close()
			for _, rt := range []struct {
				path      string
				body      int
				wantClose bool
			}{
				{"/early", 100, tc.guard},
				{"/flush", 100, tc.guard},
				{"/read", 100, false},
				{"/early", 0, false},
			} {
				c, err := net.Dial("tcp", srv.Listener.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				// The whole body is sent: without the guard net/http reads it
				// before answering, and the test does not hang.
				fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", rt.path, rt.body, strings.Repeat("x", rt.body))
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				c.Close()
				if err != nil {
					t.Fatalf("%s with a body of %d: %v", rt.path, rt.body, err)
				}
				if resp.Close != rt.wantClose {
					t.Errorf("%s with a body of %d: %s, Connection: close %v, want %v", rt.path, rt.body, resp.Status, resp.Close, rt.wantClose)
				}
			}
		})
	}
}

// The guard inside Wrap costs no allocation of its own: Wrap with
// CloseUnread allocates what Wrap does, and fewer than the guard wrapped
// around it (the server's arrangement before, one guard a request).
func TestCloseUnreadInWrapAllocatesNothing(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})
	m := observe.NewMetrics()
	allocs := func(h http.Handler) float64 {
		w := &nopWriter{h: http.Header{}}
		body := strings.NewReader(`{"availability":"Available"}`)
		r := httptest.NewRequest(http.MethodPost, "/v1.0/me/presence/setPresence", body)
		return testing.AllocsPerRun(200, func() {
			body.Seek(0, io.SeekStart)
			clear(w.h)
			h.ServeHTTP(w, r)
		})
	}
	plain := allocs(observe.Wrap(h, observe.HTTPOptions{Metrics: m}))
	merged := allocs(observe.Wrap(h, observe.HTTPOptions{Metrics: m, CloseUnread: true}))
	outside := allocs(observe.CloseUnread(observe.Wrap(h, observe.HTTPOptions{Metrics: m})))
	if merged != plain || merged >= outside {
		t.Fatalf("allocations a request: Wrap %v, Wrap with CloseUnread %v, CloseUnread around Wrap %v", plain, merged, outside)
	}
}
