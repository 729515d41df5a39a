// Package sdktest drives presenced with Microsoft's official Graph SDK for Go
// (github.com/microsoftgraph/msgraph-sdk-go): if the SDK can call every
// presence method and parse every answer, real applications can too.
//
// It is its own module so that the SDK (hundreds of thousands of generated
// lines, minutes to compile) stays out of the server's go.mod. Run it with
//
//	cd sdktest && go test -count=1 ./...
//
// (no -race: the SDK makes that slow for no gain here).
package sdktest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/authentication"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/communications"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/natsstore"
)

// env is one server in dev mode (demo directory), started for one test.
type env struct {
	t   *testing.T
	srv *presenced.Server
}

func start(t *testing.T) *env {
	t.Helper()
	return startConfigured(t, func(*presenced.Config) {})
}

// clusterPass is PRESENCED_TEST_ENGINE=cluster: each test's server is the
// third node of a three-node cluster whose two others are engine-only,
// with 3 replicas and 3 partitions (as in the server's own suites).
var clusterPass = enginetest.ClusterPass()

// The SDK's tests again against a clustered engine (TestClusterPass in the
// server's suites does the same for the API tests).
func TestClusterPass(t *testing.T) { enginetest.RunClusterPass(t, ".") }

// startConfigured is start with the test's changes to the Config.
func startConfigured(t *testing.T, edit func(*presenced.Config)) *env {
	t.Helper()
	cfg := presenced.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Dev: true}
	peersUp := func() {}
	if clusterPass {
		peers, j := enginetest.StartPeers(t, 2, natsstore.Options{})
		peersUp = peers.Wait
		cfg.Partitions = 3
		cfg.Cluster = &presenced.ClusterConfig{NodeName: j.NodeName, ClusterName: j.ClusterName, ClusterListen: j.Listen, Routes: j.Routes}
	}
	edit(&cfg)
	srv, err := presenced.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A node of a cluster waits in Start for its peers: bounded. The
	// context is not ended once Start returns (the server's watches of
	// the engine begin under it), but at the test's end.
	ctx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(enginetest.StartTimeout, cancel)
	t.Cleanup(cancel)
	err = srv.Start(ctx)
	timer.Stop()
	if err != nil {
		t.Fatal(err)
	}
	peersUp()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &env{t: t, srv: srv}
}

// user returns the object id of a demo user ("adele" → adele@contoso.dev).
func (e *env) user(name string) string {
	e.t.Helper()
	u, ok := e.srv.Directory().User(name + "@contoso.dev")
	if !ok {
		e.t.Fatalf("no demo user %s@contoso.dev", name)
	}
	return u.ID
}

// tokenProvider is a kiota AuthenticationProvider over the server's built-in
// issuer. It fetches a token with a plain form POST to
// {URL}/{tenant}/oauth2/v2.0/token, the same request MSAL sends.
//
// Why not azidentity (ClientSecretCredential, UsernamePasswordCredential)
// with kiota-authentication-azure-go, as Microsoft's samples do? azidentity
// insists on an https authority host and runs instance discovery against it,
// and the dev server speaks plain http on 127.0.0.1. Graph applications are
// free to bring their own provider; this is the smallest one.
type tokenProvider struct {
	tokenURL string
	form     url.Values
	client   *http.Client // nil: http.DefaultClient

	mu      sync.Mutex
	token   string
	expires time.Time
}

var _ authentication.AuthenticationProvider = (*tokenProvider)(nil)

func (p *tokenProvider) AuthenticateRequest(ctx context.Context, req *abstractions.RequestInformation, _ map[string]any) error {
	tok, err := p.get(ctx)
	if err != nil {
		return err
	}
	req.Headers.Add("Authorization", "Bearer "+tok)
	return nil
}

func (p *tokenProvider) get(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.token != "" && time.Now().Before(p.expires) {
		return p.token, nil
	}
	req, err := http.NewRequestWithContext(ctx, "POST", p.tokenURL, strings.NewReader(p.form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hc := p.client
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var body struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if res.StatusCode != http.StatusOK || json.Unmarshal(raw, &body) != nil || body.AccessToken == "" {
		return "", errors.New("token endpoint: " + res.Status + ": " + string(raw))
	}
	if !strings.EqualFold(body.TokenType, "Bearer") {
		return "", errors.New("token endpoint: token_type is " + body.TokenType + ", want Bearer")
	}
	p.token = body.AccessToken
	// Refresh a minute early, as MSAL does.
	p.expires = time.Now().Add(time.Duration(body.ExpiresIn)*time.Second - time.Minute)
	return p.token, nil
}

func (e *env) tokenURL() string {
	return e.srv.URL() + "/" + directory.DemoTenantID + "/oauth2/v2.0/token"
}

// appAuth is the demo daemon (client credentials, Presence.ReadWrite.All).
func (e *env) appAuth() *tokenProvider {
	return &tokenProvider{tokenURL: e.tokenURL(), form: url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {directory.DemoDaemonClientID},
		"client_secret": {directory.DemoDaemonSecret},
		"scope":         {"https://graph.microsoft.com/.default"},
	}}
}

// userAuth is a demo user signed in to the demo public client (delegated
// Presence.Read Presence.Read.All Presence.ReadWrite).
func (e *env) userAuth(name string) *tokenProvider {
	return &tokenProvider{tokenURL: e.tokenURL(), form: url.Values{
		"grant_type": {"password"},
		"client_id":  {directory.DemoClientID},
		"username":   {name + "@contoso.dev"},
		"password":   {directory.DemoPassword},
		"scope":      {"https://graph.microsoft.com/.default"},
	}}
}

// client builds a GraphServiceClient against the server under version
// ("v1.0" or "beta"), exactly as an application would, with the SDK's
// default middleware: retry, redirect, request-body compression (gzip),
// user agent, telemetry, /users/me-token-to-replace → /me.
//
// PRESENCED_SDKTEST_NOGZIP=1 turns the SDK's gzip request compression off.
// It exists only to tell a server that mishandles Content-Encoding: gzip
// apart from other failures; the tests must pass without it.
func (e *env) client(auth authentication.AuthenticationProvider, version string) *msgraphsdk.GraphServiceClient {
	e.t.Helper()
	return e.clientGzip(auth, version, os.Getenv("PRESENCED_SDKTEST_NOGZIP") != "1")
}

func (e *env) clientGzip(auth authentication.AuthenticationProvider, version string, gzip bool) *msgraphsdk.GraphServiceClient {
	e.t.Helper()
	var adapter *msgraphsdk.GraphRequestAdapter
	var err error
	if !gzip {
		opts := msgraphsdk.GetDefaultClientOptions()
		mws := msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)
		for i, m := range mws {
			if _, ok := m.(*khttp.CompressionHandler); ok {
				mws[i] = khttp.NewCompressionHandlerWithOptions(*khttp.NewCompressionOptionsReference(false))
			}
		}
		adapter, err = msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
			auth, nil, nil, msgraphcore.GetDefaultClient(&opts, mws...))
	} else {
		adapter, err = msgraphsdk.NewGraphRequestAdapter(auth)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	adapter.SetBaseUrl(e.srv.URL() + "/" + version)
	return msgraphsdk.NewGraphServiceClient(adapter)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func ptr[T any](v T) *T { return &v }

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// wantPair checks a presence's availability and activity.
func wantPair(t *testing.T, what string, p models.Presenceable, avail, act string) {
	t.Helper()
	if p == nil {
		t.Fatalf("%s: no presence", what)
	}
	if got := deref(p.GetAvailability()) + "/" + deref(p.GetActivity()); got != avail+"/"+act {
		t.Errorf("%s: presence %s, want %s/%s", what, got, avail, act)
	}
}

// wantNewer checks that sequenceNumber moved forward (Graph: it sorts
// lexicographically in the order of changes).
func wantNewer(t *testing.T, what string, before, after models.Presenceable) {
	t.Helper()
	b, a := deref(before.GetSequenceNumber()), deref(after.GetSequenceNumber())
	if !(a > b) {
		t.Errorf("%s: sequenceNumber %q is not after %q", what, a, b)
	}
}

// wantODataError checks that err is the SDK's *odataerrors.ODataError with
// the given status and Graph error code ("" = any code: Graph documents
// none for that case), and returns it.
func wantODataError(t *testing.T, what string, err error, status int, code string) *odataerrors.ODataError {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %d %s", what, status, code)
	}
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		t.Fatalf("%s: error %T (%v), want *odataerrors.ODataError", what, err, err)
	}
	main := oe.GetErrorEscaped()
	if main == nil {
		t.Fatalf("%s: ODataError with status %d has no error body", what, oe.GetStatusCode())
	}
	if oe.GetStatusCode() != status || (code != "" && deref(main.GetCode()) != code) {
		t.Errorf("%s: %d %s (%s), want %d %s", what, oe.GetStatusCode(), deref(main.GetCode()), deref(main.GetMessage()), status, code)
	}
	if deref(main.GetMessage()) == "<nil>" || *main.GetMessage() == "" {
		t.Errorf("%s: error has no message", what)
	}
	if in := main.GetInnerError(); in == nil || deref(in.GetRequestId()) == "<nil>" || in.GetDate() == nil {
		t.Errorf("%s: innerError lacks request-id or date: %+v", what, in)
	}
	return oe
}

// isoDuration builds the SDK's duration value and checks the string the SDK
// puts on the wire.
func isoDuration(t *testing.T, d time.Duration, wire string) *serialization.ISODuration {
	t.Helper()
	v := serialization.FromDuration(d)
	if v.String() != wire {
		t.Fatalf("the SDK writes %v as %q, want %q", d, v.String(), wire)
	}
	return v
}

func usersSetPresence(sessionID, avail, act string, exp *serialization.ISODuration) *users.ItemPresenceSetPresencePostRequestBody {
	b := users.NewItemPresenceSetPresencePostRequestBody()
	b.SetSessionId(&sessionID)
	b.SetAvailability(&avail)
	b.SetActivity(&act)
	if exp != nil {
		b.SetExpirationDuration(exp)
	}
	return b
}

// TestGetPresence reads a fresh user's presence through the three paths
// Graph offers, and checks the SDK parses every property.
func TestGetPresence(t *testing.T) {
	e := start(t)
	c := ctx(t)
	adele := e.user("adele")
	app := e.client(e.appAuth(), "v1.0")
	me := e.client(e.userAuth("adele"), "v1.0")

	check := func(what string, p models.Presenceable, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		wantPair(t, what, p, "Offline", "Offline")
		if got := deref(p.GetId()); !strings.EqualFold(got, adele) {
			t.Errorf("%s: id %s, want %s", what, got, adele)
		}
		if deref(p.GetSequenceNumber()) == "<nil>" || *p.GetSequenceNumber() == "" {
			t.Errorf("%s: sequenceNumber is empty", what)
		}
		oof := p.GetOutOfOfficeSettings()
		if oof == nil || oof.GetIsOutOfOffice() == nil || *oof.GetIsOutOfOffice() {
			t.Errorf("%s: outOfOfficeSettings %+v, want isOutOfOffice false", what, oof)
		}
		if sm := p.GetStatusMessage(); sm != nil {
			t.Errorf("%s: statusMessage %+v, want none", what, sm)
		}
	}
	p, err := me.Me().Presence().Get(c, nil)
	check("GET /me/presence", p, err)
	p, err = app.Users().ByUserId(adele).Presence().Get(c, nil)
	check("GET /users/{id}/presence", p, err)
	p, err = app.Communications().Presences().ByPresenceId(adele).Get(c, nil)
	check("GET /communications/presences/{id}", p, err)
	// presenced also accepts a userPrincipalName where Graph wants the id.
	p, err = app.Users().ByUserId("adele@contoso.dev").Presence().Get(c, nil)
	check("GET /users/{upn}/presence", p, err)
}

// TestSetAndClearPresence writes a session through the users path and the
// communications path, then clears it.
func TestSetAndClearPresence(t *testing.T) {
	e := start(t)
	c := ctx(t)
	adele := e.user("adele")
	app := e.client(e.appAuth(), "v1.0")
	sid := directory.DemoDaemonClientID

	p0, err := app.Users().ByUserId(adele).Presence().Get(c, nil)
	if err != nil {
		t.Fatal(err)
	}

	// users path, an hour.
	err = app.Users().ByUserId(adele).Presence().SetPresence().Post(c,
		usersSetPresence(sid, "Busy", "InACall", isoDuration(t, time.Hour, "PT1H")), nil)
	if err != nil {
		t.Fatalf("setPresence (users path): %v", err)
	}
	p1, err := app.Users().ByUserId(adele).Presence().Get(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantPair(t, "after setPresence Busy/InACall", p1, "Busy", "InACall")
	wantNewer(t, "after setPresence", p0, p1)

	// communications path, same session, 90 minutes.
	b := communications.NewPresencesItemSetPresencePostRequestBody()
	b.SetSessionId(&sid)
	b.SetAvailability(ptr("DoNotDisturb"))
	b.SetActivity(ptr("Presenting"))
	b.SetExpirationDuration(isoDuration(t, 90*time.Minute, "PT1H30M"))
	if err := app.Communications().Presences().ByPresenceId(adele).SetPresence().Post(c, b, nil); err != nil {
		t.Fatalf("setPresence (communications path): %v", err)
	}
	p2, err := app.Communications().Presences().ByPresenceId(adele).Get(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantPair(t, "after setPresence DoNotDisturb/Presenting", p2, "DoNotDisturb", "Presenting")
	wantNewer(t, "after the second setPresence", p1, p2)

	// Without expirationDuration (the server's default applies).
	if err := app.Users().ByUserId(adele).Presence().SetPresence().Post(c,
		usersSetPresence(sid+":laptop", "Away", "Away", nil), nil); err != nil {
		t.Fatalf("setPresence without expirationDuration: %v", err)
	}

	// clearPresence through the communications path, then the users path.
	cb := communications.NewPresencesItemClearPresencePostRequestBody()
	cb.SetSessionId(&sid)
	if err := app.Communications().Presences().ByPresenceId(adele).ClearPresence().Post(c, cb, nil); err != nil {
		t.Fatalf("clearPresence (communications path): %v", err)
	}
	p3, err := app.Users().ByUserId(adele).Presence().Get(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantPair(t, "after clearing one of two sessions", p3, "Away", "Away")
	wantNewer(t, "after clearPresence", p2, p3)

	ub := users.NewItemPresenceClearPresencePostRequestBody()
	ub.SetSessionId(ptr(sid + ":laptop"))
	if err := app.Users().ByUserId(adele).Presence().ClearPresence().Post(c, ub, nil); err != nil {
		t.Fatalf("clearPresence (users path): %v", err)
	}
	p4, err := app.Users().ByUserId(adele).Presence().Get(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantPair(t, "after clearing every session", p4, "Offline", "Offline")
	wantNewer(t, "after the last clearPresence", p3, p4)

	// Clearing a session that does not exist: Graph answers 404.
	err = app.Users().ByUserId(adele).Presence().ClearPresence().Post(c, ub, nil)
	wantODataError(t, "clearPresence of a missing session (users path)", err, http.StatusNotFound, "itemNotFound")
	err = app.Communications().Presences().ByPresenceId(adele).ClearPresence().Post(c, cb, nil)
	wantODataError(t, "clearPresence of a missing session (communications path)", err, http.StatusNotFound, "itemNotFound")
}

// TestUserPreferredPresence: a signed-in user's preferred presence beats
// their sessions until cleared.
func TestUserPreferredPresence(t *testing.T) {
	e := start(t)
	c := ctx(t)
	adele := e.user("adele")
	me := e.client(e.userAuth("adele"), "v1.0")
	app := e.client(e.appAuth(), "v1.0")

	// A delegated session: its id is the public client's id.
	if err := me.Me().Presence().SetPresence().Post(c,
		usersSetPresence(directory.DemoClientID, "Available", "Available", isoDuration(t, 4*time.Hour, "PT4H")), nil); err != nil {
		t.Fatalf("setPresence (/me): %v", err)
	}
	p1, err := me.Me().Presence().Get(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantPair(t, "session only", p1, "Available", "Available")

	pb := users.NewItemPresenceSetUserPreferredPresencePostRequestBody()
	pb.SetAvailability(ptr("DoNotDisturb"))
	pb.SetActivity(ptr("DoNotDisturb"))
	pb.SetExpirationDuration(isoDuration(t, 8*time.Hour, "PT8H"))
	if err := me.Me().Presence().SetUserPreferredPresence().Post(c, pb, nil); err != nil {
		t.Fatalf("setUserPreferredPresence (/me): %v", err)
	}
	p2, err := me.Me().Presence().Get(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantPair(t, "preferred over a session", p2, "DoNotDisturb", "DoNotDisturb")
	wantNewer(t, "after setUserPreferredPresence", p1, p2)
	// Everyone sees it, not only the user.
	p, err := app.Users().ByUserId(adele).Presence().Get(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantPair(t, "preferred, read by the app", p, "DoNotDisturb", "DoNotDisturb")

	// Through the users path, for seven days: the SDK writes that as P1W.
	pb2 := users.NewItemPresenceSetUserPreferredPresencePostRequestBody()
	pb2.SetAvailability(ptr("Offline"))
	pb2.SetActivity(ptr("OffWork"))
	pb2.SetExpirationDuration(isoDuration(t, 7*24*time.Hour, "P1W"))
	if err := me.Users().ByUserId(adele).Presence().SetUserPreferredPresence().Post(c, pb2, nil); err != nil {
		t.Fatalf("setUserPreferredPresence (users path, P1W): %v", err)
	}
	p3, err := me.Me().Presence().Get(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantPair(t, "appear offline", p3, "Offline", "OffWork")

	if err := me.Me().Presence().ClearUserPreferredPresence().Post(c, nil); err != nil {
		t.Fatalf("clearUserPreferredPresence (/me): %v", err)
	}
	p4, err := me.Me().Presence().Get(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantPair(t, "after clearUserPreferredPresence", p4, "Available", "Available")
	wantNewer(t, "after clearUserPreferredPresence", p3, p4)

	// And through the users path (nothing to clear: still 200).
	if err := me.Users().ByUserId(adele).Presence().ClearUserPreferredPresence().Post(c, nil); err != nil {
		t.Fatalf("clearUserPreferredPresence (users path): %v", err)
	}
}

// TestStatusMessage sets a status message with and without an expiry; the
// owner sees when it expires and when it was published, others only the text.
func TestStatusMessage(t *testing.T) {
	e := start(t)
	c := ctx(t)
	adele := e.user("adele")
	me := e.client(e.userAuth("adele"), "v1.0")
	app := e.client(e.appAuth(), "v1.0")

	statusBody := func(content string, expiry models.DateTimeTimeZoneable) *users.ItemPresenceSetStatusMessagePostRequestBody {
		msg := models.NewItemBody()
		msg.SetContent(&content)
		msg.SetContentType(ptr(models.TEXT_BODYTYPE))
		sm := models.NewPresenceStatusMessage()
		sm.SetMessage(msg)
		if expiry != nil {
			sm.SetExpiryDateTime(expiry)
		}
		b := users.NewItemPresenceSetStatusMessagePostRequestBody()
		b.SetStatusMessage(sm)
		return b
	}
	ownerRead := func(what string) models.PresenceStatusMessageable {
		t.Helper()
		p, err := me.Me().Presence().Get(c, nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		sm := p.GetStatusMessage()
		if sm == nil || sm.GetMessage() == nil {
			t.Fatalf("%s: no statusMessage.message", what)
		}
		return sm
	}
	appRead := func(what, content string) {
		t.Helper()
		p, err := app.Communications().Presences().ByPresenceId(adele).Get(c, nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		sm := p.GetStatusMessage()
		if sm == nil || sm.GetMessage() == nil {
			t.Fatalf("%s: no statusMessage.message", what)
		}
		if got := deref(sm.GetMessage().GetContent()); got != content {
			t.Errorf("%s: content %q, want %q", what, got, content)
		}
		if sm.GetExpiryDateTime() != nil || sm.GetPublishedDateTime() != nil {
			t.Errorf("%s: a reader other than the owner sees expiryDateTime %v / publishedDateTime %v", what, sm.GetExpiryDateTime(), sm.GetPublishedDateTime())
		}
	}

	// Without expiry, through /me.
	before := time.Now().Add(-2 * time.Second)
	if err := me.Me().Presence().SetStatusMessage().Post(c, statusBody("In a workshop", nil), nil); err != nil {
		t.Fatalf("setStatusMessage (/me): %v", err)
	}
	sm := ownerRead("owner read, no expiry")
	if got := deref(sm.GetMessage().GetContent()); got != "In a workshop" {
		t.Errorf("content %q, want %q", got, "In a workshop")
	}
	if ct := sm.GetMessage().GetContentType(); ct == nil || *ct != models.TEXT_BODYTYPE {
		t.Errorf("contentType %v, want text", ct)
	}
	if sm.GetExpiryDateTime() != nil {
		t.Errorf("expiryDateTime %+v, want none", sm.GetExpiryDateTime())
	}
	pub := sm.GetPublishedDateTime()
	if pub == nil || pub.Before(before) || pub.After(time.Now().Add(2*time.Second)) {
		t.Errorf("publishedDateTime %v, want about now", pub)
	}
	appRead("app read, no expiry", "In a workshop")

	// With expiry, through the users path: tomorrow, Pacific time, with the
	// seven fractional digits Graph's own examples use.
	pst, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	local := time.Now().Add(24 * time.Hour).In(pst).Format("2006-01-02T15:04:05.0000000")
	exp := models.NewDateTimeTimeZone()
	exp.SetDateTime(&local)
	exp.SetTimeZone(ptr("Pacific Standard Time"))
	if err := me.Users().ByUserId(adele).Presence().SetStatusMessage().Post(c, statusBody("Back tomorrow", exp), nil); err != nil {
		t.Fatalf("setStatusMessage with expiryDateTime (users path): %v", err)
	}
	sm = ownerRead("owner read, with expiry")
	if got := deref(sm.GetMessage().GetContent()); got != "Back tomorrow" {
		t.Errorf("content %q, want %q", got, "Back tomorrow")
	}
	if x := sm.GetExpiryDateTime(); x == nil {
		t.Errorf("owner read: no expiryDateTime")
	} else {
		// Graph echoes the zone the caller used; the instant must be the same.
		if tz := deref(x.GetTimeZone()); tz != "Pacific Standard Time" {
			t.Errorf("expiryDateTime.timeZone %q, want %q", tz, "Pacific Standard Time")
		}
		got, err1 := time.ParseInLocation("2006-01-02T15:04:05.9999999", deref(x.GetDateTime()), pst)
		want, _ := time.ParseInLocation("2006-01-02T15:04:05.9999999", local, pst)
		if err1 != nil || !got.Equal(want) {
			t.Errorf("expiryDateTime.dateTime %q, want %q", deref(x.GetDateTime()), local)
		}
	}
	if pub2 := sm.GetPublishedDateTime(); pub2 == nil || (pub != nil && pub2.Before(*pub)) {
		t.Errorf("publishedDateTime %v after a new message, want a time not before %v", pub2, pub)
	}
	appRead("app read, with expiry", "Back tomorrow")
}

// TestGetPresencesByUserID reads several users at once; unknown ids are left
// out rather than failing the batch.
func TestGetPresencesByUserID(t *testing.T) {
	e := start(t)
	c := ctx(t)
	adele, alex, megan := e.user("adele"), e.user("alex"), e.user("megan")
	app := e.client(e.appAuth(), "v1.0")

	if err := app.Users().ByUserId(alex).Presence().SetPresence().Post(c,
		usersSetPresence(directory.DemoDaemonClientID, "Busy", "InAConferenceCall", isoDuration(t, 30*time.Minute, "PT30M")), nil); err != nil {
		t.Fatal(err)
	}
	const unknown = "00000000-0000-4000-8000-0000000000ff"
	body := communications.NewGetPresencesByUserIdPostRequestBody()
	body.SetIds([]string{adele, alex, unknown, "megan@contoso.dev"})
	res, err := app.Communications().GetPresencesByUserId().PostAsGetPresencesByUserIdPostResponse(c, body, nil)
	if err != nil {
		t.Fatalf("getPresencesByUserId: %v", err)
	}
	got := map[string]models.Presenceable{}
	for _, p := range res.GetValue() {
		got[strings.ToLower(deref(p.GetId()))] = p
	}
	if len(res.GetValue()) != 3 || len(got) != 3 {
		ids := []string{}
		for _, p := range res.GetValue() {
			ids = append(ids, deref(p.GetId()))
		}
		t.Fatalf("getPresencesByUserId returned ids %v, want %s, %s, %s", ids, adele, alex, megan)
	}
	for id, pair := range map[string][2]string{adele: {"Offline", "Offline"}, alex: {"Busy", "InAConferenceCall"}, megan: {"Offline", "Offline"}} {
		p, ok := got[strings.ToLower(id)]
		if !ok {
			t.Errorf("getPresencesByUserId: no entry for %s", id)
			continue
		}
		wantPair(t, "getPresencesByUserId "+id, p, pair[0], pair[1])
		if deref(p.GetSequenceNumber()) == "<nil>" {
			t.Errorf("getPresencesByUserId %s: no sequenceNumber", id)
		}
	}
	if _, ok := got[unknown]; ok {
		t.Errorf("getPresencesByUserId: the unknown id is in the answer")
	}

	// The deprecated Post (same wire call, older response type) parses too.
	old, err := app.Communications().GetPresencesByUserId().Post(c, body, nil)
	if err != nil {
		t.Fatalf("getPresencesByUserId (Post): %v", err)
	}
	if len(old.GetValue()) != 3 {
		t.Errorf("getPresencesByUserId (Post): %d values, want 3", len(old.GetValue()))
	}
}

// TestErrors: the SDK surfaces the server's rejections as ODataErrors.
func TestErrors(t *testing.T) {
	e := start(t)
	c := ctx(t)
	adele, alex := e.user("adele"), e.user("alex")
	app := e.client(e.appAuth(), "v1.0")
	me := e.client(e.userAuth("adele"), "v1.0")

	// Busy/Busy is a preferred-presence pair, not a session pair.
	err := app.Users().ByUserId(adele).Presence().SetPresence().Post(c,
		usersSetPresence(directory.DemoDaemonClientID, "Busy", "Busy", nil), nil)
	oe := wantODataError(t, "setPresence Busy/Busy", err, http.StatusBadRequest, "")
	if msg := deref(oe.GetErrorEscaped().GetMessage()); !strings.Contains(msg, "'Busy'") || !strings.Contains(msg, "activity 'Busy'") {
		t.Errorf("setPresence Busy/Busy: message %q does not name the pair", msg)
	}
	p, err := app.Users().ByUserId(adele).Presence().Get(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantPair(t, "after a rejected setPresence", p, "Offline", "Offline")

	// A signed-in user may not write someone else's presence.
	err = me.Users().ByUserId(alex).Presence().SetPresence().Post(c,
		usersSetPresence(directory.DemoClientID, "Available", "Available", nil), nil)
	wantODataError(t, "delegated setPresence on another user", err, http.StatusForbidden, "accessDenied")

	// /me means nothing to an application token.
	_, err = app.Me().Presence().Get(c, nil)
	oe = wantODataError(t, "GET /me/presence with an app token", err, http.StatusBadRequest, "")
	if msg := deref(oe.GetErrorEscaped().GetMessage()); !strings.Contains(msg, "delegated") {
		t.Errorf("/me with an app token: message %q does not say a delegated (signed-in user) token is needed", msg)
	}

	// An unknown user.
	_, err = app.Users().ByUserId("00000000-0000-4000-8000-0000000000ff").Presence().Get(c, nil)
	wantODataError(t, "GET presence of an unknown user", err, http.StatusNotFound, "itemNotFound")

	// An empty user id (a variable never set): the SDK asks for /users//presence. The answer is
	// the server's 400 saying the id is missing, not a redirect the SDK follows to /users/presence
	// (where 'presence' was taken for the id) — for a write too, body and all.
	_, err = app.Users().ByUserId("").Presence().Get(c, nil)
	oe = wantODataError(t, "GET presence of an empty user id", err, http.StatusBadRequest, "invalidRequest")
	if msg := deref(oe.GetErrorEscaped().GetMessage()); !strings.Contains(msg, "/users//presence") || !strings.Contains(msg, "missing") {
		t.Errorf("empty user id: message %q does not say the id is missing from /users//presence", msg)
	}
	err = app.Users().ByUserId("").Presence().SetPresence().Post(c,
		usersSetPresence(directory.DemoDaemonClientID, "Available", "Available", nil), nil)
	wantODataError(t, "setPresence with an empty user id", err, http.StatusBadRequest, "invalidRequest")
}

// TestBeta: the same v1.0 client pointed at /beta reads presence.
func TestBeta(t *testing.T) {
	e := start(t)
	c := ctx(t)
	adele := e.user("adele")
	app := e.client(e.appAuth(), "beta")
	if err := app.Users().ByUserId(adele).Presence().SetPresence().Post(c,
		usersSetPresence(directory.DemoDaemonClientID, "Away", "Away", nil), nil); err != nil {
		t.Fatalf("setPresence (beta): %v", err)
	}
	p, err := app.Users().ByUserId(adele).Presence().Get(c, nil)
	if err != nil {
		t.Fatalf("GET presence (beta): %v", err)
	}
	wantPair(t, "beta", p, "Away", "Away")
	if got := deref(p.GetId()); !strings.EqualFold(got, adele) {
		t.Errorf("beta: id %s, want %s", got, adele)
	}
	p, err = app.Communications().Presences().ByPresenceId(adele).Get(c, nil)
	if err != nil {
		t.Fatalf("GET /beta/communications/presences/{id}: %v", err)
	}
	wantPair(t, "beta, communications path", p, "Away", "Away")
}

// TestCompressedRequestBody: the SDK's default middleware gzips every request
// body (kiota-http-go CompressionHandler: Content-Type application/json,
// Content-Encoding gzip) and sends it uncompressed again only if the server
// answers 415. Graph accepts such bodies, so presenced must decode them (or
// at the very least answer 415 Unsupported Media Type for an encoding it does
// not take, never try to parse the compressed bytes as JSON).
func TestCompressedRequestBody(t *testing.T) {
	e := start(t)
	c := ctx(t)
	adele := e.user("adele")
	app := e.clientGzip(e.appAuth(), "v1.0", true)
	err := app.Users().ByUserId(adele).Presence().SetPresence().Post(c,
		usersSetPresence(directory.DemoDaemonClientID, "Away", "Away", isoDuration(t, 10*time.Minute, "PT10M")), nil)
	if err != nil {
		var oe *odataerrors.ODataError
		if errors.As(err, &oe) && oe.GetStatusCode() == http.StatusBadRequest && strings.Contains(oe.Error(), `\x1f`) {
			t.Fatalf("setPresence with the SDK's default gzip-compressed body: the server parsed the gzip bytes as JSON (400 %q); "+
				"it must honour Content-Encoding: gzip (or answer 415 so that the SDK resends uncompressed)", oe.Error())
		}
		t.Fatalf("setPresence with a gzip-compressed body: %v", err)
	}
	p, err := app.Users().ByUserId(adele).Presence().Get(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantPair(t, "after a gzip-compressed setPresence", p, "Away", "Away")
}
