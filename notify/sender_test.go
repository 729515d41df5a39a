package notify

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/notify/subscription"
)

// seen is what a receiver saw of one request.
type seen struct{ method, uri, contentType, body string }

// fuzzReceiver answers each request as the fuzz input says and records it.
type fuzzReceiver struct {
	srv *httptest.Server

	mu      sync.Mutex
	got     []seen
	status  int
	length  int
	chunked bool
	close   bool
}

func newFuzzReceiver(t testing.TB) *fuzzReceiver {
	r := &fuzzReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, seen{req.Method, req.RequestURI, req.Header.Get("Content-Type"), string(b)})
		status, length, chunked, closeConn := r.status, r.length, r.chunked, r.close
		r.mu.Unlock()
		if closeConn {
			w.Header().Set("Connection", "close")
		}
		if status/100 == 3 {
			w.Header().Set("Location", "/elsewhere")
		}
		if !chunked {
			w.Header().Set("Content-Length", fmt.Sprint(length))
		}
		w.WriteHeader(status)
		if chunked {
			w.(http.Flusher).Flush()
		}
		_, _ = io.WriteString(w, strings.Repeat("x", length))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *fuzzReceiver) take() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

// The sender, which writes requests and reads answers itself on a
// connection of its own, posts exactly what http.Client posts and
// classifies every answer the same way (2xx or not), whatever the body and
// URL, the status, the answer's length and framing, and whether the
// receiver closes the connection — twice in a row, so that a kept
// connection is used again.
func FuzzSenderIsClientPost(f *testing.F) {
	f.Add([]byte(`{"value":[]}`), "hook", 202, 0, false, false)
	f.Add([]byte(`{}`), "a b/ü?x=1&y", 200, 10, true, false)
	f.Add([]byte(""), "", 503, 3, false, true)
	f.Add([]byte("x"), "r/1", 301, 0, false, false)
	f.Add([]byte("y"), "big", 204, 70000, false, false)
	f.Add([]byte("z"), "big", 200, 70000, true, true)
	rcv := newFuzzReceiver(f)
	// The reference: the Manager's http.Client post, which deliveries went
	// through before the sender (lifecycle notifications still do).
	m := NewManager(ManagerOptions{Policy: subscription.URLPolicy{AllowPrivate: true}, DeliveryTimeout: 5 * time.Second})
	f.Fuzz(func(t *testing.T, body []byte, path string, status, length int, chunked, closeConn bool) {
		status = 200 + abs(status)%400
		length = abs(length) % 70000
		if status == http.StatusNoContent || status == http.StatusNotModified {
			length = 0 // no body allowed
		}
		rcv.mu.Lock()
		rcv.status, rcv.length, rcv.chunked, rcv.close = status, length, chunked, closeConn
		rcv.mu.Unlock()
		target := rcv.srv.URL + "/" + url.PathEscape(path) + "?q=" + url.QueryEscape(path)
		s := &sender{dial: m.dial, timeout: 5 * time.Second}
		defer s.stop()
		for range 2 {
			ctx := context.Background()
			want := m.post(ctx, target, body)
			wantSeen := rcv.take()
			got := s.post(ctx, target, body)
			gotSeen := rcv.take()
			if (want == nil) != (got == nil) {
				t.Fatalf("status %d: http.Client says %v, the sender %v", status, want, got)
			}
			if fmt.Sprint(wantSeen) != fmt.Sprint(gotSeen) {
				t.Fatalf("the receiver saw\n%q from http.Client\n%q from the sender", wantSeen, gotSeen)
			}
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// A receiver that closed the kept connection while it was idle (as load
// balancers do after a minute or so) costs the next notification nothing:
// the sender finds out when it sends, and sends again on a new connection
// at once instead of failing into the retry backoff.
func TestSenderSendsAgainWhenTheReceiverClosedAnIdleConnection(t *testing.T) {
	closed := make(chan struct{}, 4)
	var n atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	srv.Config.IdleTimeout = 20 * time.Millisecond
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}
	srv.Start()
	defer srv.Close()
	s := &sender{dial: (&net.Dialer{}).DialContext, timeout: 5 * time.Second}
	defer s.stop()
	if err := s.post(context.Background(), srv.URL, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the receiver did not close the idle connection")
	}
	if err := s.post(context.Background(), srv.URL, []byte("{}")); err != nil {
		t.Fatalf("after the receiver closed the idle connection: %v", err)
	}
	if n.Load() != 2 {
		t.Fatalf("the receiver got %d requests, want 2", n.Load())
	}
}

// Deliveries dial through the URL policy's checking dialer, as handshakes
// do: a notification URL that resolves to an internal address by the time
// of a delivery (DNS rebinding) is refused then too.
func TestDeliveriesDialThroughTheURLPolicy(t *testing.T) {
	m := NewManager(ManagerOptions{Policy: subscription.URLPolicy{RequireHTTPS: true}})
	s := &sender{dial: m.dial, timeout: 5 * time.Second}
	defer s.stop()
	err := s.post(context.Background(), "https://127.0.0.1:9/hook", []byte("{}"))
	if err == nil || !strings.Contains(err.Error(), "refusing to connect to 127.0.0.1") {
		t.Fatalf("a delivery to a loopback address: %v, want the policy's refusal", err)
	}
}

// The request bytes a sender keeps are sent again only for the same body
// and URL: every change of body or target, and a body the caller changed
// in place after posting it, goes out as itself.
func TestSenderSendsEachBodyAsItIs(t *testing.T) {
	rcv := newFuzzReceiver(t)
	rcv.status = 202
	m := NewManager(ManagerOptions{Policy: subscription.URLPolicy{AllowPrivate: true}, DeliveryTimeout: 5 * time.Second})
	s := &sender{dial: m.dial, timeout: 5 * time.Second}
	defer s.stop()
	reused := []byte(`{"value":["a"]}`)
	steps := []struct {
		path string
		body []byte
	}{
		{"/a", []byte(`{"value":["a"]}`)},
		{"/a", []byte(`{"value":["a"]}`)},  // same: the kept bytes
		{"/a", []byte(`{"value":["bb"]}`)}, // another body, another length
		{"/b", []byte(`{"value":["bb"]}`)}, // another target
		{"/b", reused},
		{"/b", append(reused[:0], `{"value":["c"]}`...)}, // changed in place
		{"/a", []byte(``)},
	}
	for i, st := range steps {
		if err := s.post(context.Background(), rcv.srv.URL+st.path, st.body); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got := rcv.take()
		if len(got) != 1 || got[0].uri != st.path || got[0].body != string(st.body) || got[0].method != "POST" {
			t.Fatalf("step %d: the receiver saw %q, want one POST %s %s", i, got, st.path, st.body)
		}
	}
}
