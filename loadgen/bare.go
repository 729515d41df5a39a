package loadgen

import (
	"io"
	"net"
	"net/http"
	"time"
)

// Bare is the baseline: a net/http server on 127.0.0.1 that does no work.
// It reads each request's body, answers GET with a fixed presence document
// (the same bytes, hence size, as a real GET answer) and every POST with 200
// and no body: no auth, no decoding, no engine. The same load against it
// shows the most this machine, this Go and this load generator allow, so
// presenced's numbers can be read as a fraction of that ceiling.
type Bare struct {
	srv *http.Server
	url string
}

// StartBare serves getBody to GETs until Close.
func StartBare(getBody []byte) (*Bare, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	body := append([]byte(nil), getBody...)
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			if r.Method == http.MethodGet {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(body)
				return
			}
			w.WriteHeader(http.StatusOK)
		}),
	}
	go func() { _ = srv.Serve(ln) }()
	return &Bare{srv: srv, url: "http://" + ln.Addr().String()}, nil
}

// URL is the bare server's base URL.
func (b *Bare) URL() string { return b.url }

// Close stops the server and its connections.
func (b *Bare) Close() error { return b.srv.Close() }
