package presenced_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
)

// demoWithTrust is the demo directory with Contoso and Fabrikam admitting
// each other as given.
func demoWithTrust(t *testing.T, contosoAdmits, fabrikamAdmits bool) *directory.File {
	t.Helper()
	tenants, users, apps := directory.DemoData()
	for i := range tenants {
		switch tenants[i].ID {
		case directory.DemoTenantID:
			if contosoAdmits {
				tenants[i].ExternalAccess.AllowedDomains = []string{directory.DemoFabrikamDomain}
			}
		case directory.DemoFabrikamTenantID:
			if fabrikamAdmits {
				tenants[i].ExternalAccess.AllowedDomains = []string{directory.DemoTenantDomain}
			} else {
				tenants[i].ExternalAccess.BlockedDomains = []string{directory.DemoTenantDomain}
			}
		}
	}
	return &directory.File{Tenants: tenants, Users: users, Applications: apps}
}

// replaceDirectory imports f as the server's whole directory, as
// `presenced directory import` does.
func replaceDirectory(t *testing.T, srv *presenced.Server, f *directory.File) {
	t.Helper()
	if err := srv.DirectoryStore().Import(context.Background(), f, nil); err != nil {
		t.Fatal(err)
	}
}

// startMutualTrust starts a dev server whose demo tenants trust each other.
func startMutualTrust(t *testing.T) *env {
	t.Helper()
	fake := clock.NewFake(t0)
	srv, err := presenced.New(presenced.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Dev: true, Clock: fake, Logger: quiet,
		Directory: demoWithTrust(t, true, true)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: srv, fake: fake}
	t.Cleanup(e.stop)
	return e
}

// setNestorAs sets the fabrikam user Nestor's presence through the fabrikam
// daemon, whose token is app.
func setNestorAs(e *env, app, avail, act string) {
	e.t.Helper()
	b := setBody(avail, act, "PT1H")
	b["sessionId"] = directory.DemoFabrikamDaemonClientID
	e.must("POST", "/v1.0/users/"+directory.DemoFabrikamUserNestor+"/presence/setPresence", app, b)
}

// Semantics §6: another tenant's users are visible only under mutual
// trust, checked at every read and every delivery, so revoking trust stops
// both at once; writes never cross tenants.
func TestCrossTenantTrust(t *testing.T) {
	e := startMutualTrust(t)
	adele := e.userToken("adele", "")
	contosoApp := e.appToken()
	fabrikamApp := e.tokenAt(directory.DemoFabrikamTenantID, directory.DemoFabrikamDaemonClientID, directory.DemoFabrikamDaemonSecret)
	nestor := directory.DemoFabrikamUserNestor
	setNestor := func(avail, act string) { setNestorAs(e, fabrikamApp, avail, act) }
	rc := newReceiver(t)

	// Trusted both ways: read, list, subscribe, be notified.
	if r := e.call("GET", "/v1.0/users/nestor@fabrikam.dev/presence", contosoApp, nil); r.status != 200 {
		t.Fatalf("read across mutual trust: %d %s", r.status, r.raw)
	}
	if r := e.subscribe(adele, subBody(rc.srv.URL, []string{"nestor@fabrikam.dev"}, t0.Add(30*time.Minute))); r.status != 201 {
		t.Fatalf("subscribe across mutual trust: %d %s", r.status, r.raw)
	}
	setNestor("Busy", "InACall")
	if it := item(t, rc.next()); it["resource"] != "communications/presences/"+nestor {
		t.Fatalf("notification = %v", it)
	}
	// Writes never cross tenants, trust or not.
	// Refused by id, the answer names the user by that id: not by the
	// userPrincipalName, which the reader did not name and cannot otherwise
	// learn from the id.
	for _, c := range []struct{ method, path string }{
		{"POST", "/v1.0/users/" + nestor + "/presence/setPresence"},
		{"GET", "/v1.0/users/" + nestor + "/calendar/events"},
	} {
		var body any
		if c.method == "POST" {
			body = setBody("Away", "Away", "")
		}
		r := e.call(c.method, c.path, contosoApp, body)
		if r.status != 403 || !strings.Contains(string(r.raw), nestor) || strings.Contains(strings.ToLower(string(r.raw)), "nestor@") {
			t.Fatalf("%s %s across tenants: %d %s, want 403 naming %s only", c.method, c.path, r.status, r.raw, nestor)
		}
	}

	// Fabrikam blocks Contoso: nestor is unknown to Contoso at once, and
	// notifications stop.
	replaceDirectory(t, e.srv, demoWithTrust(t, true, false))
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1.0/users/nestor@fabrikam.dev/presence"},
		{"GET", "/v1.0/communications/presences/" + nestor},
	} {
		if r := e.call(c.method, c.path, contosoApp, nil); r.status != 404 || r.errCode() != "itemNotFound" {
			t.Fatalf("after revocation %s: %d %s", c.path, r.status, r.raw)
		}
	}
	r := e.call("POST", "/v1.0/communications/getPresencesByUserId", contosoApp, map[string]any{"ids": []string{nestor, e.user("alex")}})
	if n := len(r.body["value"].([]any)); n != 1 {
		t.Fatalf("after revocation getPresencesByUserId returns %d, want only alex", n)
	}
	setNestor("DoNotDisturb", "Presenting")
	rc.none("after trust was revoked")
	if r := e.subscribe(e.userToken("megan", ""), subBody(rc.srv.URL, []string{nestor}, t0.Add(30*time.Minute))); r.status != 404 {
		t.Fatalf("subscribe after revocation: %d %s", r.status, r.raw)
	}
	// One-sided trust is no trust.
	replaceDirectory(t, e.srv, demoWithTrust(t, false, true))
	if r := e.call("GET", "/v1.0/users/"+nestor+"/presence", contosoApp, nil); r.status != 404 {
		t.Fatalf("one-sided trust: %d", r.status)
	}
}

// Trust revoked as an administrator revokes it (presenced admin policy
// set, one tenant's policy changed in place rather than a directory
// imported) stops at once what was already made on it: the webhook
// subscription delivers nothing more and the live stream drops the user.
func TestCrossTenantTrustRevokedByPolicy(t *testing.T) {
	e := startMutualTrust(t)
	fabrikamApp := e.tokenAt(directory.DemoFabrikamTenantID, directory.DemoFabrikamDaemonClientID, directory.DemoFabrikamDaemonSecret)
	nestor := directory.DemoFabrikamUserNestor
	setNestor := func(avail, act string) { setNestorAs(e, fabrikamApp, avail, act) }
	rc := newReceiver(t)
	if r := e.subscribe(e.userToken("adele", ""), subBody(rc.srv.URL, []string{nestor}, t0.Add(30*time.Minute))); r.status != 201 {
		t.Fatalf("subscribe across mutual trust: %d %s", r.status, r.raw)
	}
	ch, closeStream := e.openStream(t, e.appToken(), "ids="+nestor, "")
	defer closeStream()
	if ev := nextEvent(t, ch); ev.kind != "presence" || ev.data["id"] != nestor {
		t.Fatalf("stream's first event: %+v", ev)
	}
	setNestor("Busy", "InACall")
	if it := item(t, rc.next()); it["resource"] != "communications/presences/"+nestor {
		t.Fatalf("notification = %v", it)
	}
	if ev := nextEvent(t, ch); ev.kind != "presence" || ev.data["availability"] != "Busy" {
		t.Fatalf("stream event: %+v", ev)
	}

	if _, err := e.srv.DirectoryStore().UpdateTenant(context.Background(), directory.DemoFabrikamTenantID, func(t *directory.Tenant) error {
		t.ExternalAccess = directory.ExternalAccess{}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	setNestor("DoNotDisturb", "Presenting")
	rc.none("after Fabrikam's policy stopped admitting Contoso")
	if ev := nextEvent(t, ch); ev.kind != "removed" || ev.data["id"] != nestor {
		t.Fatalf("stream after revocation: %+v, want nestor removed", ev)
	}
	if r := e.call("GET", "/v1.0/users/"+nestor+"/presence", e.appToken(), nil); r.status != 404 {
		t.Fatalf("read after revocation: %d %s", r.status, r.raw)
	}
}

// A broken directory file stops the server from starting, with the file and
// the place named; the engine it opened meanwhile is closed again, so a
// second try on the same data directory works.
func TestBrokenDirectoryFileRefusedAtStart(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	file := filepath.Join(dir, "directory.json")
	if err := os.WriteFile(file, []byte("{\"tenants\": [}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := presenced.New(presenced.Config{Addr: "127.0.0.1:0", DataDir: data, DirectoryFile: file, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("Start: %v; want the file and the line named", err)
	}
	example, err := os.ReadFile("directory/testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, example, 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err = presenced.New(presenced.Config{Addr: "127.0.0.1:0", DataDir: data, DirectoryFile: file, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("second start on the same data: %v", err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// An operator edits the directory file and reloads it (SIGHUP): the change
// applies at once; a broken file is refused and the previous one stays.
func TestReloadDirectoryFile(t *testing.T) {
	example, err := os.ReadFile("directory/testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "directory.json")
	if err := os.WriteFile(file, example, 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := presenced.New(presenced.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), DirectoryFile: file, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: srv}
	t.Cleanup(e.stop)
	tok := e.tokenAt("northwind.example", "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f", "change-me-northwind-sync")
	path := "/v1.0/users/robert@northwind.example/presence"
	if r := e.call("GET", path, tok, nil); r.status != 404 {
		t.Fatalf("before: %d", r.status)
	}
	edited := strings.Replace(string(example), `"users": [`, `"users": [
    {"id": "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9", "tenantId": "b8a2c0d4-6f1e-4a3b-9c5d-7e8f90a1b2c3",
     "userPrincipalName": "robert@northwind.example", "displayName": "Robert King"},`, 1)
	if err := os.WriteFile(file, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := srv.ReloadDirectory(); err != nil {
		t.Fatal(err)
	}
	if r := e.call("GET", path, tok, nil); r.status != 200 {
		t.Fatalf("after reload: %d %s", r.status, r.raw)
	}
	if err := os.WriteFile(file, []byte(`{"tenants": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := srv.ReloadDirectory(); err == nil {
		t.Fatal("a broken directory file was accepted")
	}
	if r := e.call("GET", path, tok, nil); r.status != 200 {
		t.Fatalf("a failed reload changed the directory: %d", r.status)
	}
}
