package loadgen

import (
	"context"
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
//
// The same handler serves in two places: in the caller's process
// (StartBare, as BenchmarkHTTP runs it beside an in-process presenced) and
// in a process of its own (ServeBare behind `presenced bare`, which
// `presenced bench` starts with StartBareProcess, as presenced runs in its
// own process too).
type Bare struct {
	srv *http.Server
	url string
}

// bareServer is the baseline's server for getBody.
func bareServer(getBody []byte) *http.Server {
	body := append([]byte(nil), getBody...)
	return &http.Server{
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
}

// StartBare serves getBody to GETs in this process until Close.
func StartBare(getBody []byte) (*Bare, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := bareServer(getBody)
	go func() { _ = srv.Serve(ln) }()
	return &Bare{srv: srv, url: "http://" + ln.Addr().String()}, nil
}

// URL is the bare server's base URL.
func (b *Bare) URL() string { return b.url }

// Close stops the server and its connections.
func (b *Bare) Close() error { return b.srv.Close() }

// ServeBare is the bare baseline as a process of its own (`presenced
// bare`): it listens on addr, writes its base URL and a newline to ready
// (StartBareProcess reads it from the child's stdout), and serves getBody
// to GETs until ctx ends or stdin reaches its end — the parent closes it to
// stop the child, and a parent that dies closes it too, so no baseline
// outlives its load generator.
func ServeBare(ctx context.Context, addr string, getBody []byte, stdin io.Reader, ready io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := bareServer(getBody)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if _, err := io.WriteString(ready, "http://"+ln.Addr().String()+"\n"); err != nil {
		_ = srv.Close()
		return err
	}
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		close(eof)
	}()
	select {
	case <-ctx.Done():
	case <-eof:
	case err := <-served:
		return err
	}
	return srv.Close()
}
