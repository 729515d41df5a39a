package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/presenced/presenced/internal/guid"
	"github.com/presenced/presenced/presence"
)

// handshake is Graph's validation request: POST url?validationToken=… and
// expect 200 with the token as text/plain within ValidationTimeout.
func (m *Manager) handshake(ctx context.Context, field, raw string) error {
	token := "Validation: Testing client application reachability for subscription Request-Id: " + guid.New()
	u, err := url.Parse(raw)
	if err != nil {
		return presence.Errorf(presence.Invalid, field, "%s is not a URL.", field)
	}
	q := u.Query()
	q.Set("validationToken", token)
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, m.o.ValidationTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return presence.Errorf(presence.Invalid, field, "%s: %v", field, err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := m.client.Do(req)
	fail := func(why string) error {
		return presence.Errorf(presence.Invalid, field,
			"Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request: %s did not: %s.", field, why)
	}
	if err != nil {
		var pe *presence.Error
		if errors.As(err, &pe) {
			return pe
		}
		if ctx.Err() != nil {
			return fail(fmt.Sprintf("no answer within %s", m.o.ValidationTimeout))
		}
		return fail(sendFailure(u.Host, err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode != http.StatusOK:
		return fail(fmt.Sprintf("it answered %s", resp.Status))
	case !strings.HasPrefix(strings.ToLower(resp.Header.Get("Content-Type")), "text/plain"):
		return fail(fmt.Sprintf("it answered with Content-Type %q; the token must come back as text/plain", resp.Header.Get("Content-Type")))
	case string(body) != token:
		return fail("the body was not the validationToken sent (it must be returned URL-decoded, verbatim)")
	}
	return nil
}

// sendFailure says why a request to a notification URL on host (as the
// caller wrote it) failed, in words that name nothing the caller did not:
// net's own errors name this server's address and port ("read tcp
// 10.0.0.5:41234->…") and its DNS resolver ("lookup x on 10.0.0.2:53"),
// which are the operator's, not the subscriber's, to know.
func sendFailure(host string, err error) string {
	var dns *net.DNSError
	var cert *tls.CertificateVerificationError
	var rec tls.RecordHeaderError
	var op *net.OpError
	var ue *url.Error
	switch {
	case errors.As(err, &dns):
		why := "DNS lookup failed"
		if dns.IsNotFound {
			why = "no such host"
		}
		return fmt.Sprintf("cannot resolve host '%s' (%s)", presence.Clip(host, 80), why)
	case errors.As(err, &cert):
		return fmt.Sprintf("the TLS certificate of '%s' was not accepted (%s)", presence.Clip(host, 80), presence.Clip(cert.Err.Error(), 200))
	case errors.As(err, &rec):
		return fmt.Sprintf("'%s' did not answer with TLS", presence.Clip(host, 80))
	case errors.As(err, &op):
		what := "the connection to '" + presence.Clip(host, 80) + "' failed"
		if op.Op == "dial" {
			what = "cannot connect to '" + presence.Clip(host, 80) + "'"
		}
		var se *os.SyscallError
		switch {
		case errors.As(op.Err, &se):
			return what + ": " + se.Err.Error()
		case op.Timeout():
			return what + ": timed out"
		}
		return what
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("'%s' closed the connection without answering", presence.Clip(host, 80))
	case errors.As(err, &ue):
		// Not a network error (a malformed answer, say): its words are
		// about what the receiver sent.
		return presence.Clip(ue.Err.Error(), 200)
	}
	return "the request failed"
}
