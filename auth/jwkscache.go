package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/presenced/presenced/clock"
)

// KeyStore keeps each external issuer's last fetched key set across
// restarts (the engine's meta bucket), so that tokens keep validating
// while the issuer is unreachable at a start.
type KeyStore interface {
	LoadKeys(ctx context.Context, issuer string) (jwks []byte, fetched time.Time, ok bool, err error)
	SaveKeys(ctx context.Context, issuer string, jwks []byte, fetched time.Time) error
}

// Defaults of the key cache.
const (
	// DefaultMinRefresh bounds how often an issuer's keys are fetched
	// because a token named a key id they do not have: a flood of tokens
	// with made-up kids costs one fetch a minute.
	DefaultMinRefresh = time.Minute
	// DefaultMaxAge is when kept keys are refreshed anyway, in the
	// background (issuers rotate keys with weeks of overlap).
	DefaultMaxAge = 24 * time.Hour
	// maxJWKS bounds a fetched document.
	maxJWKS = 1 << 20
	// fetchTimeout bounds one fetch.
	fetchTimeout = 10 * time.Second
)

// keyCache holds the signing keys of external issuers. Keys are fetched on
// the first token of an issuer (or read from the KeyStore), again when a
// token names a kid not among them (at most once per MinRefresh per
// issuer), and in the background once older than MaxAge. A fetch that
// fails keeps the keys there were: an issuer that is down does not stop
// tokens signed with keys already known.
type keyCache struct {
	clock      clock.Clock
	client     *http.Client
	store      KeyStore
	minRefresh time.Duration
	maxAge     time.Duration
	log        *slog.Logger

	mu      sync.Mutex
	issuers map[string]*issuerKeys
}

type issuerKeys struct {
	mu      sync.Mutex
	keys    map[string]jwk.Key // kid → key
	fetched time.Time          // when keys were fetched (zero: never)
	tried   time.Time          // the last fetch attempt, successful or not
	forced  time.Time          // the last fetch an unknown kid made
	loaded  bool               // the KeyStore was read
	running chan struct{}      // closed when the fetch under way ends; nil: none
	fetches int                // fetch attempts, for tests
}

func newKeyCache(clk clock.Clock, client *http.Client, store KeyStore, minRefresh, maxAge time.Duration, log *slog.Logger) *keyCache {
	if client == nil {
		client = &http.Client{Timeout: fetchTimeout, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
			if err := fetchableURL(r.URL.String()); err != nil {
				return err
			}
			return nil
		}}
	}
	if minRefresh <= 0 {
		minRefresh = DefaultMinRefresh
	}
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	return &keyCache{clock: clk, client: client, store: store, minRefresh: minRefresh, maxAge: maxAge, log: log, issuers: map[string]*issuerKeys{}}
}

// errNoKey: the issuer has no key with the token's kid (after a refresh,
// or while refreshing again is not allowed yet).
var errNoKey = errors.New("no such key")

// key returns the issuer's key kid ("": the issuer's only key), fetching
// the keys when the cache has none, or none with that kid and the last
// attempt is MinRefresh old. A fetch under way is waited for by the
// tokens that need it only: a token with a known kid never waits.
func (c *keyCache) key(ctx context.Context, issuer, jwksURI, kid string) (jwk.Key, error) {
	c.mu.Lock()
	ik := c.issuers[issuer]
	if ik == nil {
		ik = &issuerKeys{}
		c.issuers[issuer] = ik
	}
	c.mu.Unlock()
	ik.mu.Lock()
	if !ik.loaded && c.store != nil {
		ik.loaded = true
		if b, at, ok, err := c.store.LoadKeys(ctx, issuer); err == nil && ok {
			if keys, err := parseJWKS(b); err == nil {
				ik.keys, ik.fetched = keys, at
			}
		}
	}
	now := c.clock.Now()
	if k, ok := find(ik.keys, kid); ok {
		if now.Sub(ik.fetched) >= c.maxAge && now.Sub(ik.tried) >= c.minRefresh && ik.running == nil {
			done := c.start(ik, now)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
				defer cancel()
				if err := c.finish(ctx, issuer, jwksURI, ik, done); err != nil {
					c.log.Warn("refreshing an issuer's keys failed; the keys kept still serve", "issuer", issuer, "err", err)
				}
			}()
		}
		ik.mu.Unlock()
		return k, nil
	}
	if done := ik.running; done != nil {
		ik.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		ik.mu.Lock()
		k, ok := find(ik.keys, kid)
		ik.mu.Unlock()
		if !ok {
			return nil, fmt.Errorf("%w: the issuer publishes no key with that kid", errNoKey)
		}
		return k, nil
	}
	// Unknown kids force a fetch at most once per minRefresh (and so does
	// an issuer whose keys were never fetched: it is not asked at every
	// request while it is down).
	last := ik.forced
	if len(ik.keys) == 0 {
		last = ik.tried
	}
	if !last.IsZero() && now.Sub(last) < c.minRefresh {
		ik.mu.Unlock()
		return nil, fmt.Errorf("%w: the issuer's keys were fetched %s ago, and are fetched again at most once a minute", errNoKey, now.Sub(last).Round(time.Second))
	}
	if len(ik.keys) > 0 {
		ik.forced = now
	}
	done := c.start(ik, now)
	ik.mu.Unlock()
	if err := c.finish(ctx, issuer, jwksURI, ik, done); err != nil {
		return nil, err
	}
	ik.mu.Lock()
	defer ik.mu.Unlock()
	if k, ok := find(ik.keys, kid); ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w: the issuer publishes no key with that kid", errNoKey)
}

func find(keys map[string]jwk.Key, kid string) (jwk.Key, bool) {
	if kid == "" && len(keys) == 1 {
		for _, k := range keys {
			return k, true
		}
	}
	k, ok := keys[kid]
	return k, ok
}

// start marks a fetch under way. Called with ik.mu held.
func (c *keyCache) start(ik *issuerKeys, now time.Time) chan struct{} {
	ik.tried = now
	ik.fetches++
	ik.running = make(chan struct{})
	return ik.running
}

// finish fetches the issuer's keys (its JWKS URI, or the one its OpenID
// discovery document names) and keeps them, then ends the fetch; on
// failure the keys there were stay.
func (c *keyCache) finish(ctx context.Context, issuer, jwksURI string, ik *issuerKeys, done chan struct{}) error {
	keys, raw, err := c.fetch(ctx, issuer, jwksURI)
	ik.mu.Lock()
	if err == nil {
		ik.keys, ik.fetched = keys, ik.tried
	}
	ik.running = nil
	fetched := ik.fetched
	ik.mu.Unlock()
	close(done)
	if err == nil && c.store != nil {
		if serr := c.store.SaveKeys(ctx, issuer, raw, fetched); serr != nil {
			c.log.Warn("keeping an issuer's keys in the engine failed", "issuer", issuer, "err", serr)
		}
	}
	return err
}

func (c *keyCache) fetch(ctx context.Context, issuer, jwksURI string) (map[string]jwk.Key, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	if jwksURI == "" {
		var err error
		if jwksURI, err = c.discover(ctx, issuer); err != nil {
			return nil, nil, err
		}
	}
	b, err := c.get(ctx, jwksURI)
	if err != nil {
		return nil, nil, fmt.Errorf("fetching the issuer's keys from %s: %w", jwksURI, err)
	}
	keys, err := parseJWKS(b)
	if err != nil {
		return nil, nil, fmt.Errorf("the issuer's keys at %s: %w", jwksURI, err)
	}
	return keys, b, nil
}

// discover reads the issuer's OpenID discovery document and returns its
// jwks_uri. The document's issuer must be the issuer (OpenID Connect
// Discovery §4.3): a document for another issuer is not trusted.
func (c *keyCache) discover(ctx context.Context, issuer string) (string, error) {
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	b, err := c.get(ctx, u)
	if err != nil {
		return "", fmt.Errorf("OpenID discovery at %s: %w", u, err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return "", fmt.Errorf("OpenID discovery at %s: not a JSON document", u)
	}
	if doc.Issuer != issuer {
		return "", fmt.Errorf("OpenID discovery at %s names issuer %q, not %q", u, clipString(doc.Issuer, 200), issuer)
	}
	if err := fetchableURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("OpenID discovery at %s: jwks_uri: %w", u, err)
	}
	return doc.JWKSURI, nil
}

// fetchableURL accepts https, and http on a loopback host (a local
// identity provider), as the directory accepts issuers.
func fetchableURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", clipString(s, 200))
	}
	if u.Scheme == "https" {
		return nil
	}
	if h := u.Hostname(); u.Scheme == "http" && (h == "localhost" || net.ParseIP(h) != nil && net.ParseIP(h).IsLoopback()) {
		return nil
	}
	return fmt.Errorf("%q is not https", clipString(s, 200))
}

func (c *keyCache) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("answered %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKS+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxJWKS {
		return nil, fmt.Errorf("the document is larger than %d bytes", maxJWKS)
	}
	return b, nil
}

// parseJWKS reads a key set: the signing keys (use "sig" or none), by kid.
func parseJWKS(b []byte) (map[string]jwk.Key, error) {
	set, err := jwk.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	keys := map[string]jwk.Key{}
	for i := range set.Len() {
		k, _ := set.Key(i)
		if use, ok := k.KeyUsage(); ok && use != "sig" {
			continue
		}
		kid, _ := k.KeyID()
		keys[kid] = k
	}
	if len(keys) == 0 {
		return nil, errors.New("it has no signing keys")
	}
	return keys, nil
}

// fetches reports how often the issuer's keys were fetched (tests).
func (c *keyCache) fetches(issuer string) int {
	c.mu.Lock()
	ik := c.issuers[issuer]
	c.mu.Unlock()
	if ik == nil {
		return 0
	}
	ik.mu.Lock()
	defer ik.mu.Unlock()
	return ik.fetches
}
