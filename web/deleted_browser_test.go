package web_test

import (
	"log/slog"
	"net/http"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/servertest"
)

// TestBrowserWatchedUserDeleted deletes a user the board watches: their
// row goes, and the board stays live for everyone else — also when its
// stream is opened again afterwards (here: its token expired by the dev
// clock, so it opens a new one with a fresh token).
func TestBrowserWatchedUserDeleted(t *testing.T) {
	needBrowser(t)
	dir := withUserAdmin(directory.DemoFile(0))
	srv := servertest.Start(t, presenced.Config{DataDir: t.TempDir(), Dev: true, Clock: clock.NewFake(t0),
		Logger: slog.New(slog.DiscardHandler), Directory: dir})
	app, err := srv.Issuer().AppToken(directory.DemoDaemonClientID)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, srv: srv, app: app}
	ctx := tab(t)
	signIn(t, ctx, s.srv.URL(), false)
	waitFor(t, ctx, `document.getElementById('live').textContent.startsWith('Live')`)

	deleteUser(t, srv, directory.DemoUserDiego)
	waitFor(t, ctx, `!document.querySelector('`+row(directory.DemoUserDiego)+`')`)

	s.setPresence(directory.DemoUserAlex, "Busy", "InACall")
	waitFor(t, ctx, `document.querySelector('`+row(directory.DemoUserAlex)+` .presence').textContent === 'Busy'`)

	s.call("POST", "/dev/clock/advance", map[string]any{"by": "PT2H"})                // the stream ends (tokenExpired); the board opens another
	if s.app, err = srv.Issuer().AppToken(directory.DemoDaemonClientID); err != nil { // the daemon's expired too
		t.Fatal(err)
	}
	s.setPresence(directory.DemoUserAlex, "Available", "Available")
	waitFor(t, ctx, `document.querySelector('`+row(directory.DemoUserAlex)+` .presence').textContent === 'Available' && document.getElementById('live').textContent.startsWith('Live')`)
}

// TestBrowserWatchedUserDeletedWhileAway deletes a user the board watches
// while its stream is down (the server restarted, the board's reconnects
// blocked meanwhile). The board comes back with the same ids and its last
// event id; the resumed stream says the user was removed, and the board
// drops their row and is live again — before, the stream was refused (404)
// at every try, and the board said "Reconnecting…" for good, showing the
// old presence.
func TestBrowserWatchedUserDeletedWhileAway(t *testing.T) {
	needBrowser(t)
	dir := withUserAdmin(directory.DemoFile(0))
	r := startRestartableWith(t, dir)
	ctx := tab(t)
	signIn(t, ctx, r.srv.URL(), false)
	waitFor(t, ctx, `document.getElementById('live').textContent.startsWith('Live')`)
	r.setPresence(directory.DemoUserAlex, "Busy", "InACall")
	alex := `document.querySelector('` + row(directory.DemoUserAlex) + ` .presence').textContent`
	waitFor(t, ctx, alex+` === 'Busy'`) // the board has a last event id

	// The stream goes down, and the board's tries to open it again fail
	// until the user was deleted.
	block := func(on bool) {
		var p []*network.BlockPattern
		if on {
			p = []*network.BlockPattern{{URLPattern: "*://*:*/presenced/v1/stream*", Block: true}}
		}
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(ctx, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: p}); err != nil {
			t.Fatal(err)
		}
	}
	block(true)
	r.stop(t)
	waitFor(t, ctx, `!document.getElementById('live').textContent.startsWith('Live')`)
	r.start(t)
	deleteUser(t, r.srv, directory.DemoUserDiego)
	// The board's tries in the meantime were blocked, not answered.
	waitFor(t, ctx, `performance.getEntriesByType('resource').filter(e => e.name.includes('/presenced/v1/stream')).length >= 2`)
	block(false)

	r.setPresence(directory.DemoUserAlex, "Available", "Available")
	waitFor(t, ctx, `!document.querySelector('`+row(directory.DemoUserDiego)+`') && `+alex+` === 'Available' && document.getElementById('live').textContent.startsWith('Live') && document.getElementById('conn').hidden`)
}

// userAdminApp is an application of the demo tenant that may delete users.
const userAdminApp = "5a0b6f0e-2d0c-4d43-9a55-0c9f7c1e4a11"

// withUserAdmin is d with userAdminApp among its applications.
func withUserAdmin(d *directory.File) *directory.File {
	d.Applications = append(d.Applications, directory.App{ClientID: userAdminApp, TenantID: directory.DemoTenantID, Name: "user admin",
		Secret: "admin-secret", Roles: []string{"User.ReadWrite.All"}})
	return d
}

// deleteUser deletes the user id through srv's API, as userAdminApp.
func deleteUser(t *testing.T, srv *presenced.Server, id string) {
	t.Helper()
	admin, err := srv.Issuer().AppToken(userAdminApp)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("DELETE", srv.URL()+"/v1.0/users/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("DELETE %s: %s", id, resp.Status)
	}
}
