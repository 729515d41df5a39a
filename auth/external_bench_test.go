package auth

import (
	"context"
	"testing"

	"github.com/presenced/presenced/directory"
)

// BenchmarkValidateFull compares the full check of a token — what a
// request with a token not seen before costs, the validated-token cache
// aside — from the built-in issuer and from an external issuer whose key
// is cached: both one RSA-2048 signature and the claims.
//
//	go test -run '^$' -bench ValidateFull -count 6 ./auth/
func BenchmarkValidateFull(b *testing.B) {
	x := newExtFixtureB(b)
	iss, err := NewIssuer(IssuerOptions{Directory: x.store.Directory(), Clock: x.clk, BaseURL: testBase})
	if err != nil {
		b.Fatal(err)
	}
	v := NewValidator(ValidatorOptions{Issuer: iss, Directory: x.store.Directory(), Clock: x.clk})
	builtin, _ := iss.UserToken(directory.DemoClientID, directory.DemoUserAdele, nil)
	external := x.idp.Mint(map[string]any{"aud": "api://presenced", "azp": extApp, "oid": directory.DemoUserAdele, "scp": "Presence.Read.All"})
	if _, err := x.ext.Validate(external); err != nil { // the key is fetched once, here
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("builtin", func(b *testing.B) {
		for b.Loop() {
			if _, _, _, err := v.validate(builtin); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("external-cached-key", func(b *testing.B) {
		for b.Loop() {
			if _, _, _, err := x.ext.check(ctx, external, x.clk.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
