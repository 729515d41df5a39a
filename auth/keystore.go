package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/presenced/presenced/store"
)

// KVKeyStore keeps external issuers' key sets in an engine bucket (the
// server's meta bucket), one key per issuer: "jwks.<SHA-256 of the
// issuer, hex>".
type KVKeyStore struct{ KV store.KV }

type keptKeys struct {
	Issuer  string          `json:"issuer"`
	Fetched time.Time       `json:"fetched"`
	JWKS    json.RawMessage `json:"jwks"`
}

func keyStoreKey(issuer string) string {
	h := sha256.Sum256([]byte(issuer))
	return "jwks." + hex.EncodeToString(h[:])
}

// LoadKeys implements KeyStore.
func (s KVKeyStore) LoadKeys(ctx context.Context, issuer string) ([]byte, time.Time, bool, error) {
	e, err := s.KV.Get(ctx, keyStoreKey(issuer))
	if errors.Is(err, store.ErrNotFound) {
		return nil, time.Time{}, false, nil
	}
	if err != nil {
		return nil, time.Time{}, false, err
	}
	var k keptKeys
	if json.Unmarshal(e.Value, &k) != nil || k.Issuer != issuer {
		return nil, time.Time{}, false, nil
	}
	return k.JWKS, k.Fetched, true, nil
}

// SaveKeys implements KeyStore: the newest fetch wins; another node's
// write in between is simply overwritten by a later fetch.
func (s KVKeyStore) SaveKeys(ctx context.Context, issuer string, jwks []byte, fetched time.Time) error {
	b, err := json.Marshal(keptKeys{Issuer: issuer, Fetched: fetched, JWKS: jwks})
	if err != nil {
		return err
	}
	key := keyStoreKey(issuer)
	var rev uint64
	if e, err := s.KV.Get(ctx, key); err == nil {
		rev = e.Revision
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if _, err := s.KV.Put(ctx, key, b, rev); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	return nil
}
