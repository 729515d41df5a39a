package auth

import (
	"net/http"
	"testing"
)

// TestUserRealm: MSAL's question before a password grant
// (GET https://{authority host}/common/UserRealm/{username}?api-version=1.0)
// is answered as Entra answers it for a managed domain — with what MSAL
// checks (account_type, domain_name, cloud_instance_name,
// cloud_audience_urn) — and alike for every name, known or not: it tells
// nothing of who exists. It was 404, so azidentity's
// UsernamePasswordCredential could not sign in.
func TestUserRealm(t *testing.T) {
	h := newHTTPFixture(t)
	for _, c := range []struct{ user, domain string }{
		{"adele@contoso.dev", "contoso.dev"},
		{"nobody@nowhere.example", "nowhere.example"},
		{"no-at-sign", "no-at-sign"},
	} {
		req, _ := http.NewRequest("GET", h.srv.URL+"/common/UserRealm/"+c.user+"?api-version=1.0", nil)
		r := h.do(t, req)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", c.user, r.status, r.raw)
		}
		want := map[string]string{"ver": "1.0", "account_type": "Managed", "domain_name": c.domain,
			"cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": "urn:federation:MicrosoftOnline"}
		for k, v := range want {
			if r.body[k] != v {
				t.Errorf("%s: %s = %v, want %s (%s)", c.user, k, r.body[k], v, r.raw)
			}
		}
		if len(r.body) != len(want) {
			t.Errorf("%s: %s", c.user, r.raw)
		}
	}
	req, _ := http.NewRequest("POST", h.srv.URL+"/common/UserRealm/adele@contoso.dev", nil)
	checkOAuthError(t, h.do(t, req), 405, "invalid_request", 900561, "only accepts GET")
}
