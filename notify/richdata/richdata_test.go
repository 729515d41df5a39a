package richdata

import (
	"bytes"
	"crypto/aes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
)

var t0 = time.Date(2026, 9, 14, 10, 0, 0, 0, time.UTC)

// newCert makes a self-signed certificate for key valid on [notBefore, notAfter].
func newCert(t testing.TB, key any, pub any, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "presenced richdata test"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// testKey is one 2048-bit key shared by the tests (generation is slow under -race).
func testKey(t testing.TB) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaKey = k
	})
	return rsaKey
}

func testCert(t testing.TB) (*rsa.PrivateKey, *x509.Certificate) {
	k := testKey(t)
	return k, newCert(t, k, &k.PublicKey, t0.Add(-time.Hour), t0.Add(365*24*time.Hour))
}

func b64(der []byte) string { return base64.StdEncoding.EncodeToString(der) }

func pemCert(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// wantInvalid checks err is a *presence.Error{Code: Invalid, Field: field}
// whose message contains substr.
func wantInvalid(t *testing.T, err error, field, substr string) {
	t.Helper()
	var pe *presence.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *presence.Error", err, err)
	}
	if pe.Code != presence.Invalid || pe.Field != field {
		t.Fatalf("error code/field = %s/%q, want invalid/%q (%s)", pe.Code, pe.Field, field, pe.Message)
	}
	if !strings.Contains(pe.Message, substr) {
		t.Fatalf("error message %q does not contain %q", pe.Message, substr)
	}
}

func TestParseCertificate(t *testing.T) {
	_, cert := testCert(t)
	wrapped := b64(cert.Raw)
	var lines []string
	for s := wrapped; s != ""; {
		n := min(64, len(s))
		lines = append(lines, s[:n])
		s = s[n:]
	}
	for name, s := range map[string]string{
		"base64 DER (Graph)": b64(cert.Raw),
		"PEM":                pemCert(cert.Raw),
		"wrapped base64":     strings.Join(lines, "\r\n") + "\n",
		"padded by spaces":   "  " + b64(cert.Raw) + " \n",
	} {
		got, err := ParseCertificate(s, t0)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got.Raw, cert.Raw) {
			t.Errorf("%s: parsed another certificate", name)
		}
	}
}

func TestParseCertificateRejects(t *testing.T) {
	_, cert := testCert(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallCert := newCert(t, small, &small.PublicKey, t0.Add(-time.Hour), t0.Add(time.Hour))
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecCert := newCert(t, ec, &ec.PublicKey, t0.Add(-time.Hour), t0.Add(time.Hour))
	keyDER, err := x509.MarshalPKCS8PrivateKey(testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))

	for _, tc := range []struct {
		name, in string
		now      time.Time
		want     string
	}{
		{"empty", "", t0, "is empty"},
		{"blank", " \n", t0, "is empty"},
		{"not base64", "not*base64!", t0, "is not base64"},
		{"base64 of junk", b64([]byte("hello, world")), t0, "is not a DER X.509 certificate"},
		{"truncated DER", b64(cert.Raw[:len(cert.Raw)/2]), t0, "is not a DER X.509 certificate"},
		{"broken PEM", "-----BEGIN CERTIFICATE-----\nAAAA", t0, "no well-formed PEM block"},
		{"private key PEM", keyPEM, t0, `PEM "PRIVATE KEY" block`},
		{"two PEM blocks", pemCert(cert.Raw) + pemCert(cert.Raw), t0, "more than one PEM block"},
		{"ECDSA", b64(ecCert.Raw), t0, "an ECDSA public key"},
		{"1024-bit RSA", b64(smallCert.Raw), t0, "has 1024 bits; at least 2048"},
		{"expired", b64(cert.Raw), cert.NotAfter.Add(time.Second), "expired at " + cert.NotAfter.UTC().Format(time.RFC3339)},
		{"not yet valid", b64(cert.Raw), cert.NotBefore.Add(-time.Second), "not valid until " + cert.NotBefore.UTC().Format(time.RFC3339)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCertificate(tc.in, tc.now)
			if got != nil {
				t.Errorf("got a certificate with the error")
			}
			wantInvalid(t, err, "encryptionCertificate", tc.want)
		})
	}
}

func TestRoundTrip(t *testing.T) {
	key, cert := testCert(t)
	for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 200, 4096} {
		plain := bytes.Repeat([]byte("p"), n)
		c, err := Encrypt(cert, "presence-cert-1", plain)
		if err != nil {
			t.Fatal(err)
		}
		if c.EncryptionCertificateID != "presence-cert-1" {
			t.Errorf("certificate id = %q", c.EncryptionCertificateID)
		}
		sum := sha1.Sum(cert.Raw)
		if want := strings.ToUpper(hex.EncodeToString(sum[:])); c.EncryptionCertificateThumbprint != want {
			t.Errorf("thumbprint = %q, want %q", c.EncryptionCertificateThumbprint, want)
		}
		data, _ := base64.StdEncoding.DecodeString(c.Data)
		if want := (n/aes.BlockSize + 1) * aes.BlockSize; len(data) != want {
			t.Errorf("%d bytes: ciphertext has %d bytes, want %d (PKCS#7 always pads)", n, len(data), want)
		}
		got, err := Decrypt(key, c)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: round trip gave %q", n, got)
		}
	}
}

func TestEncryptIsRandomised(t *testing.T) {
	_, cert := testCert(t)
	a, err := Encrypt(cert, "id", []byte("same"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Encrypt(cert, "id", []byte("same"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Data == b.Data || a.DataKey == b.DataKey || a.DataSignature == b.DataSignature {
		t.Fatalf("two encryptions share output: %+v %+v", a, b)
	}
}

func TestEncryptJSONNames(t *testing.T) {
	_, cert := testCert(t)
	c, err := Encrypt(cert, "id", []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"data", "dataSignature", "dataKey", "encryptionCertificateId", "encryptionCertificateThumbprint"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, raw)
		}
	}
	if len(m) != 5 {
		t.Errorf("JSON has %d properties: %s", len(m), raw)
	}
}

func TestEncryptRejectsBadCertificates(t *testing.T) {
	_, err := Encrypt(nil, "id", nil)
	wantInvalid(t, err, "encryptionCertificate", "no encryption certificate")
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Encrypt(newCert(t, ec, &ec.PublicKey, t0, t0.Add(time.Hour)), "id", nil)
	wantInvalid(t, err, "encryptionCertificate", "need an RSA key")
}

// flip returns the base64 s with one bit of its decoded byte i changed.
func flip(t *testing.T, s string, i int) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	b[(i+len(b))%len(b)] ^= 0x01
	return b64(b)
}

func TestDecryptRejectsTampering(t *testing.T) {
	key, cert := testCert(t)
	c, err := Encrypt(cert, "presence-cert-1", []byte(`{"availability":"Busy"}`))
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		edit        func(*EncryptedContent)
		key         *rsa.PrivateKey
		field, want string
	}{
		{"data first byte", func(c *EncryptedContent) { c.Data = flip(t, c.Data, 0) }, key, "dataSignature", "does not match"},
		{"data last byte", func(c *EncryptedContent) { c.Data = flip(t, c.Data, -1) }, key, "dataSignature", "does not match"},
		{"data truncated", func(c *EncryptedContent) {
			b, _ := base64.StdEncoding.DecodeString(c.Data)
			c.Data = b64(b[:len(b)-aes.BlockSize])
		}, key, "dataSignature", "does not match"},
		{"signature", func(c *EncryptedContent) { c.DataSignature = flip(t, c.DataSignature, 5) }, key, "dataSignature", "does not match"},
		{"signature truncated", func(c *EncryptedContent) {
			b, _ := base64.StdEncoding.DecodeString(c.DataSignature)
			c.DataSignature = b64(b[:16])
		}, key, "dataSignature", "does not match"},
		{"signature over base64", func(c *EncryptedContent) {
			// A signature over the base64 text, not the raw ciphertext, is wrong.
			k, _ := rsa.DecryptOAEP(sha1.New(), nil, key, mustB64(t, c.DataKey), nil)
			m := hmac.New(sha256.New, k)
			m.Write([]byte(c.Data))
			c.DataSignature = b64(m.Sum(nil))
		}, key, "dataSignature", "does not match"},
		{"dataKey", func(c *EncryptedContent) { c.DataKey = flip(t, c.DataKey, 100) }, key, "dataKey", "does not decrypt"},
		{"other private key", func(c *EncryptedContent) {}, other, "dataKey", "does not decrypt"},
		{"data not base64", func(c *EncryptedContent) { c.Data = "%%%" }, key, "data", "not base64"},
		{"signature not base64", func(c *EncryptedContent) { c.DataSignature = "a" }, key, "dataSignature", "not base64"},
		{"dataKey empty", func(c *EncryptedContent) { c.DataKey = "" }, key, "dataKey", "missing or empty"},
		{"thumbprint not hex", func(c *EncryptedContent) { c.EncryptionCertificateThumbprint = "zz" }, key, "encryptionCertificateThumbprint", "40 hex digits"},
		{"thumbprint with colons", func(c *EncryptedContent) {
			c.EncryptionCertificateThumbprint = c.EncryptionCertificateThumbprint[:2] + ":" + c.EncryptionCertificateThumbprint[2:]
		}, key, "encryptionCertificateThumbprint", "40 hex digits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := c
			tc.edit(&cc)
			got, err := Decrypt(tc.key, cc)
			if got != nil {
				t.Errorf("plaintext returned with the error: %q", got)
			}
			wantInvalid(t, err, tc.field, tc.want)
		})
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seal builds content with a chosen symmetric key and raw ciphertext, signed
// correctly, to reach the checks Decrypt makes after the signature.
func seal(t *testing.T, pub *rsa.PublicKey, key, ciphertext []byte) EncryptedContent {
	t.Helper()
	dk, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return EncryptedContent{Data: b64(ciphertext), DataSignature: b64(sign(key, ciphertext)), DataKey: b64(dk)}
}

func TestDecryptAfterSignature(t *testing.T) {
	key := testKey(t)
	sym := bytes.Repeat([]byte{7}, KeySize)

	_, err := Decrypt(key, seal(t, &key.PublicKey, sym, make([]byte, 17)))
	wantInvalid(t, err, "data", "non-zero multiple of 16")

	_, err = Decrypt(key, seal(t, &key.PublicKey, []byte("short key"), make([]byte, 16)))
	wantInvalid(t, err, "dataKey", "9-byte key")

	// Signed ciphertext whose plaintext ends in invalid PKCS#7 padding: a
	// zero byte, a count over the block size, and 03 after a 02.
	for _, last := range []byte{0x00, 0x11, 0x03} {
		pt := bytes.Repeat([]byte{0x02}, 16)
		pt[15] = last
		_, err = Decrypt(key, seal(t, &key.PublicKey, sym, rawCBC(t, sym, pt)))
		wantInvalid(t, err, "data", "PKCS#7")
	}

	// The empty plaintext is one full block of padding, and Graph-compatible
	// keys of other AES sizes decrypt too.
	for _, n := range []int{16, 24, 32} {
		k := bytes.Repeat([]byte{9}, n)
		ct, err := encryptCBC(k, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decrypt(key, seal(t, &key.PublicKey, k, ct))
		if err != nil || len(got) != 0 {
			t.Fatalf("AES-%d empty plaintext: %q, %v", n*8, got, err)
		}
	}

	_, err = Decrypt(nil, EncryptedContent{})
	wantInvalid(t, err, "", "no private key")
}

// rawCBC encrypts whole blocks without padding.
func rawCBC(t *testing.T, key, pt []byte) []byte {
	t.Helper()
	padded, err := encryptCBC(key, pt)
	if err != nil {
		t.Fatal(err)
	}
	return padded[:len(pt)] // CBC: the first blocks do not depend on the padding block
}

func TestThumbprint(t *testing.T) {
	key, cert := testCert(t)
	tp := Thumbprint(cert)
	if len(tp) != 40 || strings.ToUpper(tp) != tp {
		t.Fatalf("thumbprint %q is not 40 uppercase hex digits", tp)
	}
	if !ThumbprintMatches(cert, tp) || !ThumbprintMatches(cert, strings.ToLower(tp)) {
		t.Fatal("ThumbprintMatches rejects its own thumbprint")
	}
	if ThumbprintMatches(cert, strings.Repeat("0", 40)) {
		t.Fatal("ThumbprintMatches accepts another thumbprint")
	}
	// Decrypt accepts the thumbprint in either case, and an absent one.
	c, err := Encrypt(cert, "id", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{tp, strings.ToLower(tp), ""} {
		c.EncryptionCertificateThumbprint = v
		if _, err := Decrypt(key, c); err != nil {
			t.Errorf("thumbprint %q: %v", v, err)
		}
	}
}

// golden loads the fixed key pair and the vector that testdata/mkgolden.sh
// made with openssl alone.
func golden(t *testing.T) (*rsa.PrivateKey, *x509.Certificate, EncryptedContent, []byte) {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	block, _ := pem.Decode(read("key.pem"))
	if block == nil {
		t.Fatal("testdata/key.pem: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := string(read("cert.pem"))
	block, _ = pem.Decode([]byte(certPEM))
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ParseCertificate(certPEM, c.NotBefore.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var ec EncryptedContent
	if err := json.Unmarshal(read("golden.json"), &ec); err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey), cert, ec, read("plaintext.json")
}

func TestGolden(t *testing.T) {
	key, cert, ec, plain := golden(t)
	got, err := Decrypt(key, ec)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatalf("golden vector decrypts to %q, want %q", got, plain)
	}
	if !ThumbprintMatches(cert, ec.EncryptionCertificateThumbprint) || Thumbprint(cert) != ec.EncryptionCertificateThumbprint {
		t.Fatalf("Thumbprint = %s; openssl's SHA-1 fingerprint is %s", Thumbprint(cert), ec.EncryptionCertificateThumbprint)
	}
	// The golden content fails once altered, so the test is not vacuous.
	ec.Data = flip(t, ec.Data, 3)
	_, err = Decrypt(key, ec)
	wantInvalid(t, err, "dataSignature", "does not match")

	// Our own encryption for the golden certificate decrypts with its key.
	c, err := Encrypt(cert, "presence-cert-1", plain)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Decrypt(key, c); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("round trip on the golden pair: %q, %v", got, err)
	}
}

// TestOpenSSL decrypts Encrypt's output with the openssl command-line tool,
// an implementation independent of Go's crypto packages, step by step as a
// Graph receiver does.
func TestOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed: Encrypt's output is not checked against an independent implementation")
	}
	key, cert := testCert(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(openssl, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
		}
		return out
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := write("key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	certPath := write("cert.pem", []byte(pemCert(cert.Raw)))

	plain := []byte(`{"@odata.id":"users/6682/presence","@odata.type":"#microsoft.graph.presence","id":"6682","availability":"Available","activity":"Available"}`)
	c, err := Encrypt(cert, "presence-cert-1", plain)
	if err != nil {
		t.Fatal(err)
	}

	sym := run("pkeyutl", "-decrypt", "-inkey", keyPath,
		"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha1", "-pkeyopt", "rsa_mgf1_md:sha1",
		"-in", write("datakey.bin", mustB64(t, c.DataKey)))
	if len(sym) != KeySize {
		t.Fatalf("openssl decrypted a %d-byte key, want %d", len(sym), KeySize)
	}
	hexKey := hex.EncodeToString(sym)
	dataPath := write("data.bin", mustB64(t, c.Data))

	got := run("enc", "-d", "-aes-256-cbc", "-K", hexKey, "-iv", hexKey[:32], "-in", dataPath)
	if !bytes.Equal(got, plain) {
		t.Fatalf("openssl decrypted data to %q, want %q", got, plain)
	}

	mac := run("dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:"+hexKey, "-binary", dataPath)
	if !bytes.Equal(mac, mustB64(t, c.DataSignature)) {
		t.Fatalf("openssl HMAC-SHA256 = %x, dataSignature = %x", mac, mustB64(t, c.DataSignature))
	}

	fp := string(run("x509", "-in", certPath, "-noout", "-fingerprint", "-sha1"))
	_, fp, _ = strings.Cut(strings.TrimSpace(fp), "=")
	if want := strings.ReplaceAll(fp, ":", ""); c.EncryptionCertificateThumbprint != want {
		t.Fatalf("thumbprint %s, openssl SHA-1 fingerprint %s", c.EncryptionCertificateThumbprint, want)
	}
}

func FuzzParseCertificate(f *testing.F) {
	k := testKey(f)
	cert := newCert(f, k, &k.PublicKey, t0.Add(-time.Hour), t0.Add(time.Hour))
	f.Add(b64(cert.Raw))
	f.Add(pemCert(cert.Raw))
	f.Add("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
	f.Add("MIIB")
	f.Add("")
	f.Add("\x00\xff")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseCertificate(s, t0)
		if err == nil {
			if got == nil {
				t.Fatal("nil certificate without an error")
			}
			return
		}
		if got != nil {
			t.Fatal("certificate returned with an error")
		}
		var pe *presence.Error
		if !errors.As(err, &pe) || pe.Code != presence.Invalid || pe.Field != "encryptionCertificate" || pe.Message == "" {
			t.Fatalf("error %#v is not an invalid encryptionCertificate *presence.Error", err)
		}
	})
}
