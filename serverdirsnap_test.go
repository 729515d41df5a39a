package presenced_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
)

// startLogged starts a dev server logging to rec.
func startDirLogged(t *testing.T) (*env, *recordLog) {
	t.Helper()
	rec := &recordLog{}
	e := &env{t: t, fake: clock.NewFake(t0), dir: t.TempDir(), addr: "127.0.0.1:0", log: slog.New(rec)}
	e.boot()
	return e, rec
}

// rebootLogged starts e again with a new log.
func (e *env) rebootLogged() *recordLog {
	rec := &recordLog{}
	e.log = slog.New(rec)
	e.boot()
	return rec
}

// A graceful stop saves the directory; the next start builds it from the
// file and finds nothing written since.
func TestRestartBuildsTheSavedDirectory(t *testing.T) {
	e, _ := startDirLogged(t)
	want := e.srv.Directory().UserCount()
	e.stop()
	if _, err := os.Stat(filepath.Join(e.dir, presenced.DirectorySnapshotFile)); err != nil {
		t.Fatal(err)
	}
	rec := e.rebootLogged()
	waitLog(t, rec, "saved directory read")
	if line := waitLog(t, rec, "directory: the saved directory is up to date"); !strings.Contains(line, "changes_since=0") {
		t.Fatalf("%q", line)
	}
	if got := e.srv.Directory().UserCount(); got != want {
		t.Fatalf("%d users, want %d", got, want)
	}
	tok := e.appToken()
	e.must("POST", "/v1.0/users/"+e.user("adele")+"/presence/setPresence", tok, setBody("Busy", "InACall", "PT1H"))
}

// A saved directory older than the engine (saved, then users created and
// deleted, then a crash that saved nothing: here the older file put back)
// is brought up to date at start from the changes since.
func TestRestartFromAStaleSavedDirectory(t *testing.T) {
	e, _ := startDirLogged(t)
	e.stop()
	file := filepath.Join(e.dir, presenced.DirectorySnapshotFile)
	stale, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	e.rebootLogged()
	ctx := context.Background()
	u, err := e.srv.DirectoryStore().CreateUser(ctx, directory.UserEntry{TenantID: directory.DemoTenantID, UserPrincipalName: "newcomer@contoso.dev", DisplayName: "New Comer"})
	if err != nil {
		t.Fatal(err)
	}
	alex := e.user("alex")
	if err := e.srv.DirectoryStore().DeleteUser(ctx, directory.DemoTenantID, alex); err != nil {
		t.Fatal(err)
	}
	e.stop()
	if err := os.WriteFile(file, stale, 0o600); err != nil {
		t.Fatal(err)
	}
	rec := e.rebootLogged()
	if line := waitLog(t, rec, "directory: the saved directory is up to date"); strings.Contains(line, "changes_since=0") {
		t.Fatalf("%q: the changes since were not read", line)
	}
	if got, ok := e.srv.Directory().User("newcomer@contoso.dev"); !ok || got.ID != u.ID {
		t.Fatal("the user created after the save is missing")
	}
	if _, ok := e.srv.Directory().User(alex); ok {
		t.Fatal("the user deleted after the save is back")
	}
	tok := e.appToken()
	e.must("POST", "/v1.0/users/"+u.ID+"/presence/setPresence", tok, setBody("Busy", "InACall", "PT1H"))
}

// A damaged saved directory is reported at WARN and left aside; without
// one (a crash before the first save) the directory is read from the
// engine: either way nothing is lost.
func TestRestartWithADamagedOrNoSavedDirectory(t *testing.T) {
	e, _ := startDirLogged(t)
	u, err := e.srv.DirectoryStore().CreateUser(context.Background(), directory.UserEntry{TenantID: directory.DemoTenantID, UserPrincipalName: "newcomer@contoso.dev"})
	if err != nil {
		t.Fatal(err)
	}
	want := e.srv.Directory().UserCount()
	e.stop()
	file := filepath.Join(e.dir, presenced.DirectorySnapshotFile)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	rec := e.rebootLogged()
	if line := waitLog(t, rec, "the saved directory cannot be used"); !strings.Contains(line, "checksum") {
		t.Fatalf("%q: want the checksum named", line)
	}
	if _, ok := e.srv.Directory().User(u.ID); !ok || e.srv.Directory().UserCount() != want {
		t.Fatalf("%d users, want %d with the newcomer", e.srv.Directory().UserCount(), want)
	}
	e.stop()
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	rec = e.rebootLogged()
	waitLog(t, rec, "no saved directory")
	if _, ok := e.srv.Directory().User(u.ID); !ok || e.srv.Directory().UserCount() != want {
		t.Fatalf("%d users, want %d with the newcomer", e.srv.Directory().UserCount(), want)
	}
}
