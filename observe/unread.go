package observe

import (
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/presenced/presenced/clock"
)

// CloseUnread makes an answer sent before the request's body was read to
// its end close the connection. Without it, net/http reads (and discards)
// up to 256 KiB of the unread body before it writes the answer's headers,
// so that the connection can carry another request: a setPresence without
// a token, or to an unknown tenant's token endpoint, waited for its whole
// body before its 401 or 400 went out — for as long as the client took to
// send it. With "Connection: close" the answer goes out at once.
//
// net/http still reads what is left of the body after the answer (up to
// 256 KiB), so that closing does not reset a connection whose client is
// still sending; that read gets EarlyAnswerGrace, not the whole read
// timeout, so a stalled client does not keep its connection for long.
//
// Wrap does the same with HTTPOptions.CloseUnread, in its own response
// writer (no allocation and no wrapper of its own a request); CloseUnread
// is for a server that has no metrics and no access log.
func CloseUnread(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hasBody(r) {
			h.ServeHTTP(w, r)
			return
		}
		g := &unreadGuard{ResponseWriter: w}
		g.guard.body, g.guard.w, r.Body = r.Body, w, &g.guard
		h.ServeHTTP(g, r)
		g.guard.end(w)
	})
}

// EarlyAnswerGrace is how long the rest of a body answered early may take
// to arrive before its connection is closed.
const EarlyAnswerGrace = time.Second

// TimeoutAnswerGrace is how long the answer to a body cut off by the read
// timeout (408) has to be written. net/http sets the write deadline
// (WriteTimeout after the headers were read) when it starts a request, so
// with the default timeouts (30 s both) it passed at the instant the read
// timeout fired, and the 408 was lost: the client saw its connection
// closed without an answer.
const TimeoutAnswerGrace = 5 * time.Second

func hasBody(r *http.Request) bool {
	return r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
}

// bodyGuard is the request body of a request with a body: it notes when
// the body reaches its end, and whether an answer was started before that
// (then marked "Connection: close"). A zero bodyGuard guards nothing.
type bodyGuard struct {
	body    io.ReadCloser       // nil: no body to guard
	w       http.ResponseWriter // net/http's, for the connection's deadlines
	eof     bool
	started bool
}

func (g *bodyGuard) Read(p []byte) (int, error) {
	n, err := g.body.Read(p)
	if err == io.EOF {
		g.eof = true
	} else if err != nil {
		g.readFailed(err)
	}
	return n, err
}

// readFailed gives the answer to a body the read timeout cut off
// TimeoutAnswerGrace to be written, whatever is left of the write timeout.
func (g *bodyGuard) readFailed(err error) {
	var ne net.Error
	if g.w != nil && errors.As(err, &ne) && ne.Timeout() {
		// Network deadlines are wall-clock instants.
		_ = http.NewResponseController(g.w).SetWriteDeadline(clock.Real{}.Now().Add(TimeoutAnswerGrace))
	}
}

func (g *bodyGuard) Close() error { return g.body.Close() }

// start notes that the answer starts, on w. It touches w's headers only
// to close: net/http copies the header map at WriteHeader once a handler
// has asked for it.
func (g *bodyGuard) start(w http.ResponseWriter) {
	if !g.started {
		g.started = true
		if g.body != nil && !g.eof {
			w.Header().Set("Connection", "close")
		}
	}
}

// end gives the rest of a body answered early EarlyAnswerGrace to arrive;
// w is net/http's response writer.
func (g *bodyGuard) end(w http.ResponseWriter) {
	if g.body != nil && g.started && !g.eof {
		// Network deadlines are wall-clock instants.
		_ = http.NewResponseController(w).SetReadDeadline(clock.Real{}.Now().Add(EarlyAnswerGrace))
	}
}

// unreadGuard is CloseUnread's response writer.
type unreadGuard struct {
	http.ResponseWriter
	guard bodyGuard
}

func (g *unreadGuard) WriteHeader(code int) {
	g.guard.start(g.ResponseWriter)
	g.ResponseWriter.WriteHeader(code)
}

func (g *unreadGuard) Write(b []byte) (int, error) {
	g.guard.start(g.ResponseWriter)
	return g.ResponseWriter.Write(b)
}

// Flush starts the answer, as Write does.
func (g *unreadGuard) Flush() {
	g.guard.start(g.ResponseWriter)
	if f, ok := g.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (g *unreadGuard) Unwrap() http.ResponseWriter { return g.ResponseWriter }
