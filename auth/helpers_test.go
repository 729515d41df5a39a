package auth

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/dirstore"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// liveDirectory imports f into a directory bucket of a real engine: what
// a server's issuer checks passwords and secrets against.
func liveDirectory(t testing.TB, f *directory.File) *dirstore.Store {
	t.Helper()
	ctx := context.Background()
	kv := enginetest.Bucket(t, "directory")
	s, err := dirstore.Open(ctx, dirstore.Options{KV: kv.(store.SerialKV), Clock: clock.NewFake(t0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Import(ctx, f, nil); err != nil {
		t.Fatal(err)
	}
	return s
}

const testBase = "http://presenced.test:8080"

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

var (
	keyOnce      sync.Once
	key1, key2   *rsa.PrivateKey
	keyGenFailed error
)

// keys returns two fixed-for-the-run RSA keys: the issuer's and a stranger's.
func keys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	keyOnce.Do(func() {
		if key1, keyGenFailed = GenerateKey(); keyGenFailed == nil {
			key2, keyGenFailed = GenerateKey()
		}
	})
	if keyGenFailed != nil {
		t.Fatal(keyGenFailed)
	}
	return key1, key2
}

type fixture struct {
	clk *clock.Fake
	dir *directory.Directory
	iss *Issuer
	val *Validator
	key *rsa.PrivateKey
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	k, _ := keys(t)
	f := &fixture{clk: clock.NewFake(t0), dir: directory.Demo(), key: k}
	var err error
	f.iss, err = NewIssuer(IssuerOptions{Directory: f.dir, Clock: f.clk, BaseURL: testBase, Key: k})
	if err != nil {
		t.Fatal(err)
	}
	f.val = NewValidator(ValidatorOptions{Issuer: f.iss, Directory: f.dir, Clock: f.clk})
	return f
}

func (f *fixture) appToken(t testing.TB) string {
	t.Helper()
	tok, err := f.iss.AppToken(directory.DemoDaemonClientID)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *fixture) userToken(t testing.TB, user string, scopes ...string) string {
	t.Helper()
	tok, err := f.iss.UserToken(directory.DemoClientID, user, scopes)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// decode returns the header and claims of a compact token, unverified.
func decode(t testing.TB, tok string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", tok)
	}
	var h, c map[string]any
	for i, dst := range []*map[string]any{&h, &c} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return h, c
}

// resign signs claims (taken from tok, changed by mutate) with key and kid.
func resign(t testing.TB, tok string, key *rsa.PrivateKey, kid string, mutate func(map[string]any)) string {
	t.Helper()
	_, c := decode(t, tok)
	if mutate != nil {
		mutate(c)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	h := jws.NewHeaders()
	_ = h.Set(jws.KeyIDKey, kid)
	_ = h.Set(jws.TypeKey, "JWT")
	out, err := jws.Sign(payload, jws.WithKey(jwa.RS256(), key, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// rawToken builds header.payload.signature from raw parts.
func rawToken(header, claims any, sig []byte) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(claims) + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// wantErr checks that err is a *presence.Error with code and a message
// containing every |-separated part of want.
func wantErr(t testing.TB, err error, code presence.Code, want string) {
	t.Helper()
	pe, ok := err.(*presence.Error)
	if !ok {
		t.Fatalf("error %T %v, want *presence.Error %s", err, err, code)
	}
	if pe.Code != code {
		t.Errorf("code %s, want %s (%s)", pe.Code, code, pe.Message)
	}
	for _, w := range strings.Split(want, "|") {
		if !strings.Contains(pe.Message, w) {
			t.Errorf("message %q lacks %q", pe.Message, w)
		}
	}
}
