package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/internal/guid"
	"github.com/presenced/presenced/store"
)

// Lifetimes of what the authorization-code flow hands out (Entra's).
const (
	// CodeLifetime: "authorization codes are short lived, typically they
	// expire after about 10 minutes".
	CodeLifetime = 10 * time.Minute
	// SPARefreshLifetime is the fixed life of a single-page app's refresh
	// tokens, from the sign-in; refreshing does not extend it.
	SPARefreshLifetime = 24 * time.Hour
	// RefreshInactivity ends other refresh tokens when unused this long.
	RefreshInactivity = 90 * 24 * time.Hour
	// redeemedKept is how long a redeemed code's record stays after the
	// code expired, so that a replay is told "already redeemed" rather
	// than "unknown".
	redeemedKept = 10 * time.Minute
	// sweepEvery is how often records past their life are removed.
	sweepEvery = time.Minute
)

// Grant errors: what a code or refresh token lookup found.
var (
	errGrantUnknown  = errors.New("auth: no such grant")
	errGrantRedeemed = errors.New("auth: code already redeemed")
	errGrantExpired  = errors.New("auth: grant expired")
	errGrantReused   = errors.New("auth: refresh token already used")
)

// codeRecord is an authorization code as kept in the engine, under the
// SHA-256 of its secret part: reading the bucket gives no code.
type codeRecord struct {
	TenantID    string    `json:"tid"`
	UserID      string    `json:"oid"`
	ClientID    string    `json:"azp"`
	RedirectURI string    `json:"redirectUri"`
	SPA         bool      `json:"spa,omitempty"`
	Scopes      []string  `json:"scp"`            // granted Graph scopes
	OIDC        []string  `json:"oidc,omitempty"` // openid, profile, email, offline_access as asked
	Nonce       string    `json:"nonce,omitempty"`
	Challenge   string    `json:"challenge,omitempty"` // S256 of the verifier; "" without PKCE
	IssuedAt    time.Time `json:"iat"`
	ExpiresAt   time.Time `json:"exp"`
	RedeemedAt  time.Time `json:"redeemed,omitzero"`
	// Family is the refresh token family its redemption started: a replay
	// of the code revokes it (RFC 6749 §4.1.2).
	Family string `json:"family,omitempty"`
}

// refreshRecord is one sign-in's refresh token "family": the token is
// rotated at every use, and only the current one is accepted.
type refreshRecord struct {
	TenantID string    `json:"tid"`
	UserID   string    `json:"oid"`
	ClientID string    `json:"azp"`
	SPA      bool      `json:"spa,omitempty"`
	Secret   bool      `json:"secret,omitempty"` // redeemed by a confidential client with its secret
	Scopes   []string  `json:"scp"`
	OIDC     []string  `json:"oidc,omitempty"`
	Current  string    `json:"cur"`            // SHA-256 of the current token's secret
	Previous string    `json:"prev,omitempty"` // of the one it replaced: its reuse is theft
	AuthTime time.Time `json:"authTime"`       // the sign-in
	Expires  time.Time `json:"exp"`            // SPA: AuthTime + 24 h; else the last use + 90 days

	family string // the family id (the key's last token), set when read
}

// grantStore keeps codes and refresh tokens in an engine bucket, so that
// every node of a cluster redeems what any node issued, and a restart
// signs nobody out. Redeeming is a compare-and-set on the record: one
// redemption wins, whatever the number of nodes racing.
type grantStore struct {
	kv    store.KV
	clock clock.Clock
	log   *slog.Logger
}

// Keys: ac.<tenant>.<user>.<hash> and rt.<tenant>.<user>.<family>, led
// by tenant and user as every key of the engine (store.KV).
func codeKey(tenantID, userID, hash string) string {
	return "ac." + tenantID + "." + userID + "." + hash
}
func refreshKey(tenantID, userID, family string) string {
	return "rt." + tenantID + "." + userID + "." + family
}

// A code or refresh token is base64url of the user's 16-byte id, for a
// refresh token a 16-byte family id, and 32 random bytes.
func newSecret(userID string, family []byte) (token string, hash string, err error) {
	u, ok := guid.Parse(userID)
	if !ok {
		return "", "", errors.New("auth: user id is not a canonical GUID")
	}
	b := append(append(u[:], family...), make([]byte, 32)...)
	_, _ = rand.Read(b[len(b)-32:])
	h := sha256.Sum256(b[len(b)-32:])
	return base64.RawURLEncoding.EncodeToString(b), hex.EncodeToString(h[:]), nil
}

// parseSecret splits a code (familyLen 0) or refresh token (16).
func parseSecret(tok string, familyLen int) (userID, family, hash string, ok bool) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(b) != 16+familyLen+32 {
		return "", "", "", false
	}
	h := sha256.Sum256(b[16+familyLen:])
	return guid.Format([16]byte(b[:16])), hex.EncodeToString(b[16 : 16+familyLen]), hex.EncodeToString(h[:]), true
}

func (g *grantStore) put(ctx context.Context, key string, v any, rev uint64) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = g.kv.Put(ctx, key, b, rev)
	return err
}

func (g *grantStore) get(ctx context.Context, key string, v any) (uint64, error) {
	e, err := g.kv.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return 0, errGrantUnknown
	}
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(e.Value, v); err != nil {
		return 0, errGrantUnknown
	}
	return e.Revision, nil
}

// issueCode stores c and returns its code.
func (g *grantStore) issueCode(ctx context.Context, c codeRecord) (string, error) {
	code, hash, err := newSecret(c.UserID, nil)
	if err != nil {
		return "", err
	}
	c.IssuedAt = g.clock.Now()
	c.ExpiresAt = c.IssuedAt.Add(CodeLifetime)
	return code, g.put(ctx, codeKey(c.TenantID, c.UserID, hash), c, 0)
}

// lookupCode finds an unredeemed, unexpired code of tenantID. It does not
// redeem it: the caller checks the client, redirect URI and verifier
// first, so that a wrong attempt does not burn the client's code.
func (g *grantStore) lookupCode(ctx context.Context, tenantID, code string) (codeRecord, uint64, error) {
	user, _, hash, ok := parseSecret(code, 0)
	if !ok {
		return codeRecord{}, 0, errGrantUnknown
	}
	var c codeRecord
	rev, err := g.get(ctx, codeKey(tenantID, user, hash), &c)
	switch {
	case err != nil:
		return codeRecord{}, 0, err
	case !c.RedeemedAt.IsZero():
		return c, rev, errGrantRedeemed
	case !g.clock.Now().Before(c.ExpiresAt):
		return c, rev, errGrantExpired
	}
	return c, rev, nil
}

// redeemCode marks the code redeemed (compare-and-set on rev) and notes
// the refresh token family its tokens start; errGrantRedeemed when
// another redemption won.
func (g *grantStore) redeemCode(ctx context.Context, code string, c codeRecord, rev uint64, family string) error {
	user, _, hash, _ := parseSecret(code, 0)
	c.RedeemedAt, c.Family = g.clock.Now(), family
	err := g.put(ctx, codeKey(c.TenantID, user, hash), c, rev)
	if errors.Is(err, store.ErrConflict) {
		return errGrantRedeemed
	}
	return err
}

// revokeFamily deletes a refresh token family (a replayed code, a reused
// refresh token, a sign-out).
func (g *grantStore) revokeFamily(ctx context.Context, tenantID, userID, family string) error {
	if family == "" {
		return nil
	}
	err := g.kv.Delete(ctx, refreshKey(tenantID, userID, family), 0)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// newFamily makes a refresh token family id.
func newFamily() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// issueRefresh starts family with r and returns its first token.
func (g *grantStore) issueRefresh(ctx context.Context, family string, r refreshRecord) (string, error) {
	fb, _ := hex.DecodeString(family)
	tok, hash, err := newSecret(r.UserID, fb)
	if err != nil {
		return "", err
	}
	r.Current = hash
	return tok, g.put(ctx, refreshKey(r.TenantID, r.UserID, family), r, 0)
}

// rotateRefresh accepts tok if it is its family's current token, not
// expired, and allowed by check (the client's), and returns the record
// and the family's next token; check refusing leaves the token unspent.
// A token that was current before (it was used already) revokes its
// family: someone else holds a copy (RFC 9700 §4.14.2).
func (g *grantStore) rotateRefresh(ctx context.Context, tenantID, tok string, check func(refreshRecord) bool) (refreshRecord, string, error) {
	user, family, hash, ok := parseSecret(tok, 16)
	if !ok {
		return refreshRecord{}, "", errGrantUnknown
	}
	key := refreshKey(tenantID, user, family)
	var r refreshRecord
	rev, err := g.get(ctx, key, &r)
	if err != nil {
		return refreshRecord{}, "", err
	}
	r.family = family
	if !check(r) {
		return r, "", errGrantUnknown
	}
	now := g.clock.Now()
	switch {
	case hash == r.Previous:
		if err := g.kv.Delete(ctx, key, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
			return refreshRecord{}, "", err
		}
		g.log.Warn("a refresh token was used twice: its sign-in is revoked", "tenant", tenantID, "user", user, "client", r.ClientID)
		return r, "", errGrantReused
	case hash != r.Current:
		return refreshRecord{}, "", errGrantUnknown
	case !now.Before(r.Expires):
		return r, "", errGrantExpired
	}
	fb, _ := hex.DecodeString(family)
	next, nextHash, err := newSecret(user, fb)
	if err != nil {
		return refreshRecord{}, "", err
	}
	r.Previous, r.Current = r.Current, nextHash
	if !r.SPA {
		r.Expires = now.Add(RefreshInactivity)
	}
	err = g.put(ctx, key, r, rev)
	if errors.Is(err, store.ErrConflict) {
		// Another request rotated it first with the same token: a copy.
		return g.rotateRefresh(ctx, tenantID, tok, check)
	}
	return r, next, err
}

// sweep removes codes and refresh tokens past their life. Every node may
// sweep; a delete is conditional on the revision read, so a record
// rewritten meanwhile is kept.
func (g *grantStore) sweep(ctx context.Context) (removed int, err error) {
	now := g.clock.Now()
	err = g.kv.Walk(ctx, "", func(e store.Entry) error {
		var rec struct {
			Exp time.Time `json:"exp"`
		}
		if json.Unmarshal(e.Value, &rec) != nil {
			return nil
		}
		end := rec.Exp
		if strings.HasPrefix(e.Key, "ac.") {
			end = end.Add(redeemedKept)
		}
		if now.Before(end) {
			return nil
		}
		if err := g.kv.Delete(ctx, e.Key, e.Revision); err == nil {
			removed++
		}
		return nil
	})
	return removed, err
}

// run sweeps every minute of wall time until ctx ends (what is past its
// life is decided on the server's clock: a dev-clock jump is swept at the
// next tick).
func (g *grantStore) run(ctx context.Context) {
	tick := time.NewTicker(sweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if n, err := g.sweep(ctx); err != nil && ctx.Err() == nil {
			g.log.Warn("sweeping expired sign-in codes and refresh tokens", "err", err)
		} else if n > 0 {
			g.log.Debug("swept expired sign-in codes and refresh tokens", "removed", n)
		}
	}
}
