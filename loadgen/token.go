package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// tokenSource holds the current "Bearer …" header and renews the token a
// while before it expires.
type tokenSource struct {
	cur    atomic.Pointer[string]
	cancel context.CancelFunc
	done   chan struct{}
}

// newTokenSource gets a token from the issuer at base (a node's own: in a
// cluster each node may sign with its own key).
func newTokenSource(ctx context.Context, c *http.Client, cfg Config, base string) (*tokenSource, error) {
	tok, life, err := fetchToken(ctx, c, cfg, base)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ts := &tokenSource{cancel: cancel, done: make(chan struct{})}
	ts.cur.Store(&tok)
	go ts.renew(rctx, c, cfg, base, life)
	return ts, nil
}

// renewIn is when to renew a token that lives for life: five minutes
// before it expires, or a quarter of its life before for short ones.
func renewIn(life time.Duration) time.Duration {
	return life - min(life/4, 5*time.Minute)
}

func (ts *tokenSource) renew(ctx context.Context, c *http.Client, cfg Config, base string, life time.Duration) {
	defer close(ts.done)
	t := time.NewTimer(renewIn(life))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		tok, l, err := fetchToken(ctx, c, cfg, base)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if cfg.Logf != nil {
				cfg.Logf("renewing the token failed (retrying in 5s): %v", err)
			}
			t.Reset(5 * time.Second)
			continue
		}
		ts.cur.Store(&tok)
		t.Reset(renewIn(l))
	}
}

func (ts *tokenSource) header() string { return *ts.cur.Load() }

func (ts *tokenSource) stop() {
	ts.cancel()
	<-ts.done
}

// TokenError is the issuer's refusal of the token request (an OAuth error
// answer): the tenant, client id or secret bench was given do not fit
// the server, which a caller can say how to fix.
type TokenError struct {
	URL         string // the token endpoint asked
	Status      string // its HTTP status
	Code        string // the OAuth error: invalid_request, invalid_client, …
	Description string // its error_description
}

func (e *TokenError) Error() string {
	return fmt.Sprintf("token from %s: %s: %s: %s", e.URL, e.Status, e.Code, e.Description)
}

// fetchToken asks the issuer at base for an application token (client
// credentials) and returns its Authorization header value and lifetime.
func fetchToken(ctx context.Context, c *http.Client, cfg Config, base string) (string, time.Duration, error) {
	u := base + "/" + url.PathEscape(cfg.Tenant) + "/oauth2/v2.0/token"
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {cfg.ClientID},
		"client_secret": {cfg.ClientSecret},
		"scope":         {"https://graph.microsoft.com/.default"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("token from %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, fmt.Errorf("token from %s: %w", u, err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	jerr := json.Unmarshal(body, &tr)
	switch {
	case resp.StatusCode != http.StatusOK && tr.Error != "":
		return "", 0, &TokenError{URL: u, Status: resp.Status, Code: tr.Error, Description: tr.Description}
	case resp.StatusCode != http.StatusOK:
		return "", 0, fmt.Errorf("token from %s: %s: %s (is this a presenced?)", u, resp.Status, clip(body))
	case jerr != nil || tr.AccessToken == "":
		return "", 0, fmt.Errorf("token from %s: the answer has no access_token: %s", u, clip(body))
	}
	life := time.Duration(tr.ExpiresIn) * time.Second
	if life <= 0 {
		life = time.Hour
	}
	return "Bearer " + tr.AccessToken, life, nil
}
