package auth

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

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

// certEpoch and certNever bound the signing certificate's validity: fixed
// instants, so that the certificate is a function of the key alone.
// 9999-12-31T23:59:59Z is RFC 5280's "no well-defined expiration" (§4.1.2.5):
// the key, not the certificate, decides how long tokens verify.
var (
	certEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	certNever = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// SigningCertificate returns a self-signed X.509 certificate (DER) of the
// signing key, published in the JWKS as x5c as Entra publishes its own.
// It is the same bytes for the same key, across restarts and on every node
// holding the key: the template is fixed (serial number from the key's
// hash, fixed validity), and RSA PKCS #1 v1.5 signatures are
// deterministic.
func SigningCertificate(signer crypto.Signer) ([]byte, error) {
	pub, ok := signer.Public().(*rsa.PublicKey)
	if !ok {
		return nil, presence.Errorf(presence.Invalid, "Key", "auth: the signing key is a %T; it must be an RSA key.", signer.Public())
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, presence.Errorf(presence.Internal, "Key", "auth: encoding the public key: %v", err)
	}
	sum := sha256.Sum256(spki)
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(sum[:16]), // positive, at most 128 bits (RFC 5280 allows 20 octets)
		Subject:               pkix.Name{CommonName: "presenced token signing key"},
		NotBefore:             certEpoch,
		NotAfter:              certNever,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		SubjectKeyId:          sum[:20],
		SignatureAlgorithm:    x509.SHA256WithRSA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, signer)
	if err != nil {
		return nil, presence.Errorf(presence.Internal, "Key", "auth: creating the signing certificate: %v", err)
	}
	return der, nil
}
