// Package richdata implements the encryption of resource data in Microsoft
// Graph rich change notifications ("includeResourceData": true), byte for
// byte as Graph does it, so that a receiver's existing Graph decryption code
// (Microsoft's C#, Java and Node samples in the Graph documentation page
// "change-notifications-with-resource-data", "Set up change notifications
// that include resource data") decrypts our notifications unchanged.
//
// The subscriber supplies, when it creates the subscription, an X.509
// certificate ("encryptionCertificate": base64 of its DER) and an id of its
// choosing ("encryptionCertificateId"). For every notification:
//
//   - a fresh random 32-byte symmetric key K is drawn;
//   - data = base64(AES-256-CBC(K, IV = K[0:16], PKCS#7-padded resource JSON));
//   - dataSignature = base64(HMAC-SHA256(K, the raw ciphertext)), i.e. over
//     the encrypted bytes, not over their base64;
//   - dataKey = base64(RSA-OAEP(certificate public key, K)) with SHA-1 as the
//     OAEP hash and MGF1-SHA-1 ("RSA/ECB/OAEPWithSHA1AndMGF1Padding" in the
//     Graph reference for changeNotificationEncryptedContent);
//   - encryptionCertificateId is echoed and encryptionCertificateThumbprint is
//     the hex SHA-1 of the certificate's DER (see Thumbprint for the case).
//
// The receiver decrypts dataKey with its private key, verifies dataSignature,
// and only then decrypts data. Decrypt does exactly that and exists for tests
// and for users' tooling; the server itself only encrypts.
//
// The IV being derived from the key is Graph's design, not ours: it is safe
// here only because every notification has a fresh key, and it is kept
// because receivers take the IV from the key.
package richdata

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/presenced/presenced/presence"
)

// MinKeyBits is the smallest RSA modulus accepted in an encryption
// certificate. Graph's documentation asks for 2048-bit keys.
const MinKeyBits = 2048

// KeySize is the length in bytes of the per-notification symmetric key
// (AES-256, as Graph uses).
const KeySize = 32

// certField is the subscription property that carries the certificate.
const certField = "encryptionCertificate"

// EncryptedContent is Graph's changeNotificationEncryptedContent, the
// "encryptedContent" of one rich change notification.
type EncryptedContent struct {
	Data                            string `json:"data"`
	DataSignature                   string `json:"dataSignature"`
	DataKey                         string `json:"dataKey"`
	EncryptionCertificateID         string `json:"encryptionCertificateId"`
	EncryptionCertificateThumbprint string `json:"encryptionCertificateThumbprint"`
}

// ParseCertificate parses a subscription's encryptionCertificate: base64 of
// the DER certificate, as Graph takes it (line breaks inside the base64 are
// tolerated), or a PEM "CERTIFICATE" block. The certificate must carry an
// RSA public key of at least MinKeyBits bits and be valid at now.
//
// Every error is a *presence.Error with Code presence.Invalid and Field
// "encryptionCertificate".
func ParseCertificate(s string, now time.Time) (*x509.Certificate, error) {
	der, err := certificateDER(s)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, presence.Errorf(presence.Invalid, certField,
			"Property '%s' is not a DER X.509 certificate: %v.", certField, err)
	}
	if err := checkPublicKey(cert); err != nil {
		return nil, err
	}
	if now.Before(cert.NotBefore) {
		return nil, presence.Errorf(presence.Invalid, certField,
			"Property '%s' holds a certificate that is not valid until %s.",
			certField, cert.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(cert.NotAfter) {
		return nil, presence.Errorf(presence.Invalid, certField,
			"Property '%s' holds a certificate that expired at %s.",
			certField, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return cert, nil
}

// certificateDER extracts the DER bytes from the PEM or base64 form.
func certificateDER(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, presence.Errorf(presence.Invalid, certField,
			"Property '%s' is empty; send the base64 of the DER X.509 certificate.", certField)
	}
	if strings.HasPrefix(s, "-----BEGIN") {
		block, rest := pem.Decode([]byte(s))
		if block == nil {
			return nil, presence.Errorf(presence.Invalid, certField,
				"Property '%s' looks like PEM but has no well-formed PEM block.", certField)
		}
		if block.Type != "CERTIFICATE" {
			return nil, presence.Errorf(presence.Invalid, certField,
				"Property '%s' holds a PEM %q block; a \"CERTIFICATE\" block is required (never send the private key).",
				certField, block.Type)
		}
		if len(bytes.TrimSpace(rest)) != 0 {
			return nil, presence.Errorf(presence.Invalid, certField,
				"Property '%s' holds more than one PEM block; send only the encryption certificate.", certField)
		}
		return block.Bytes, nil
	}
	compact := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
	der, err := base64.StdEncoding.DecodeString(compact)
	if err != nil {
		return nil, presence.Errorf(presence.Invalid, certField,
			"Property '%s' is not base64 (%v); send the base64 of the DER X.509 certificate.", certField, err)
	}
	return der, nil
}

// checkPublicKey requires an RSA key of at least MinKeyBits bits.
func checkPublicKey(cert *x509.Certificate) error {
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return presence.Errorf(presence.Invalid, certField,
			"Property '%s' holds a certificate with %s public key; rich notifications encrypt with RSA-OAEP and need an RSA key.",
			certField, keyKind(cert.PublicKey))
	}
	if bits := pub.N.BitLen(); bits < MinKeyBits {
		return presence.Errorf(presence.Invalid, certField,
			"Property '%s' holds a certificate whose RSA key has %d bits; at least %d are required.",
			certField, bits, MinKeyBits)
	}
	return nil
}

func keyKind(k any) string {
	switch k.(type) {
	case *ecdsa.PublicKey:
		return "an ECDSA"
	case ed25519.PublicKey:
		return "an Ed25519"
	case nil:
		return "an unsupported"
	}
	return fmt.Sprintf("a %T", k)
}

// Thumbprint returns the certificate's thumbprint as Graph reports it in
// encryptionCertificateThumbprint: the SHA-1 of the DER certificate in hex.
//
// It is uppercase: the Graph documentation's example notification shows an
// uppercase thumbprint, and that is what Windows, .NET's
// X509Certificate2.Thumbprint and openssl's -fingerprint print, so a receiver
// that looks its certificate up by comparing strings (as the samples do with
// .NET's certificate store) finds it. Compare with ThumbprintMatches, which
// ignores case.
func Thumbprint(cert *x509.Certificate) string {
	sum := sha1.Sum(cert.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// ThumbprintMatches reports whether thumbprint, in either case, is the
// thumbprint of cert.
func ThumbprintMatches(cert *x509.Certificate, thumbprint string) bool {
	return strings.EqualFold(Thumbprint(cert), thumbprint)
}

// Encrypt encrypts plaintext (the resource JSON) for the holder of cert's
// private key, as Graph does for a rich notification; certID is the
// subscription's encryptionCertificateId and is echoed. Each call draws a new
// symmetric key, so two calls never give the same output.
//
// cert must hold an RSA key of at least MinKeyBits bits (ParseCertificate
// ensures it); otherwise the error is a *presence.Error with Code Invalid.
func Encrypt(cert *x509.Certificate, certID string, plaintext []byte) (EncryptedContent, error) {
	if cert == nil {
		return EncryptedContent{}, presence.Errorf(presence.Invalid, certField,
			"richdata: no encryption certificate.")
	}
	if err := checkPublicKey(cert); err != nil {
		return EncryptedContent{}, err
	}
	pub := cert.PublicKey.(*rsa.PublicKey)

	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return EncryptedContent{}, fmt.Errorf("richdata: drawing the symmetric key: %w", err)
	}
	dataKey, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, key, nil)
	if err != nil {
		return EncryptedContent{}, fmt.Errorf("richdata: encrypting the symmetric key: %w", err)
	}
	ciphertext, err := encryptCBC(key, plaintext)
	if err != nil {
		return EncryptedContent{}, err
	}
	return EncryptedContent{
		Data:                            base64.StdEncoding.EncodeToString(ciphertext),
		DataSignature:                   base64.StdEncoding.EncodeToString(sign(key, ciphertext)),
		DataKey:                         base64.StdEncoding.EncodeToString(dataKey),
		EncryptionCertificateID:         certID,
		EncryptionCertificateThumbprint: Thumbprint(cert),
	}, nil
}

// encryptCBC is AES-CBC with IV = key[:16] and PKCS#7 padding.
func encryptCBC(key, plaintext []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("richdata: %w", err)
	}
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	buf := make([]byte, len(plaintext)+pad)
	copy(buf, plaintext)
	for i := len(plaintext); i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, key[:aes.BlockSize]).CryptBlocks(buf, buf)
	return buf, nil
}

// sign is the dataSignature: HMAC-SHA256 keyed with the symmetric key over
// the raw ciphertext.
func sign(key, ciphertext []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(ciphertext)
	return m.Sum(nil)
}

// Decrypt is the receiver's side: it decrypts dataKey with priv, checks
// dataSignature against data (constant-time) and only then decrypts data. It
// returns the resource JSON.
//
// A non-empty encryptionCertificateThumbprint must be 40 hex digits, in
// either case; whether it names the certificate of priv is for the caller to
// check with ThumbprintMatches, as Decrypt has no certificate. Every error on
// bad content is a *presence.Error with Code Invalid whose Field names the
// property at fault ("dataKey", "dataSignature", "data",
// "encryptionCertificateThumbprint").
func Decrypt(priv *rsa.PrivateKey, c EncryptedContent) ([]byte, error) {
	if priv == nil {
		return nil, presence.Errorf(presence.Invalid, "", "richdata: no private key.")
	}
	if t := c.EncryptionCertificateThumbprint; t != "" {
		if b, err := hex.DecodeString(t); err != nil || len(b) != sha1.Size {
			return nil, presence.Errorf(presence.Invalid, "encryptionCertificateThumbprint",
				"Property 'encryptionCertificateThumbprint' is %q; want the 40 hex digits of a SHA-1 thumbprint.", t)
		}
	}
	encKey, err := decodeField("dataKey", c.DataKey)
	if err != nil {
		return nil, err
	}
	signature, err := decodeField("dataSignature", c.DataSignature)
	if err != nil {
		return nil, err
	}
	ciphertext, err := decodeField("data", c.Data)
	if err != nil {
		return nil, err
	}

	key, err := rsa.DecryptOAEP(sha1.New(), nil, priv, encKey, nil)
	if err != nil {
		return nil, presence.Errorf(presence.Invalid, "dataKey",
			"Property 'dataKey' does not decrypt with this private key using RSA-OAEP with SHA-1 and MGF1-SHA-1: it was encrypted for another certificate, or altered.")
	}
	switch len(key) {
	case 16, 24, 32:
	default:
		return nil, presence.Errorf(presence.Invalid, "dataKey",
			"Property 'dataKey' decrypts to a %d-byte key; an AES key has 16, 24 or 32 bytes.", len(key))
	}
	if !hmac.Equal(signature, sign(key, ciphertext)) {
		return nil, presence.Errorf(presence.Invalid, "dataSignature",
			"Property 'dataSignature' does not match the HMAC-SHA256 of 'data' under the decrypted key: the data or the signature was altered.")
	}
	if len(ciphertext) == 0 || len(ciphertext)%aes.BlockSize != 0 {
		return nil, presence.Errorf(presence.Invalid, "data",
			"Property 'data' is %d bytes long; AES-CBC ciphertext is a non-zero multiple of %d bytes.", len(ciphertext), aes.BlockSize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("richdata: %w", err)
	}
	plain := make([]byte, len(ciphertext))
	cipher.NewCBCDecrypter(block, key[:aes.BlockSize]).CryptBlocks(plain, ciphertext)
	pad := int(plain[len(plain)-1])
	if pad == 0 || pad > aes.BlockSize || pad > len(plain) {
		return nil, badPadding()
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, badPadding()
		}
	}
	return plain[:len(plain)-pad], nil
}

func badPadding() error {
	return presence.Errorf(presence.Invalid, "data",
		"Property 'data' decrypts without valid PKCS#7 padding: it was not encrypted with AES-CBC under this key and IV.")
}

func decodeField(name, v string) ([]byte, error) {
	if v == "" {
		return nil, presence.Errorf(presence.Invalid, name, "Property '%s' is missing or empty.", name)
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, presence.Errorf(presence.Invalid, name, "Property '%s' is not base64: %v.", name, err)
	}
	return b, nil
}
