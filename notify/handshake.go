package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
		return fail(err.Error())
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
