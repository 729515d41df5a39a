package auth

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"io"
	"testing"

	"github.com/lestrrat-go/jwx/v3/cert"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/presenced/presenced/directory"
)

// Entra publishes, with each signing key, a self-signed certificate of it
// (x5c), the certificate's SHA-1 thumbprint (x5t) and the issuer the key
// signs for; some validators (older .NET, MSAL's PoP) read them.
func TestJWKSPublishesCertificateAndIssuer(t *testing.T) {
	h := newHTTPFixture(t)
	base := h.srv.URL
	tests := []struct {
		name, path, issuer string
	}{
		{"a tenant's keys name its issuer", "/" + directory.DemoTenantID + "/discovery/v2.0/keys", base + "/" + directory.DemoTenantID + "/v2.0"},
		{"a tenant asked by domain names its id", "/Contoso.dev/discovery/v2.0/keys", base + "/" + directory.DemoTenantID + "/v2.0"},
		{"another tenant's keys name that tenant", "/" + directory.DemoFabrikamDomain + "/discovery/v2.0/keys", base + "/" + directory.DemoFabrikamTenantID + "/v2.0"},
		{"the common keys name the template, as Entra's", "/common/discovery/v2.0/keys", base + "/{tenantid}/v2.0"},
	}
	var certs [][]byte
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := h.srv.Client().Get(base + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, raw)
			}
			set, err := jwk.Parse(raw)
			if err != nil {
				t.Fatalf("jwx cannot parse the JWKS: %v\n%s", err, raw)
			}
			if set.Len() != 1 {
				t.Fatalf("%d keys", set.Len())
			}
			key, _ := set.Key(0)
			var pub rsa.PublicKey
			if err := jwk.Export(key, &pub); err != nil {
				t.Fatal(err)
			}
			chain, ok := key.X509CertChain()
			if !ok || chain.Len() != 1 {
				t.Fatalf("x5c missing or not one certificate: %s", raw)
			}
			enc, _ := chain.Get(0)
			c, err := cert.Parse(enc)
			if err != nil {
				t.Fatalf("x5c: %v", err)
			}
			if cp, ok := c.PublicKey.(*rsa.PublicKey); !ok || !cp.Equal(&pub) {
				t.Fatalf("the certificate's public key is not the key's")
			}
			if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
				t.Errorf("the certificate is not self-signed by the key: %v", err)
			}
			if c.SignatureAlgorithm != x509.SHA256WithRSA {
				t.Errorf("certificate signed with %v", c.SignatureAlgorithm)
			}
			sum := sha1.Sum(c.Raw)
			if x5t, _ := key.X509CertThumbprint(); x5t != base64.RawURLEncoding.EncodeToString(sum[:]) {
				t.Errorf("x5t %q is not the base64url SHA-1 of the certificate", x5t)
			}
			var iss string
			if err := key.Get("issuer", &iss); err != nil || iss != tt.issuer {
				t.Errorf("issuer %q (%v), want %q", iss, err, tt.issuer)
			}
			certs = append(certs, c.Raw)
		})
	}
	// The certificate is a function of the key: the same on every endpoint
	// and after a restart (an issuer built again from the same key), so
	// that x5t, which clients may cache, never changes while the key does
	// not.
	again, err := NewIssuer(IssuerOptions{Directory: h.dir, Clock: h.clk, BaseURL: testBase, Key: h.key})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := again.PublicKeys().Key(0)
	chain, ok := key.X509CertChain()
	if !ok {
		t.Fatal("PublicKeys has no x5c")
	}
	enc, _ := chain.Get(0)
	c, err := cert.Parse(enc)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range certs {
		if !bytes.Equal(b, c.Raw) {
			t.Errorf("endpoint %d published another certificate than an issuer built again from the same key", i)
		}
	}
	if len(certs) != len(tests) {
		t.Fatalf("%d certificates checked", len(certs))
	}
}
