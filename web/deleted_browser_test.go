package web_test

import (
	"log/slog"
	"net/http"
	"testing"

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
	const adminApp, adminSecret = "5a0b6f0e-2d0c-4d43-9a55-0c9f7c1e4a11", "admin-secret"
	dir := directory.DemoFile(0)
	dir.Applications = append(dir.Applications, directory.App{ClientID: adminApp, TenantID: directory.DemoTenantID, Name: "user admin",
		Secret: adminSecret, Roles: []string{"User.ReadWrite.All"}})
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

	admin, err := srv.Issuer().AppToken(adminApp)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("DELETE", s.srv.URL()+"/v1.0/users/"+directory.DemoUserDiego, nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("DELETE Diego: %s", resp.Status)
	}
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
