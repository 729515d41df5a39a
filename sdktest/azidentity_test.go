package sdktest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	azauth "github.com/microsoft/kiota-authentication-azure-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/presenced/presenced/directory"
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
	e, transport := startTLS(t)

	cred, err := azidentity.NewClientSecretCredential(directory.DemoTenantID, directory.DemoDaemonClientID, directory.DemoDaemonSecret,
		&azidentity.ClientSecretCredentialOptions{
			ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: e.srv.URL() + "/"}, Transport: &http.Client{Transport: transport}},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		t.Fatal(err)
	}
	app := azidentityClient(t, e, transport, cred)

	c := ctx(t)
	setAndRead(t, c, app, e.user("adele"), directory.DemoDaemonClientID, "with azidentity's token")
}

// TestSDKWithAzidentityUsernamePassword: a signed-in user's client as
// Microsoft's docs write it for the username/password provider (azidentity's
// UsernamePasswordCredential, the demo's public client), against the
// built-in issuer over https: its own presence, and a presence subscription
// (Graph takes those from signed-in users only). MSAL asks
// GET /common/UserRealm/{username} before the password grant; presenced
// answered 404 there, and the credential never got to the token endpoint.
func TestSDKWithAzidentityUsernamePassword(t *testing.T) {
	e, transport := startTLS(t)
	// Deprecated by Microsoft (ROPC), still documented; presenced serves the password grant.
	cred, err := azidentity.NewUsernamePasswordCredential(directory.DemoTenantID, directory.DemoClientID, "adele@contoso.dev", directory.DemoPassword,
		&azidentity.UsernamePasswordCredentialOptions{
			ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: e.srv.URL() + "/"}, Transport: &http.Client{Transport: transport}},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		t.Fatal(err)
	}
	me := azidentityClient(t, e, transport, cred)
	c := ctx(t)
	p, err := me.Me().Presence().Get(c, nil)
	if err != nil {
		t.Fatalf("GET /me/presence with azidentity's user token: %v", err)
	}
	if deref(p.GetId()) != e.user("adele") {
		t.Fatalf("/me/presence is %q's", deref(p.GetId()))
	}

	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, tok)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer rc.Close()
	sub := models.NewSubscription()
	sub.SetChangeType(ptr("updated"))
	sub.SetNotificationUrl(ptr(rc.URL + "/notify"))
	sub.SetResource(ptr("/communications/presences/" + e.user("alex")))
	exp := e.srv.Clock().Now().Add(45 * time.Minute).Truncate(time.Second)
	sub.SetExpirationDateTime(&exp)
	created, err := me.Subscriptions().Post(c, sub, nil)
	if err != nil {
		t.Fatalf("subscribe with azidentity's user token: %v", err)
	}
	if err := me.Subscriptions().BySubscriptionId(deref(created.GetId())).Delete(c, nil); err != nil {
		t.Fatalf("delete the subscription: %v", err)
	}
}

// azidentityClient is the Graph client over an azidentity credential as
// Microsoft's docs build it, with the settings presenced needs: the
// server's host among the provider's valid hosts, its base URL, and a
// transport that trusts its certificate.
func azidentityClient(t *testing.T, e *env, transport *http.Transport, cred azcore.TokenCredential) *msgraphsdk.GraphServiceClient {
	t.Helper()
	host, _ := url.Parse(e.srv.URL())
	auth, err := azauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred,
		[]string{"https://graph.microsoft.com/.default"}, []string{host.Hostname()})
	if err != nil {
		t.Fatal(err)
	}
	return clientOver(t, e, transport, auth)
}
