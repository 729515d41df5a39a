package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// The validated-token cache answers only for the very token it was given,
// under the directory version it was checked against, within the token's
// lifetime.
func TestTokenCache(t *testing.T) {
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	tok := strings.Repeat("h", 40) + "." + strings.Repeat("p", 300) + "." + strings.Repeat("s", 80) + "TAILOFSIGNATURE1"
	sameTail := strings.Repeat("h", 40) + "." + strings.Repeat("q", 300) + "." + strings.Repeat("s", 80) + "TAILOFSIGNATURE1"
	p := Principal{TenantID: "t", ClientID: "c", Roles: []string{"Presence.ReadWrite.All"}}
	for _, c := range []struct {
		name    string
		raw     string
		now     time.Time
		version uint64
		hit     bool
	}{
		{"the token", tok, at, 1, true},
		{"another token ending alike", sameTail, at, 1, false},
		{"a prefix of the token", tok[:len(tok)-1], at, 1, false},
		{"a newer directory", tok, at, 2, false},
		{"after its expiry and the leeway", tok, at.Add(time.Hour + 6*time.Minute), 1, false},
		{"within the leeway", tok, at.Add(time.Hour + 4*time.Minute), 1, true},
		{"before its not-before and the leeway", tok, at.Add(-6 * time.Minute), 1, false},
		{"a short token", "x", at, 1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var cache tokenCache
			cache.put(tok, p, at, at.Add(time.Hour), 1)
			got, ok := cache.get(c.raw, c.now, 5*time.Minute, c.version)
			if ok != c.hit || (ok && (got.TenantID != "t" || got.Roles[0] != p.Roles[0])) {
				t.Fatalf("get = %+v, %v; want hit %v", got, ok, c.hit)
			}
		})
	}
}

// A newer directory version starts the cache over, and a full cache
// starts over rather than grow; entries put concurrently are all found.
func TestTokenCacheStartsOver(t *testing.T) {
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	var cache tokenCache
	cache.put("old-token-0123456789", Principal{}, at, at.Add(time.Hour), 1)
	cache.put("new-token-0123456789", Principal{}, at, at.Add(time.Hour), 2)
	if _, ok := cache.get("old-token-0123456789", at, 0, 2); ok {
		t.Fatal("an entry of the old version answers")
	}
	if _, ok := cache.get("new-token-0123456789", at, 0, 2); !ok {
		t.Fatal("the new entry is missing")
	}
	var wg sync.WaitGroup
	const workers, each = 4, 300
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				raw := strings.Repeat("x", 30) + string(rune('a'+w)) + strings.Repeat("0", 10) + string(rune('A'+i%26)) + string(rune('A'+i/26))
				cache.put(raw, Principal{}, at, at.Add(time.Hour), 2)
				if _, ok := cache.get(raw, at, 0, 2); !ok {
					t.Errorf("%q not found after its put", raw)
				}
			}
		}()
	}
	wg.Wait()
	g := cache.cur.Load()
	g.n.Store(tokenCacheSize)
	cache.put("one-more-0123456789", Principal{}, at, at.Add(time.Hour), 2)
	if cache.cur.Load() == g || cache.cur.Load().n.Load() != 1 {
		t.Fatal("a full cache did not start over")
	}
}

// A token the validators took before skips BearerToken's character scan,
// and only such a token: any other is scanned and refused as before.
func TestBearerTokenKnown(t *testing.T) {
	f := newFixture(t)
	tok := f.appToken(t)
	c := Chain{Builtin: f.val}
	req := func(h string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", h)
		return r
	}
	if c.Known(tok) {
		t.Fatal("known before it was validated")
	}
	if _, err := c.Validate(tok); err != nil {
		t.Fatal(err)
	}
	if !c.Known(tok) || c.Known(tok[:len(tok)-1]+"x") {
		t.Fatal("Known is not exactly the validated token")
	}
	for _, h := range []string{"Bearer " + tok, "Bearer " + tok + "!", "Bearer a=b", "Basic " + tok, "Bearer =="} {
		got, err := BearerTokenKnown(req(h), c.Known)
		want, wantErr := BearerToken(req(h))
		if got != want || (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Errorf("%.20q: BearerTokenKnown = %.20q, %v; BearerToken = %.20q, %v", h, got, err, want, wantErr)
		}
	}
}
