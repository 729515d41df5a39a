package auth

import (
	"slices"
	"sync"
	"time"
)

// tokenCache remembers tokens that passed full validation, so that a client
// sending the same bearer token on every call pays for the RSA signature
// check once, not per request (it was 40 % of a GET's CPU). Only the token's
// lifetime is re-checked on a hit, against the same clock; everything else a
// token is checked for (signature, issuer, audience, app, user) cannot
// change until the directory is replaced (then the cache starts over). Bounded: when full it starts
// over, which only costs re-validation.
type tokenCache struct {
	mu      sync.RWMutex
	m       map[string]cachedToken
	version uint64 // the directory version the entries were checked against
}

type cachedToken struct {
	p        Principal
	nbf, exp time.Time
}

const tokenCacheSize = 1 << 16

func (c *tokenCache) get(raw string, now time.Time, leeway time.Duration, version uint64) (Principal, bool) {
	c.mu.RLock()
	t, ok := c.m[raw]
	if c.version != version {
		ok = false // the directory changed: apps and users are checked again
	}
	c.mu.RUnlock()
	// Outside its lifetime the full check runs again and says precisely why.
	if !ok || now.Before(t.nbf.Add(-leeway)) || !now.Before(t.exp.Add(leeway)) {
		return Principal{}, false
	}
	return t.p, true // shared: a Principal's slices are read-only
}

func (c *tokenCache) put(raw string, p Principal, nbf, exp time.Time, version uint64) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= tokenCacheSize || c.version != version {
		c.m = make(map[string]cachedToken)
		c.version = version
	}
	c.m[raw] = cachedToken{p: p.clone(), nbf: nbf, exp: exp}
	c.mu.Unlock()
}

// clone copies the principal's slices so that callers cannot change the
// cached one.
func (p Principal) clone() Principal {
	p.Scopes = slices.Clone(p.Scopes)
	p.Roles = slices.Clone(p.Roles)
	return p
}
