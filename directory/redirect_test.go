package directory

import (
	"strings"
	"testing"
)

func TestRedirectURIRules(t *testing.T) {
	withApp := func(a App) error {
		tenants, users, apps := DemoData()
		a.ClientID, a.TenantID, a.Name = "0c8e0f44-5a0b-4a8b-9b1e-4f9a1b2c3d4e", DemoTenantID, "app"
		_, err := New(tenants, users, append(apps, a))
		return err
	}
	for _, tc := range []struct {
		name string
		app  App
		bad  string // a word of the error; "" accepted
	}{
		{"an https web redirect URI", App{Secret: "s", RedirectURIs: []string{"https://app.example/signin"}}, ""},
		{"http on localhost", App{Secret: "s", RedirectURIs: []string{"http://localhost:3000/cb"}}, ""},
		{"http on 127.0.0.1 for a SPA", App{Public: true, SPARedirectURIs: []string{"http://127.0.0.1/"}}, ""},
		{"a native app's own scheme on a public client", App{Public: true, RedirectURIs: []string{"com.example.app://auth"}}, ""},
		{"http on another host", App{Secret: "s", RedirectURIs: []string{"http://app.example/cb"}}, "loopback"},
		{"an own scheme on a confidential client", App{Secret: "s", RedirectURIs: []string{"com.example.app://auth"}}, "only public clients"},
		{"an own scheme as a SPA", App{Public: true, SPARedirectURIs: []string{"com.example.app://auth"}}, "single-page"},
		{"a fragment", App{Public: true, SPARedirectURIs: []string{"https://app.example/#x"}}, "fragment"},
		{"a wildcard", App{Secret: "s", RedirectURIs: []string{"https://*.example/"}}, "wildcard"},
		{"a relative URI", App{Secret: "s", RedirectURIs: []string{"/cb"}}, "absolute"},
		{"too long", App{Secret: "s", RedirectURIs: []string{"https://app.example/" + strings.Repeat("a", 300)}}, "256"},
		{"twice", App{Secret: "s", RedirectURIs: []string{"https://a.example/", "https://a.example/"}}, "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := withApp(tc.app)
			switch {
			case tc.bad == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
				t.Fatalf("err = %v; want one saying %q", err, tc.bad)
			}
		})
	}
}

func TestRedirectURIMatching(t *testing.T) {
	a := App{RedirectURIs: []string{"https://app.example/cb", "http://localhost/cb"}, SPARedirectURIs: []string{"http://127.0.0.1/"}}
	for _, tc := range []struct {
		given string
		kind  RedirectKind
		ok    bool
	}{
		{"https://app.example/cb", RedirectWeb, true},
		{"https://app.example/cb/", 0, false},
		{"https://app.example/CB", 0, false},
		{"https://app.example:8443/cb", 0, false},
		{"https://app.example/cb?x=1", 0, false},
		{"http://app.example/cb", 0, false},
		{"http://localhost:51234/cb", RedirectWeb, true}, // loopback: any port
		{"http://localhost:51234/other", 0, false},
		{"http://127.0.0.1:8080/", RedirectSPA, true},
		{"http://127.0.0.1:8080/#x", 0, false},
		{"http://user@127.0.0.1:8080/", 0, false},
		{"https://127.0.0.1:8080/", 0, false},
	} {
		kind, ok := a.RedirectURI(tc.given)
		if kind != tc.kind || ok != tc.ok {
			t.Errorf("RedirectURI(%q) = %v, %v; want %v, %v", tc.given, kind, ok, tc.kind, tc.ok)
		}
	}
}
