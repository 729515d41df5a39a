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
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/testcert"
)

// TestSDKWithAzidentityAndTheBuiltInIssuer: the application as Microsoft's
// Graph SDK docs write it — azidentity's client-secret credential and the
// Azure authentication provider — against presenced's own issuer, over
// https (azidentity refuses an http authority). What differs from Graph:
// the authority host and the base URL (presenced's), instance discovery
// off (it asks login.microsoftonline.com), and presenced's host among the
// provider's valid hosts (by default it sends tokens to Graph's alone).
//
// MSAL, under azidentity, asks "…/.default openid offline_access profile"
// on every client-credentials request; the built-in issuer refused that
// (AADSTS1002012) where Entra ignores the OpenID scopes.
func TestSDKWithAzidentityAndTheBuiltInIssuer(t *testing.T) {
	now := time.Now()
	ca := testcert.NewCA(t, now)
	certFile, keyFile := testcert.Write(t, t.TempDir(), ca.Issue(t, now, 1))
	e := startConfigured(t, func(c *presenced.Config) { c.TLSCertFile, c.TLSKeyFile = certFile, keyFile })
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}

	cred, err := azidentity.NewClientSecretCredential(directory.DemoTenantID, directory.DemoDaemonClientID, directory.DemoDaemonSecret,
		&azidentity.ClientSecretCredentialOptions{
			ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: e.srv.URL() + "/"}, Transport: &http.Client{Transport: transport}},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		t.Fatal(err)
	}
	host, _ := url.Parse(e.srv.URL())
	auth, err := azauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred,
		[]string{"https://graph.microsoft.com/.default"}, []string{host.Hostname()})
	if err != nil {
		t.Fatal(err)
	}
	opts := msgraphsdk.GetDefaultClientOptions()
	client := msgraphcore.GetDefaultClient(&opts)
	client.Transport = khttp.NewCustomTransportWithParentTransport(transport, msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)...)
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, client)
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(e.srv.URL() + "/v1.0")
	app := msgraphsdk.NewGraphServiceClient(adapter)

	c := ctx(t)
	adele := e.user("adele")
	if err := app.Users().ByUserId(adele).Presence().SetPresence().Post(c,
		usersSetPresence(directory.DemoDaemonClientID, "Busy", "InACall", isoDuration(t, time.Hour, "PT1H")), nil); err != nil {
		t.Fatalf("setPresence with azidentity's token: %v", err)
	}
	p, err := app.Users().ByUserId(adele).Presence().Get(c, nil)
	if err != nil {
		t.Fatalf("GET presence with azidentity's token: %v", err)
	}
	wantPair(t, "GET presence", p, "Busy", "InACall")
}
