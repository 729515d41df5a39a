package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/presenced/presenced/presence"
)

// KeyBits is the size of generated signing keys, and the least accepted.
const KeyBits = 2048

// GenerateKey returns a new 2048-bit RSA signing key.
func GenerateKey() (*rsa.PrivateKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		return nil, presence.Errorf(presence.Internal, "", "auth: generating an RSA key: %v", err)
	}
	return k, nil
}

// LoadOrCreateKey returns the RSA signing key stored at path as a PEM
// "PRIVATE KEY" block (PKCS #8; a PKCS #1 "RSA PRIVATE KEY" block is read
// too). When the file does not exist it generates a key and writes it there
// with mode 0600, creating the directory (0700) if needed, so that tokens
// stay valid across restarts. The file is created atomically: a concurrent
// caller reads the key the winner wrote.
func LoadOrCreateKey(path string) (*rsa.PrivateKey, error) {
	k, err := readKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	k, err = GenerateKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, presence.Errorf(presence.Internal, "", "auth: encoding the signing key: %v", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, presence.Errorf(presence.Internal, "", "auth: creating the directory of signing key %s: %v", path, err)
	}
	tmp, err := os.CreateTemp(dir, ".signing-key-*.pem")
	if err != nil {
		return nil, presence.Errorf(presence.Internal, "", "auth: writing signing key %s: %v", path, err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600.
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return nil, presence.Errorf(presence.Internal, "", "auth: writing signing key %s: %v", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, presence.Errorf(presence.Internal, "", "auth: writing signing key %s: %v", path, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, presence.Errorf(presence.Internal, "", "auth: writing signing key %s: %v", path, err)
	}
	// Link, unlike Rename, fails if another process created the key first.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKey(path)
		}
		return nil, presence.Errorf(presence.Internal, "", "auth: writing signing key %s: %v", path, err)
	}
	return k, nil
}

// readKey reads a PEM RSA private key; a missing file is fs.ErrNotExist.
func readKey(path string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, presence.Errorf(presence.Internal, "", "auth: reading signing key %s: %v", path, err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, presence.Errorf(presence.Invalid, "", "auth: signing key %s is not a PEM file; it must hold one \"PRIVATE KEY\" block (PKCS #8 RSA). Delete it to have a new key generated.", path)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, presence.Errorf(presence.Invalid, "", "auth: signing key %s holds a PEM %q block; it must be a \"PRIVATE KEY\" block (PKCS #8 RSA).", path, block.Type)
	}
	if err != nil {
		return nil, presence.Errorf(presence.Invalid, "", "auth: signing key %s: %v", path, err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, presence.Errorf(presence.Invalid, "", "auth: signing key %s is a %T; tokens are signed with RS256 and need an RSA key.", path, key)
	}
	if rk.N.BitLen() < KeyBits {
		return nil, presence.Errorf(presence.Invalid, "", "auth: signing key %s has %d bits; at least %d are required.", path, rk.N.BitLen(), KeyBits)
	}
	return rk, nil
}
