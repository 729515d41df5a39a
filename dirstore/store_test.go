package dirstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/dirstore"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

var quiet = slog.New(slog.DiscardHandler)

var t0 = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)

func open(t *testing.T, kv store.KV) *dirstore.Store {
	t.Helper()
	return openWith(t, dirstore.Options{KV: kv.(store.SerialKV)})
}

// openWith is open with options (Clock and Logger the tests').
func openWith(t *testing.T, o dirstore.Options) *dirstore.Store {
	t.Helper()
	o.Clock, o.Logger = clock.NewFake(t0), quiet
	s, err := dirstore.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// bucket is a directory bucket on a real engine, and a way to open it again
// as after a restart.
func bucket(t *testing.T) (*natsstore.Engine, store.KV) {
	t.Helper()
	e := enginetest.Open(t)
	kv, err := e.Bucket(context.Background(), "directory")
	if err != nil {
		t.Fatal(err)
	}
	return e, kv
}

// demoWithSecrets is the demo with passwords and a secret in clear, as a
// file for dev and tests has them.
func demoWithSecrets() *directory.File {
	f := directory.DemoFile(20)
	f.Users[0].PasswordHash, f.Users[0].Password = "", "adele's own"
	f.Applications[0].Secrets, f.Applications[0].Secret = nil, "daemon secret"
	return f
}

// An import is kept: opened again, the store has the same directory, with
// passwords and secrets hashed and never stored in clear.
func TestImportIsKeptAndHashed(t *testing.T) {
	ctx := context.Background()
	_, kv := bucket(t)
	s := open(t, kv)
	if s.Directory().UserCount() != 0 || len(s.Directory().Tenants()) != 0 {
		t.Fatal("a new bucket's directory is not empty")
	}
	f := demoWithSecrets()
	if err := s.Import(ctx, f, &dirstore.Source{Kind: "import", SHA256: "x"}); err != nil {
		t.Fatal(err)
	}
	if app, _ := s.Directory().App(directory.DemoDaemonClientID); len(app.Secrets) != 1 || app.Secret != "" {
		t.Fatalf("right after the import the app's secrets are %+v", app)
	}
	s.Close()
	again := open(t, kv)
	d := again.Directory()
	if d.UserCount() != len(f.Users) || len(d.Tenants()) != 2 {
		t.Fatalf("reopened: %d users, %d tenants", d.UserCount(), len(d.Tenants()))
	}
	for _, e := range f.Users {
		if u, ok := d.User(e.ID); !ok || u.UserPrincipalName != e.UserPrincipalName || !u.HasPassword {
			t.Fatalf("user %s: %+v %v", e.ID, u, ok)
		}
	}
	if _, ok, err := again.Authenticate(ctx, directory.DemoTenantID, "adele@contoso.dev", "adele's own"); !ok || err != nil {
		t.Fatalf("adele's password: %v %v", ok, err)
	}
	app, _ := d.App(directory.DemoDaemonClientID)
	if ok, err := directory.VerifySecret(ctx, app, "daemon secret", t0); !ok || err != nil {
		t.Fatalf("the daemon's secret: %v %v %+v", ok, err, app.Secrets)
	}
	// Nothing in clear anywhere in the bucket.
	keys, _ := kv.Keys(ctx, "")
	for _, k := range keys {
		e, _ := kv.Get(ctx, k)
		for _, secret := range []string{"adele's own", "daemon secret"} {
			if bytes.Contains(e.Value, []byte(secret)) {
				t.Fatalf("%s holds %q in clear", k, secret)
			}
		}
	}
}

// faultyKV fails its n-th PutAfter: a real engine under a write that does
// not go through (a full disk, a lost connection).
type faultyKV struct {
	store.SerialKV
	mu   sync.Mutex
	left int
}

func (f *faultyKV) PutAfter(ctx context.Context, key string, value []byte, after uint64) (uint64, error) {
	f.mu.Lock()
	f.left--
	fail := f.left == 0
	f.mu.Unlock()
	if fail {
		return 0, store.ErrFull
	}
	return f.SerialKV.PutAfter(ctx, key, value, after)
}

// A failed import changes nothing: one that does not validate writes
// nothing, and one whose writes fail half-way leaves the directory as it
// was, before and after a restart, with the half-written generation gone.
func TestFailedImportChangesNothing(t *testing.T) {
	ctx := context.Background()
	_, kv := bucket(t)
	s := open(t, kv)
	if err := s.Import(ctx, directory.DemoFile(0), nil); err != nil {
		t.Fatal(err)
	}
	before, _ := kv.Keys(ctx, "")

	bad := directory.DemoFile(0)
	bad.Users[1].UserPrincipalName = bad.Users[0].UserPrincipalName
	if err := s.Import(ctx, bad, nil); err == nil || !strings.Contains(err.Error(), "already used by users[0]") {
		t.Fatalf("a duplicate UPN: %v", err)
	}
	if after, _ := kv.Keys(ctx, ""); !slices.Equal(after, before) {
		t.Fatalf("a refused import wrote: %v", after)
	}

	fk := &faultyKV{SerialKV: kv.(store.SerialKV), left: 5}
	s2, err := dirstore.Open(ctx, dirstore.Options{KV: fk, Clock: clock.NewFake(t0), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	big := directory.DemoFile(50)
	if err := s2.Import(ctx, big, nil); err == nil {
		t.Fatal("an import whose fifth write failed succeeded")
	}
	if n := s2.Directory().UserCount(); n != 7 {
		t.Fatalf("after a failed import the directory has %d users, want the demo's 7", n)
	}
	s2.Close()
	if after, _ := kv.Keys(ctx, ""); !slices.Equal(after, before) {
		t.Fatalf("a failed import left keys: %v", after)
	}
	if n := open(t, kv).Directory().UserCount(); n != 7 {
		t.Fatalf("reopened after a failed import: %d users", n)
	}
}

// Users created, changed and deleted one at a time are kept; a deleted
// user's id goes to the hooks once the directory no longer has them.
func TestUserChangesAreKept(t *testing.T) {
	ctx := context.Background()
	_, kv := bucket(t)
	s := open(t, kv)
	if err := s.Import(ctx, directory.DemoFile(0), nil); err != nil {
		t.Fatal(err)
	}
	var gone, disabled []string
	s.OnUsersGone(func(g dirstore.UsersGone) {
		for _, id := range g.Removed {
			if _, still := s.Directory().User(id); still {
				t.Error("a hook ran while the directory still had the user")
			}
		}
		gone = append(gone, g.Removed...)
		disabled = append(disabled, g.Disabled...)
	})
	e, err := s.CreateUser(ctx, directory.UserEntry{TenantID: directory.DemoTenantID, UserPrincipalName: "new@contoso.dev", DisplayName: "New", Password: "pw-new", ExternalID: "ext-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !directory.IsGUID(e.ID) || e.Password != "" || !strings.HasPrefix(e.PasswordHash, "$argon2id$") {
		t.Fatalf("created: %+v", e)
	}
	if _, err := s.CreateUser(ctx, directory.UserEntry{TenantID: directory.DemoTenantID, UserPrincipalName: "NEW@contoso.dev"}); !isCode(err, presence.Conflict) {
		t.Fatalf("a duplicate UPN: %v", err)
	}
	if _, err := s.UpdateUser(ctx, directory.DemoTenantID, "new@contoso.dev", func(u *directory.UserEntry) error {
		u.DisplayName, u.AccountEnabled = "Renamed", directory.Bool(false)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, directory.DemoTenantDomain, directory.DemoUserAlex); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gone, []string{directory.DemoUserAlex}) || !slices.Equal(disabled, []string{e.ID}) {
		t.Fatalf("hooks got removed %v, disabled %v", gone, disabled)
	}
	s.Close()
	again := open(t, kv)
	d := again.Directory()
	if u, ok := d.User("new@contoso.dev"); !ok || u.DisplayName != "Renamed" || u.AccountEnabled {
		t.Fatalf("reopened, the new user is %+v %v", u, ok)
	}
	if _, ok := d.User(directory.DemoUserAlex); ok {
		t.Fatal("reopened, the deleted user is back")
	}
	full, err := again.User(ctx, directory.DemoTenantID, e.ID)
	if err != nil || full.ExternalID != "ext-1" {
		t.Fatalf("the stored entry: %+v %v", full, err)
	}
	if u, ok, err := again.Authenticate(ctx, directory.DemoTenantID, "new@contoso.dev", "pw-new"); !ok || err != nil || u.AccountEnabled {
		t.Fatalf("a disabled user's right password: %+v %v %v (the caller refuses it)", u, ok, err)
	}
	for _, c := range []struct{ user, pw string }{{"new@contoso.dev", "wrong"}, {"nobody@contoso.dev", "pw"}, {"nestor@fabrikam.dev", directory.DemoPassword}} {
		if _, ok, err := again.Authenticate(ctx, directory.DemoTenantID, c.user, c.pw); ok || err != nil {
			t.Errorf("Authenticate(%s, %s): %v %v", c.user, c.pw, ok, err)
		}
	}
}

func isCode(err error, c presence.Code) bool {
	var pe *presence.Error
	return errors.As(err, &pe) && pe.Code == c
}

// Two writers on one bucket (two nodes, or a node and an offline tool)
// cannot both make a userPrincipalName theirs: the second's write is
// checked against a directory with the first's (it followed it), or, if
// it had not yet, the engine refuses the write made against the older
// directory; it reads the directory again, and the next attempt is refused
// as a duplicate.
func TestTwoWritersCannotShareAUPN(t *testing.T) {
	ctx := context.Background()
	_, kv := bucket(t)
	a := open(t, kv)
	if err := a.Import(ctx, directory.DemoFile(0), nil); err != nil {
		t.Fatal(err)
	}
	b := open(t, kv)
	if _, err := a.CreateUser(ctx, directory.UserEntry{TenantID: directory.DemoTenantID, UserPrincipalName: "race@contoso.dev"}); err != nil {
		t.Fatal(err)
	}
	var err error
	for range 2 {
		if _, err = b.CreateUser(ctx, directory.UserEntry{TenantID: directory.DemoTenantID, UserPrincipalName: "race@contoso.dev"}); !isCode(err, presence.Unavailable) {
			break // Unavailable: "send again"
		}
	}
	if !isCode(err, presence.Conflict) {
		t.Fatalf("the second writer: %v, want Conflict", err)
	}
	if n := len(open(t, kv).Directory().Users(directory.DemoTenantID)); n != 6 {
		t.Fatalf("%d users, want 6", n)
	}
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	within(t, 10*time.Second, what, cond)
}

// within polls cond for up to d.
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A store follows what another writes to its bucket (another node of a
// cluster): users, tenants, applications and a whole import, and its
// hooks end what removed users had on this node too.
func TestStoresFollowEachOther(t *testing.T) {
	ctx := context.Background()
	_, kv := bucket(t)
	a := open(t, kv)
	if err := a.Import(ctx, directory.DemoFile(0), nil); err != nil {
		t.Fatal(err)
	}
	b := open(t, kv)
	var mu sync.Mutex
	var gone []string
	b.OnUsersGone(func(g dirstore.UsersGone) {
		mu.Lock()
		gone = append(gone, g.Removed...)
		mu.Unlock()
	})
	u, err := a.CreateUser(ctx, directory.UserEntry{TenantID: directory.DemoTenantID, UserPrincipalName: "followed@contoso.dev", DisplayName: "F"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new user reaches the other node", func() bool { _, ok := b.Directory().User("followed@contoso.dev"); return ok })
	if _, err := a.UpdateTenant(ctx, directory.DemoTenantID, func(t *directory.Tenant) error {
		t.ExternalAccess.AllowedDomains = []string{directory.DemoFabrikamDomain}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the policy reaches the other node", func() bool { return b.Directory().Admits(directory.DemoTenantID, directory.DemoFabrikamTenantID) })
	if err := a.DeleteUser(ctx, directory.DemoTenantID, u.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deletion reaches the other node's hooks", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(gone, u.ID)
	})
	if _, ok := b.Directory().User(u.ID); ok {
		t.Fatal("the deleted user is still on the other node")
	}
	// A whole new directory, imported at a.
	if err := a.Import(ctx, directory.DemoFile(30), nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "an import reaches the other node", func() bool { return b.Directory().UserCount() == 37 })
	// And b writes after following: no conflict.
	if _, err := b.CreateUser(ctx, directory.UserEntry{TenantID: directory.DemoTenantID, UserPrincipalName: "fromb@contoso.dev"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b's write reaches a", func() bool { _, ok := a.Directory().User("fromb@contoso.dev"); return ok })
}

// Export writes what Import takes back, hashes and all.
func TestExportRoundTrip(t *testing.T) {
	ctx := context.Background()
	_, kv := bucket(t)
	s := open(t, kv)
	if err := s.Import(ctx, demoWithSecrets(), nil); err != nil {
		t.Fatal(err)
	}
	f, err := s.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(f)
	if bytes.Contains(b, []byte("adele's own")) || !bytes.Contains(b, []byte(`"passwordHash":"$argon2id$`)) {
		t.Fatal("the export holds a password in clear, or no hash")
	}
	parsed, err := directory.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	_, kv2 := bucket(t)
	s2 := open(t, kv2)
	if err := s2.Import(ctx, parsed, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s2.Authenticate(ctx, directory.DemoTenantID, "adele@contoso.dev", "adele's own"); !ok {
		t.Fatal("the re-imported export lost adele's password")
	}
	f2, _ := s2.Export(ctx)
	b2, _ := json.Marshal(f2)
	if !bytes.Equal(b, b2) {
		t.Fatal("an export of the re-imported export differs")
	}
}

// serve --directory: an empty engine is seeded; the same file again
// changes nothing; a changed file is imported again while the directory
// was only ever imported; once changed otherwise, a changed file is
// refused and the directory stays.
func TestSeed(t *testing.T) {
	ctx := context.Background()
	_, kv := bucket(t)
	s := open(t, kv)
	f := directory.DemoFile(0)
	src := dirstore.Source{Kind: "file", Name: "d.json", SHA256: "v1"}
	for _, want := range []string{"seeded", "unchanged"} {
		if got, err := s.Seed(ctx, f, src); got != want || err != nil {
			t.Fatalf("Seed: %q %v, want %q", got, err, want)
		}
	}
	f2 := directory.DemoFile(3)
	src.SHA256 = "v2"
	if got, err := s.Seed(ctx, f2, src); got != "re-imported" || err != nil || s.Directory().UserCount() != 10 {
		t.Fatalf("a changed file: %q %v", got, err)
	}
	if _, err := s.CreateUser(ctx, directory.UserEntry{TenantID: directory.DemoTenantID, UserPrincipalName: "live@contoso.dev"}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Seed(ctx, f2, src); got != "unchanged" || err != nil {
		t.Fatalf("the same file after a live change: %q %v", got, err)
	}
	src.SHA256 = "v3"
	_, err := s.Seed(ctx, f, src)
	if !errors.Is(err, dirstore.ErrChangedSinceImport) || !strings.Contains(err.Error(), "presenced directory import d.json") {
		t.Fatalf("a changed file after a live change: %v", err)
	}
	if _, ok := s.Directory().User("live@contoso.dev"); !ok {
		t.Fatal("the refused seed undid the live change")
	}
}

// Deleting a tenant takes its users and applications, in the engine too.
func TestDeleteTenant(t *testing.T) {
	ctx := context.Background()
	_, kv := bucket(t)
	s := open(t, kv)
	if err := s.Import(ctx, directory.DemoFile(100), nil); err != nil {
		t.Fatal(err)
	}
	var gone []string
	s.OnUsersGone(func(g dirstore.UsersGone) { gone = append(gone, g.Removed...) })
	if err := s.DeleteTenant(ctx, directory.DemoFabrikamDomain); err != nil {
		t.Fatal(err)
	}
	if len(gone) != 2 {
		t.Errorf("hooks got %d users", len(gone))
	}
	d := open(t, kv).Directory()
	if _, ok := d.Tenant(directory.DemoFabrikamTenantID); ok || d.UserCount() != 105 {
		t.Fatalf("reopened: Fabrikam there %v, %d users", ok, d.UserCount())
	}
	if _, ok := d.App(directory.DemoFabrikamDaemonClientID); ok {
		t.Fatal("Fabrikam's app survived")
	}
	keys, _ := kv.Keys(ctx, "")
	for _, k := range keys {
		if strings.Contains(k, directory.DemoFabrikamTenantID) {
			t.Fatalf("key %s survived", k)
		}
	}
}
