package presenced

import (
	"context"
	"errors"

	"github.com/presenced/presenced/store"
)

// signingKeyIDKey remembers in the engine the kid of the key that signed
// the tokens in use, so that a start with another key can say so: every
// token issued before is then refused. (Cluster mode will keep the key
// itself in the engine.)
const signingKeyIDKey = "issuer.kid"

// noteSigningKey warns when the signing key is not the one the engine
// remembers: the file was deleted and a new key generated (created), or
// another key file was put in its place. A first start, or the first start
// of a data directory older than this record, stays quiet. Failing to read
// or record the kid costs only a later warning, never the start.
func (s *Server) noteSigningKey(ctx context.Context, path string, created bool) {
	kid := s.issuer.KeyID()
	e, err := s.meta.Get(ctx, signingKeyIDKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		s.log.Warn("could not read which signing key issued the tokens in use; a changed key would not be noticed", "err", err)
		return
	case string(e.Value) == kid:
		return
	case created:
		s.log.Warn("the token signing key file was missing, so a new key was generated: every token issued before (signed with the previous key) is now refused, and clients must get new tokens. If the file was lost by mistake, stop the server and restore it from a backup.",
			"file", path, "kid", kid, "previous_kid", string(e.Value))
	default:
		s.log.Warn("the token signing key is not the one that signed the tokens in use: every token issued before is now refused, and clients must get new tokens",
			"file", path, "kid", kid, "previous_kid", string(e.Value))
	}
	if _, err := s.meta.Put(ctx, signingKeyIDKey, []byte(kid), e.Revision); err != nil {
		s.log.Warn("could not record which signing key issues tokens", "err", err)
	}
}
