package notify

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/presenced/presenced/clock"
)

// sender posts one subscription's notifications over a keep-alive
// connection of its own, in the worker's goroutine: it writes each request
// with net/http's Request.Write and reads the answer with
// http.ReadResponse, and leaves out the rest of http.Transport — a pool
// shared by every subscription, two goroutines per connection and the
// hand-offs between them, a timer and a cancellable context per request.
// Measured at 1,000 subscriptions, those made a delivery cost 53 µs of CPU
// on the sending side; the sender makes it 33 µs (docs/performance.md).
// One notification is in flight per subscription anyway, so a connection
// per subscription is also what the pool held. FuzzSenderIsClientPost
// checks it against http.Client.
type sender struct {
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	timeout time.Duration // per attempt: connect, send, answer

	// The URL posted to, parsed once.
	target string
	u      *url.URL
	addr   string // host:port to dial
	header http.Header

	mu      sync.Mutex // guards conn and stopped against stop
	conn    net.Conn
	connTo  string // the target conn was dialled for
	stopped bool
	br      *bufio.Reader
	bw      *bufio.Writer

	// The last request as it went on the wire, and the body and target it
	// carried (worker only).
	wire       []byte
	wireBody   []byte
	wireTarget string
	req        *http.Request // the last request, for reading its answer
}

// senderIdle is how long a sender keeps a connection nobody used (as
// http.Transport's IdleConnTimeout did).
const senderIdle = 90 * time.Second

// aLongTimeAgo is a deadline that has passed: setting it unblocks a read
// or write at once.
var aLongTimeAgo = time.Unix(1, 0)

// stop closes the connection, which ends a post in flight, and every later
// post fails.
func (s *sender) stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.closeIdle()
}

// closeIdle closes the connection (the worker calls it when it has been
// idle for senderIdle).
func (s *sender) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		_ = s.conn.SetDeadline(aLongTimeAgo)
		_ = s.conn.Close()
		s.conn = nil
	}
}

// post sends body to target and reads the answer; 2xx is success. A
// request that fails on a kept connection before any answer came (the
// receiver closed it while idle, as load balancers do) is sent once more
// on a new one at once, as http.Transport does for requests it knows were
// not processed: waiting for the retry backoff would delay the first change
// after every idle period.
func (s *sender) post(ctx context.Context, target string, body []byte) error {
	if target != s.target {
		if err := s.setTarget(target); err != nil {
			return err
		}
	}
	reused, err := s.roundTrip(ctx, body)
	if err != nil && reused && ctx.Err() == nil && closedByPeer(err) {
		_, err = s.roundTrip(ctx, body)
	}
	return err
}

// closedByPeer reports whether err says the other end closed the
// connection (not a timeout, not an answer).
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (s *sender) setTarget(target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	port := u.Port()
	switch {
	case u.Scheme == "https" && port == "":
		port = "443"
	case u.Scheme == "http" && port == "":
		port = "80"
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("unsupported protocol scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("no host in the URL")
	}
	s.target, s.u, s.addr = target, u, net.JoinHostPort(u.Hostname(), port)
	s.header = http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	return nil
}

// roundTrip sends one request and reads its answer; reused says it went
// over a connection kept from an earlier one.
func (s *sender) roundTrip(ctx context.Context, body []byte) (reused bool, err error) {
	conn, reused, err := s.connect(ctx)
	if err != nil {
		return false, err
	}
	req, wire, err := s.encode(body)
	_ = conn.SetDeadline(clock.Real{}.Now().Add(s.timeout))
	if err == nil {
		_, err = s.bw.Write(wire)
	}
	if err == nil {
		err = s.bw.Flush()
	}
	var code int
	var status string
	if err == nil {
		code, status, err = s.answer(req, conn)
	}
	if err != nil {
		s.drop(conn)
		if ctx.Err() != nil {
			return reused, ctx.Err()
		}
		return reused, err
	}
	if code < 200 || code > 299 {
		return reused, fmt.Errorf("receiver answered %s", status)
	}
	return reused, nil
}

// answer reads the answer to req on conn: its status code, and its status
// line after the protocol when it is not 2xx. The plain kind is read from
// the buffer at once (quickAnswer), any other by http.ReadResponse; the
// connection is kept only if the answer was read to its end.
func (s *sender) answer(req *http.Request, conn net.Conn) (code int, status string, err error) {
	if _, err := s.br.Peek(1); err != nil {
		return 0, "", err
	}
	if b, _ := s.br.Peek(s.br.Buffered()); len(b) > 0 {
		if n, code, line, ok := quickAnswer(b); ok {
			if code < 200 || code > 299 {
				status = string(line)
			}
			_, _ = s.br.Discard(n)
			return code, status, nil
		}
	}
	resp, err := http.ReadResponse(s.br, req)
	if err != nil {
		return 0, "", err
	}
	n, rerr := io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if rerr != nil || n == 64<<10 || resp.Close {
		s.drop(conn)
	}
	return resp.StatusCode, resp.Status, nil
}

// encode returns the request that posts body to the target, and its bytes
// on the wire as Request.Write puts them. A subscription sends the same
// body for every change of the same user (basic notifications name the
// user, not the change), so the bytes are kept and sent again as long as
// the body and target are the same: measured at 1,000 subscriptions,
// Request.Write was a tenth of the worker's CPU (docs/performance.md).
func (s *sender) encode(body []byte) (*http.Request, []byte, error) {
	if s.wire != nil && s.wireTarget == s.target && bytes.Equal(body, s.wireBody) {
		return s.req, s.wire, nil
	}
	req := &http.Request{Method: http.MethodPost, URL: s.u, Host: s.u.Host, Header: s.header,
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		s.wire = nil
		return nil, nil, err
	}
	s.req, s.wire, s.wireTarget = req, buf.Bytes(), s.target
	s.wireBody = append(s.wireBody[:0], body...) // a copy: the caller may reuse body
	return req, s.wire, nil
}

// connect returns the connection to the target, dialling one (through the
// URL policy's dialer) if there is none.
func (s *sender) connect(ctx context.Context) (conn net.Conn, reused bool, err error) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil, false, context.Canceled
	}
	if s.conn != nil && s.connTo == s.target {
		conn := s.conn
		s.mu.Unlock()
		return conn, true, nil
	}
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	conn, err = s.dial(ctx, "tcp", s.addr)
	if err != nil {
		return nil, false, err
	}
	if s.u.Scheme == "https" {
		tc := tls.Client(conn, &tls.Config{ServerName: s.u.Hostname(), MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}})
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, false, err
		}
		conn = tc
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		conn.Close()
		return nil, false, context.Canceled
	}
	s.conn, s.connTo = conn, s.target
	if s.br == nil {
		s.br, s.bw = bufio.NewReaderSize(conn, 4096), bufio.NewWriterSize(conn, 4096)
	} else {
		s.br.Reset(conn)
		s.bw.Reset(conn)
	}
	return conn, false, nil
}

// drop closes conn, the sender's connection, after a failure or an answer
// that does not let it be reused.
func (s *sender) drop(conn net.Conn) {
	s.mu.Lock()
	if s.conn == conn {
		s.conn = nil
	}
	s.mu.Unlock()
	_ = conn.Close()
}
