package directory

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"
	"unicode/utf8"

	"github.com/presenced/presenced/internal/guid"
	"github.com/presenced/presenced/internal/kdf"
)

// NewSecret hashes a client secret's value into a stored Secret, made at
// now.
func NewSecret(ctx context.Context, value string, now time.Time) (Secret, error) {
	h, err := kdf.Hash(ctx, value)
	if err != nil {
		return Secret{}, err
	}
	return Secret{ID: guid.New(), Hint: hint(value), Hash: h, Created: now.UTC()}, nil
}

// hint is the first three characters of a value.
func hint(v string) string {
	n := 0
	for i := range v {
		if n == 3 {
			return v[:i]
		}
		n++
	}
	return v
}

// GenerateSecret returns a new random secret value: 32 random bytes,
// base64url (43 characters). Client secrets and SCIM tokens presenced makes
// are such values.
func GenerateSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// SCIMTokenHash is the stored hash of a SCIM bearer token. SHA-256 rather
// than argon2id: tokens are GenerateSecret's 256 random bits, beyond any
// guessing, and every provisioning request checks one.
func SCIMTokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return SCIMTokenPrefix + hex.EncodeToString(h[:])
}

// NewSCIMToken makes a SCIM bearer token: its value, shown once, and what
// the tenant keeps of it.
func NewSCIMToken(now time.Time) (value string, s Secret) {
	value = GenerateSecret()
	return value, Secret{ID: guid.New(), Hint: hint(value), Hash: SCIMTokenHash(value), Created: now.UTC()}
}

// VerifySecret reports whether value is one of the app's client secrets
// still valid at now. It runs one argon2id whatever the outcome: against
// the secret whose hint value starts with, or none, so that its time does
// not tell how close a guess was.
func VerifySecret(ctx context.Context, a App, value string, now time.Time) (bool, error) {
	tried := false
	for _, s := range a.Secrets {
		if s.Hint != hint(value) || !s.Expires.IsZero() && !now.Before(s.Expires) || !utf8.ValidString(value) {
			continue
		}
		tried = true
		if ok, err := kdf.Verify(ctx, s.Hash, value); ok || err != nil {
			return ok, err
		}
	}
	if !tried {
		return false, kdf.VerifyNone(ctx, value)
	}
	return false, nil
}
