package auth

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/presenced/presenced/presence"
)

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data", "issuer-key.pem")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if k1.N.BitLen() != 2048 {
		t.Errorf("%d bits", k1.N.BitLen())
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if b, _ := pem.Decode(data); b == nil || b.Type != "PRIVATE KEY" {
		t.Fatalf("not a PKCS#8 PEM file: %s", data)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) {
		t.Error("a second load returned another key")
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("leftover files: %v", entries)
	}
}

func TestLoadOrCreateKeyConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.pem")
	var wg sync.WaitGroup
	got := make([][]byte, 4)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := LoadOrCreateKey(path)
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = x509.MarshalPKCS1PrivateKey(k)
		}()
	}
	wg.Wait()
	for i := range got {
		if string(got[i]) != string(got[0]) {
			t.Fatal("concurrent callers got different keys")
		}
	}
}

func TestLoadKeyErrors(t *testing.T) {
	dir := t.TempDir()
	k, _ := keys(t)
	small, _ := rsaKey(1024)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	smallDER, _ := x509.MarshalPKCS8PrivateKey(small)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey(t))
	tests := []struct {
		name    string
		content []byte
		want    string // "" = loads
	}{
		{"pkcs1", pkcs1, ""},
		{"not pem", []byte("hello"), "is not a PEM file"},
		{"certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), `holds a PEM "CERTIFICATE" block`},
		{"garbage der", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), "signing key"},
		{"small", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: smallDER}), "1024 bits; at least 2048"},
		{"ecdsa", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}), "need an RSA key"},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.name+".pem")
		if err := os.WriteFile(path, tt.content, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := LoadOrCreateKey(path)
		if tt.want == "" {
			if err != nil || !got.Equal(k) {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		wantErr(t, err, presence.Invalid, tt.want+"|"+path)
		if after, _ := os.ReadFile(path); string(after) != string(tt.content) {
			t.Errorf("%s: a bad key file was overwritten", tt.name)
		}
	}
}

// OpenOrCreateKey says whether it generated the key, so that a server can
// tell a first start from a key that went missing.
func TestOpenOrCreateKeySaysWhetherItGenerated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.pem")
	k1, created, err := OpenOrCreateKey(path)
	if err != nil || !created {
		t.Fatalf("first: created=%v err=%v, want a generated key", created, err)
	}
	k2, created, err := OpenOrCreateKey(path)
	if err != nil || created || !k2.Equal(k1) {
		t.Fatalf("second: created=%v err=%v same=%v, want the stored key", created, err, k2 != nil && k2.Equal(k1))
	}
}
