package auth

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// tokenCache remembers tokens that passed full validation, so that a client
// sending the same bearer token on every call pays for the RSA signature
// check once, not per request (it was 40 % of a GET's CPU). Only the token's
// lifetime is re-checked on a hit, against the same clock; everything else a
// token is checked for (signature, issuer, audience, app, user) cannot
// change until the directory is replaced (then the cache starts over). Bounded: when full it starts
// over, which only costs re-validation.
//
// A hit takes no lock and writes nothing shared: the entries are in a
// sync.Map (its reads are atomic loads) behind an atomic pointer, which a
// new directory version or a full cache replaces. With a read-write mutex
// every request's RLock and RUnlock were two atomic adds on one cache line
// that both cores fought over.
//
// The key is the token's last keyLen characters, the end of its signature:
// hashing the whole token (about 1 KB) was most of a hit's time. A hit
// then compares the token with the one the entry was validated for, in
// full, so two tokens that end alike only share a slot (the later one is
// validated and replaces the other), never a principal. The comparison is
// not constant-time, and need not be: it only runs when the presented
// token's last 16 characters (96 bits of a signature) are those of a cached
// one, which an attacker who has not seen that token cannot bring about.
type tokenCache struct {
	cur atomic.Pointer[tokenGen]
	mu  sync.Mutex // serialises replacing cur
}

// tokenGen is the cache for one directory version.
type tokenGen struct {
	version uint64 // the directory version the entries were checked against
	m       sync.Map
	n       atomic.Int64 // entries stored, at most tokenCacheSize
}

type cachedToken struct {
	raw      string // the whole token, compared on every hit
	p        Principal
	nbf, exp time.Time
}

const tokenCacheSize = 1 << 16

// keyLen is how many of a token's last characters key its entry.
const keyLen = 16

func cacheKey(raw string) string { return raw[max(0, len(raw)-keyLen):] }

func (c *tokenCache) get(raw string, now time.Time, leeway time.Duration, version uint64) (Principal, bool) {
	g := c.cur.Load()
	if g == nil || g.version != version {
		return Principal{}, false // the directory changed: apps and users are checked again
	}
	v, ok := g.m.Load(cacheKey(raw))
	if !ok {
		return Principal{}, false
	}
	t := v.(*cachedToken)
	if t.raw != raw {
		return Principal{}, false // another token that ends alike
	}
	// Outside its lifetime the full check runs again and says precisely why.
	if now.Before(t.nbf.Add(-leeway)) || !now.Before(t.exp.Add(leeway)) {
		return Principal{}, false
	}
	return t.p, true // shared: a Principal's slices are read-only
}

// has reports whether raw was validated under version, whatever its
// lifetime says now.
func (c *tokenCache) has(raw string, version uint64) bool {
	g := c.cur.Load()
	if g == nil || g.version != version {
		return false
	}
	v, ok := g.m.Load(cacheKey(raw))
	return ok && v.(*cachedToken).raw == raw
}

func (c *tokenCache) put(raw string, p Principal, nbf, exp time.Time, version uint64) {
	g := c.cur.Load()
	if g == nil || g.version != version || g.n.Load() >= tokenCacheSize {
		c.mu.Lock()
		g = c.cur.Load()
		if g == nil || g.version != version || g.n.Load() >= tokenCacheSize {
			g = &tokenGen{version: version}
			c.cur.Store(g)
		}
		c.mu.Unlock()
	}
	if _, loaded := g.m.Swap(cacheKey(raw), &cachedToken{raw: raw, p: p.clone(), nbf: nbf, exp: exp}); !loaded {
		g.n.Add(1)
	}
}

// clone copies the principal's slices so that callers cannot change the
// cached one.
func (p Principal) clone() Principal {
	p.Scopes = slices.Clone(p.Scopes)
	p.Roles = slices.Clone(p.Roles)
	return p
}
