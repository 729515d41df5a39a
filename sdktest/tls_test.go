package sdktest

import (
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/kiota-abstractions-go/authentication"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/testcert"
)

// TestSDKOverHTTPS drives a server that speaks TLS with the official SDK:
// the SDK's own middleware over a transport that trusts the server's CA
// (as an application with a private CA configures it), the token from the
// https issuer.
func TestSDKOverHTTPS(t *testing.T) {
	e, transport := startTLS(t)
	auth := e.appAuth()
	auth.client = &http.Client{Transport: transport, Timeout: 10 * time.Second}

	app := clientOver(t, e, transport, auth)

	c := ctx(t)
	setAndRead(t, c, app, e.user("adele"), directory.DemoDaemonClientID, "over https")
	p, err := app.Communications().Presences().ByPresenceId("adele@contoso.dev").Get(c, nil)
	if err != nil {
		t.Fatalf("GET communications/presences over https: %v", err)
	}
	wantPair(t, "GET communications over https", p, "Busy", "InACall")
}

// startTLS starts a server that speaks TLS with a certificate of a test
// CA, and a transport that trusts that CA (as an application with a
// private CA configures it).
func startTLS(t *testing.T) (*env, *http.Transport) {
	t.Helper()
	now := time.Now()
	ca := testcert.NewCA(t, now)
	certFile, keyFile := testcert.Write(t, t.TempDir(), ca.Issue(t, now, 1))
	e := startConfigured(t, func(c *presenced.Config) { c.TLSCertFile, c.TLSKeyFile = certFile, keyFile })
	if !strings.HasPrefix(e.srv.URL(), "https://") {
		t.Fatalf("URL %s", e.srv.URL())
	}
	return e, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}
}

// setAndRead sets user's presence to Busy/InACall through app, as session
// session, and reads it back: the round trip that shows a client works
// (how names the client, for the failure).
func setAndRead(t *testing.T, c context.Context, app *msgraphsdk.GraphServiceClient, user, session, how string) {
	t.Helper()
	if err := app.Users().ByUserId(user).Presence().SetPresence().Post(c,
		usersSetPresence(session, "Busy", "InACall", isoDuration(t, time.Hour, "PT1H")), nil); err != nil {
		t.Fatalf("setPresence %s: %v", how, err)
	}
	p, err := app.Users().ByUserId(user).Presence().Get(c, nil)
	if err != nil {
		t.Fatalf("GET presence %s: %v", how, err)
	}
	wantPair(t, "GET presence "+how, p, "Busy", "InACall")
}

// clientOver is the Graph client as the SDK's docs build it — its default
// middleware over transport (one that trusts the server's certificate) —
// with auth as its authentication provider and e's server as its base URL.
func clientOver(t *testing.T, e *env, transport http.RoundTripper, auth authentication.AuthenticationProvider) *msgraphsdk.GraphServiceClient {
	t.Helper()
	opts := msgraphsdk.GetDefaultClientOptions()
	client := msgraphcore.GetDefaultClient(&opts)
	client.Transport = khttp.NewCustomTransportWithParentTransport(transport, msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)...)
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, client)
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(e.srv.URL() + "/v1.0")
	return msgraphsdk.NewGraphServiceClient(adapter)
}
