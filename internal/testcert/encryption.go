package testcert

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"testing"
	"time"
)

// Encryption is a webhook receiver's encryption certificate, as Graph's
// includeResourceData asks for one: a self-signed RSA 2048 certificate,
// valid 2020–2100 (the server checks it against its clock, which a test
// may move), and its private key to decrypt encryptedContent with
// (richdata.Decrypt).
type Encryption struct {
	// B64 is the certificate's DER in base64: the subscription's
	// encryptionCertificate.
	B64 string
	Key *rsa.PrivateKey
}

// NewEncryption makes an encryption certificate.
func NewEncryption(t testing.TB) Encryption {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "presence receiver"},
		NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return Encryption{B64: base64.StdEncoding.EncodeToString(der), Key: key}
}
