package presenced_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/testidp"
)

const idpApp = "0e0e0e0e-1111-4222-8333-000000000002"

// A tenant that trusts its own identity provider: an application's token
// from that provider, for api://presenced, reads and writes presence with
// the app roles the provider put in it, and a user's token reads /me —
// against a running server, the provider a real issuer of its own.
func TestOrganisationsOwnIssuer(t *testing.T) {
	fake := clock.NewFake(t0) // the provider's clock is the server's
	idp := testidp.Start(t, testidp.Options{Tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47", Now: fake.Now,
		Clients: map[string]testidp.Client{idpApp: {Secret: "idp-secret", Roles: []string{"Presence.ReadWrite.All"}}}})
	f := directory.DemoFile(0)
	f.Tenants[0].Issuers = []directory.Issuer{{Issuer: idp.Issuer(), Audiences: []string{"api://presenced"}}}
	e := &env{t: t, fake: fake, dir: t.TempDir(), addr: "127.0.0.1:0", d: f}
	e.boot()

	resp, err := http.PostForm(idp.URL()+"/"+idp.Tenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {idpApp}, "client_secret": {"idp-secret"}, "scope": {"api://presenced/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	app := body.AccessToken
	adele := e.user("adele")
	e.must("POST", "/v1.0/users/"+adele+"/presence/setPresence", app, setBodyFor(idpApp, "Busy", "InACall"))
	if got := pair(e.get(app, adele)); got != "Busy/InACall" {
		t.Fatalf("read with the provider's token: %s", got)
	}
	user := idp.Mint(map[string]any{"aud": "api://presenced", "azp": idpApp, "oid": adele, "scp": "Presence.Read User.Read"})
	if r := e.call("GET", "/v1.0/me/presence", user, nil); r.status != 200 || pair(r) != "Busy/InACall" {
		t.Fatalf("/me with the provider's user token: %d %s", r.status, r.raw)
	}
	if r := e.call("GET", "/v1.0/users/"+e.user("alex")+"/presence", user, nil); r.status != 403 {
		t.Fatalf("another user with Presence.Read only: %d %s", r.status, r.raw)
	}
	// Another tenant's provider is not Contoso's: Fabrikam trusts none.
	other := idp.Mint(map[string]any{"aud": "api://presenced", "azp": idpApp, "idtyp": "app", "roles": []string{"Presence.Read.All"}, "iss": "https://login.microsoftonline.com/" + directory.DemoFabrikamTenantID + "/v2.0"})
	if r := e.call("GET", "/v1.0/users/"+adele+"/presence", other, nil); r.status != 401 {
		t.Fatalf("an issuer nobody trusts: %d %s", r.status, r.raw)
	}
}
