package sdktest

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	azauth "github.com/microsoft/kiota-authentication-azure-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/testcert"
	"github.com/presenced/presenced/internal/testidp"
)

const orgApp = "0e0e0e0e-1111-4222-8333-000000000003"

// TestSDKWithTheOrganisationsIssuer: an application written for Microsoft
// Graph — msgraph-sdk-go with azidentity's client credentials, as
// Microsoft's samples write it — works against presenced unchanged but for
// two settings: the base URL (presenced's) and the scope (the API
// registered in the organisation's identity provider, api://presenced,
// instead of https://graph.microsoft.com). The identity provider is a real
// issuer started for the test (https, its own keys and discovery
// document); azidentity signs in to it as to Entra ID, and presenced
// trusts it for Contoso.
func TestSDKWithTheOrganisationsIssuer(t *testing.T) {
	now := time.Now()
	ca := testcert.NewCA(t, now)
	pair := ca.Issue(t, now, 7)
	cert, err := tls.X509KeyPair(pair.Cert, pair.Key)
	if err != nil {
		t.Fatal(err)
	}
	idp := testidp.Start(t, testidp.Options{Tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47", TLS: &tls.Config{Certificates: []tls.Certificate{cert}},
		Clients: map[string]testidp.Client{orgApp: {Secret: "org-secret", Roles: []string{"Presence.ReadWrite.All"}}}})

	f := directory.DemoFile(0)
	f.Tenants[0].Issuers = []directory.Issuer{{Issuer: idp.Issuer(), Audiences: []string{"api://presenced"}}}
	e := startConfigured(t, func(c *presenced.Config) { c.Dev, c.Directory, c.IssuerCAFile = false, f, ca.Write(t, t.TempDir()) })

	// The application, as written for Graph: only the two settings differ.
	trustCA := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	cred, err := azidentity.NewClientSecretCredential(idp.Tenant, orgApp, "org-secret", &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: idp.URL() + "/"}, Transport: trustCA},
		DisableInstanceDiscovery: true, // an authority other than Microsoft's
	})
	if err != nil {
		t.Fatal(err)
	}
	host, _ := url.Parse(e.srv.URL())
	auth, err := azauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{"api://presenced/.default"}, []string{host.Hostname()})
	if err != nil {
		t.Fatal(err)
	}
	adapter, err := msgraphsdk.NewGraphRequestAdapter(auth)
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(e.srv.URL() + "/v1.0")
	client := msgraphsdk.NewGraphServiceClient(adapter)

	c := ctx(t)
	setAndRead(t, c, client, e.user("adele"), orgApp, "with the organisation's token")
	if idp.Requests("token") != 1 {
		t.Errorf("azidentity asked the issuer for %d tokens, want 1 (it caches)", idp.Requests("token"))
	}
}
