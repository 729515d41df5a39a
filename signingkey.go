package presenced

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/store"
)

// signingKeyIDKey remembers in the engine the kid of the key that signed
// the tokens in use, so that a start with another key can say so: every
// token issued before is then refused.
const signingKeyIDKey = "issuer.kid"

// signingKeyKey holds a cluster's token signing key in the replicated meta
// bucket, in the key file's form (auth.EncodeKey), so that every node signs
// with it and accepts what any node signed.
const signingKeyKey = "issuer.key"

// keyFile is the token signing key's file in the data directory: a single
// node's key, or the key a cluster node imports (clusterKey).
const keyFile = "issuer-key.pem"

// signingKey is the token signing key and whether this start generated it:
// a single node's is its key file (auth.OpenOrCreateKey), a cluster's is in
// the engine (clusterKey).
func (s *Server) signingKey(ctx context.Context) (*rsa.PrivateKey, bool, error) {
	path := filepath.Join(s.cfg.DataDir, keyFile)
	if s.cfg.Cluster == nil {
		k, created, err := auth.OpenOrCreateKey(path)
		if err != nil {
			return nil, false, fmt.Errorf("presenced: token signing key: %w", err)
		}
		return k, created, nil
	}
	return s.clusterKey(ctx, path)
}

// clusterKey is the cluster's signing key: the one stored in the engine;
// else this node's key file, imported (a single node's data directory, or
// a node of a cluster from before the key was shared, keeps the tokens it
// issued valid); else a new key. It is put with create-if-absent, so the
// first node to start decides the key for all, and a node that loses the
// race uses the winner's. The key file is then removed: the key is kept in
// one place. A stored key, or a key file, that cannot be read stops the
// start, as a corrupt key file does on a single node.
func (s *Server) clusterKey(ctx context.Context, path string) (*rsa.PrivateKey, bool, error) {
	file, err := auth.ReadKey(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("presenced: token signing key: %w", err)
	}
	// Anyone who can read the engine's files can read the key: they are
	// the service account's only, like the key file was.
	if err := s.privateEngineDir(); err != nil {
		return nil, false, err
	}
	for {
		e, err := s.meta.Get(ctx, signingKeyKey)
		if err == nil {
			k, err := auth.ParseKey(e.Value, "stored in the engine (bucket meta, key "+signingKeyKey+")",
				" Restore the meta bucket from a backup, or delete that key to have a new one generated (every token issued before is then refused).")
			if err != nil {
				return nil, false, fmt.Errorf("presenced: token signing key: %w", err)
			}
			s.retireKeyFile(path, file, k)
			return k, false, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, false, fmt.Errorf("presenced: token signing key: read it from the engine: %w", err)
		}
		k, created := file, false
		if k == nil {
			if k, err = auth.GenerateKey(); err != nil {
				return nil, false, err
			}
			created = true
		}
		data, err := auth.EncodeKey(k)
		if err != nil {
			return nil, false, err
		}
		_, err = s.meta.Put(ctx, signingKeyKey, data, 0)
		if errors.Is(err, store.ErrConflict) {
			continue // another node stored one first: use it
		}
		if err != nil {
			return nil, false, fmt.Errorf("presenced: token signing key: store it in the engine: %w", err)
		}
		if created {
			s.log.Info("generated the cluster's token signing key and stored it in the engine", "bucket", "meta", "key", signingKeyKey)
		}
		s.retireKeyFile(path, file, k)
		return k, created, nil
	}
}

// retireKeyFile removes this node's key file once the engine holds the
// cluster's key k: imported (the same key), or not the cluster's, whose
// tokens are then refused, which is said at WARN.
func (s *Server) retireKeyFile(path string, file, k *rsa.PrivateKey) {
	if file == nil {
		return
	}
	if file.Equal(k) {
		s.log.Info("the token signing key file was imported into the engine, where the cluster keeps its key, and removed", "file", path)
	} else {
		s.log.Warn("this node's token signing key file is not the cluster's key, which the engine holds: the tokens this node issued with it are now refused, and its clients must get new tokens. The file was removed.", "file", path)
	}
	if err := os.Remove(path); err != nil {
		s.log.Warn("could not remove the token signing key file; it is no longer used", "file", path, "err", err)
	}
}

// privateEngineDir makes the engine's directory readable by the service
// account only (new ones are created so; one created looser by an earlier
// version or by hand is tightened), now that it holds the signing key.
func (s *Server) privateEngineDir() error {
	if s.cfg.Cluster.external() {
		return nil // the operator's NATS servers keep the data
	}
	dir := filepath.Join(s.cfg.DataDir, "engine")
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("presenced: engine directory: %w", err)
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("presenced: engine directory %s holds the token signing key and must be readable by this account only: %w", dir, err)
	}
	s.log.Info("the engine directory holds the token signing key: made it readable by this account only (0700)", "dir", dir, "was", fi.Mode().Perm().String())
	return nil
}

// noteSigningKey warns when the signing key is not the one the engine
// remembers: the key was lost and a new one generated (created), or
// another key file was put in its place. A first start, or the first start
// of a data directory older than this record, stays quiet. Failing to read
// or record the kid costs only a later warning, never the start.
func (s *Server) noteSigningKey(ctx context.Context, created bool) {
	kid := s.issuer.KeyID()
	e, err := s.meta.Get(ctx, signingKeyIDKey)
	where := []any{"file", filepath.Join(s.cfg.DataDir, keyFile)}
	lost := "the token signing key file was missing"
	if s.cfg.Cluster != nil {
		where = []any{"bucket", "meta", "key", signingKeyKey}
		lost = "the cluster's token signing key was missing from the engine"
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		s.log.Warn("could not read which signing key issued the tokens in use; a changed key would not be noticed", "err", err)
		return
	case string(e.Value) == kid:
		return
	case created:
		s.log.Warn(lost+", so a new key was generated: every token issued before (signed with the previous key) is now refused, and clients must get new tokens. If the key was lost by mistake, stop the server and restore it from a backup.",
			append(where, "kid", kid, "previous_kid", string(e.Value))...)
	default:
		s.log.Warn("the token signing key is not the one that signed the tokens in use: every token issued before is now refused, and clients must get new tokens",
			append(where, "kid", kid, "previous_kid", string(e.Value))...)
	}
	_, err = s.meta.Put(ctx, signingKeyIDKey, []byte(kid), e.Revision)
	if err != nil && !errors.Is(err, store.ErrConflict) { // a conflict: another node recorded it at once
		s.log.Warn("could not record which signing key issues tokens", "err", err)
	}
}
