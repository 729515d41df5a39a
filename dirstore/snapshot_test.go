package dirstore_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/dirstore"
	"github.com/presenced/presenced/store"
)

// logBuf collects a store's log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// openSnap opens the store on kv from a saved directory, and returns it
// with its log.
func openSnap(t *testing.T, kv store.KV, saved []byte) (*dirstore.Store, string) {
	t.Helper()
	snap, err := dirstore.DecodeSnapshot(saved)
	if err != nil {
		t.Fatal(err)
	}
	var log logBuf
	s, err := dirstore.Open(context.Background(), dirstore.Options{KV: kv.(store.SerialKV), Clock: clock.NewFake(t0), Logger: slog.New(slog.NewTextHandler(&log, nil)), Snapshot: snap})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, log.String()
}

func save(t *testing.T, s *dirstore.Store) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, _, err := s.WriteSnapshot(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// sameAs fails unless got is the directory want is (read from the engine).
func sameAs(t *testing.T, want, got *directory.Directory) {
	t.Helper()
	// In id order: a directory read from the engine numbers its tenants
	// so, one built by an import in the file's order.
	byID := func(ts []directory.Tenant) []directory.Tenant {
		slices.SortFunc(ts, func(a, b directory.Tenant) int { return strings.Compare(a.ID, b.ID) })
		return ts
	}
	if !reflect.DeepEqual(byID(want.Tenants()), byID(got.Tenants())) {
		t.Fatalf("tenants: %#v, want %#v", got.Tenants(), want.Tenants())
	}
	if !reflect.DeepEqual(want.Apps(), got.Apps()) {
		t.Fatalf("apps: %#v, want %#v", got.Apps(), want.Apps())
	}
	if want.UserCount() != got.UserCount() {
		t.Fatalf("%d users, want %d", got.UserCount(), want.UserCount())
	}
	for _, tn := range want.Tenants() {
		if !reflect.DeepEqual(want.Users(tn.ID), got.Users(tn.ID)) {
			t.Fatalf("tenant %s: the users differ", tn.Name)
		}
	}
}

// A saved directory is the directory: opened from it, the store has what
// a reading of the engine gives, and goes on changing it (its position is
// right: a write after it is not refused as a conflict forever).
func TestSnapshotRoundTrip(t *testing.T) {
	ctx := context.Background()
	_, kv := bucket(t)
	s := open(t, kv)
	if err := s.Import(ctx, directory.DemoFile(300), &dirstore.Source{Kind: "file", SHA256: "abc"}); err != nil {
		t.Fatal(err)
	}
	saved := save(t, s)
	s.Close()
	again, log := openSnap(t, kv, saved)
	if !strings.Contains(log, "the saved directory is up to date") || !strings.Contains(log, "changes_since=0") {
		t.Fatalf("log: %s", log)
	}
	sameAs(t, open(t, kv).Directory(), again.Directory())
	if src, changed := again.Imported(); src == nil || src.SHA256 != "abc" || changed {
		t.Fatalf("the import's source: %+v %v", src, changed)
	}
	if _, err := again.CreateUser(ctx, directory.UserEntry{TenantID: directory.DemoTenantID, UserPrincipalName: "after@contoso.dev"}); err != nil {
		t.Fatal(err)
	}
	sameAs(t, open(t, kv).Directory(), again.Directory())
}

// A saved directory older than the bucket is brought up to date from the
// changes made since (users created, changed and deleted, a tenant's
// settings, an application, a tenant deleted): nothing is lost.
func TestStaleSnapshotCatchesUp(t *testing.T) {
	ctx := context.Background()
	_, kv := bucket(t)
	s := open(t, kv)
	if err := s.Import(ctx, directory.DemoFile(300), nil); err != nil {
		t.Fatal(err)
	}
	saved := save(t, s)
	e, err := s.CreateUser(ctx, directory.UserEntry{TenantID: directory.DemoTenantID, UserPrincipalName: "new@contoso.dev", DisplayName: "New"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateUser(ctx, directory.DemoTenantID, directory.DemoUserUPN(7), func(u *directory.UserEntry) error {
		u.DisplayName, u.AccountEnabled = "Renamed", directory.Bool(false)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, directory.DemoTenantID, directory.DemoUserAlex); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateTenant(ctx, directory.DemoTenantID, func(tn *directory.Tenant) error {
		tn.ExternalAccess.AllowAllExternal = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTenant(ctx, directory.DemoFabrikamTenantID); err != nil {
		t.Fatal(err)
	}
	s.Close()
	again, log := openSnap(t, kv, saved)
	if !strings.Contains(log, "the saved directory is up to date") || strings.Contains(log, "changes_since=0") {
		t.Fatalf("log: %s", log)
	}
	d := again.Directory()
	sameAs(t, open(t, kv).Directory(), d)
	if u, ok := d.User(e.ID); !ok || u.DisplayName != "New" {
		t.Fatal("the user created after the save is missing")
	}
	if _, ok := d.User(directory.DemoUserAlex); ok {
		t.Fatal("the user deleted after the save is back")
	}
	if _, ok := d.Tenant(directory.DemoFabrikamTenantID); ok {
		t.Fatal("the tenant deleted after the save is back")
	}
	fresh := open(t, kv)
	if s1, c1 := fresh.Imported(); true {
		s2, c2 := again.Imported()
		if !reflect.DeepEqual(s1, s2) || c1 != c2 {
			t.Fatalf("the import's source: %+v %v, want %+v %v", s2, c2, s1, c1)
		}
	}
}

// A saved directory older than an import (a new generation): the new
// generation is read whole.
func TestSnapshotBeforeAnImport(t *testing.T) {
	ctx := context.Background()
	_, kv := bucket(t)
	s := open(t, kv)
	if err := s.Import(ctx, directory.DemoFile(300), nil); err != nil {
		t.Fatal(err)
	}
	saved := save(t, s)
	if err := s.Import(ctx, directory.DemoFile(20), &dirstore.Source{Kind: "import", SHA256: "new"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	again, _ := openSnap(t, kv, saved)
	sameAs(t, open(t, kv).Directory(), again.Directory())
	if again.Directory().UserCount() != 27 {
		t.Fatalf("%d users, want the new import's 27", again.Directory().UserCount())
	}
	if src, _ := again.Imported(); src == nil || src.SHA256 != "new" {
		t.Fatalf("source %+v", src)
	}
}

// A saved directory of another engine (another stream: a data directory
// made again, an engine restored from elsewhere) is refused with a log
// line, and the directory read from the engine.
func TestSnapshotOfAnotherEngineIsRefused(t *testing.T) {
	ctx := context.Background()
	_, kvA := bucket(t)
	a := open(t, kvA)
	if err := a.Import(ctx, directory.DemoFile(300), nil); err != nil {
		t.Fatal(err)
	}
	saved := save(t, a)
	_, kvB := bucket(t)
	b := open(t, kvB)
	if err := b.Import(ctx, directory.DemoFile(10), nil); err != nil {
		t.Fatal(err)
	}
	b.Close()
	again, log := openSnap(t, kvB, saved)
	if !strings.Contains(log, "the saved directory cannot be used") {
		t.Fatalf("log: %s", log)
	}
	if again.Directory().UserCount() != 17 {
		t.Fatalf("%d users: the other engine's directory", again.Directory().UserCount())
	}
}

// A damaged file is refused whole: every byte changed, every cut.
func TestDamagedSnapshotIsRefused(t *testing.T) {
	_, kv := bucket(t)
	s := open(t, kv)
	if err := s.Import(context.Background(), directory.DemoFile(3), nil); err != nil {
		t.Fatal(err)
	}
	saved := save(t, s)
	for i := range saved {
		c := bytes.Clone(saved)
		c[i] ^= 0x20
		if _, err := dirstore.DecodeSnapshot(c); err == nil {
			t.Fatalf("byte %d changed: decoded", i)
		}
		if _, err := dirstore.DecodeSnapshot(saved[:i]); err == nil {
			t.Fatalf("cut at %d: decoded", i)
		}
	}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// FuzzDecodeSnapshot feeds the decoder bodies with a right checksum, so
// that it gets past it to the structure.
func FuzzDecodeSnapshot(f *testing.F) {
	d, _ := directory.DemoWithUsers(2)
	db, _ := directory.AppendSnapshot(nil, d)
	var b []byte
	b = append(b, "PRSDIRSN\x01"...)
	b = append(b, 4)
	b = append(b, "KV_d"...)
	b = binary.AppendVarint(b, 12345)
	b = binary.AppendUvarint(b, 7)
	b = append(b, 2, '{', '}')
	b = append(b, 1, 7)
	b = append(b, "current"...)
	b = append(b, 3)
	b = binary.AppendUvarint(b, uint64(len(db)))
	b = append(b, db...)
	f.Add(b)
	f.Fuzz(func(t *testing.T, body []byte) {
		in := binary.LittleEndian.AppendUint32(bytes.Clone(body), crc32.Checksum(body, castagnoli))
		if s, err := dirstore.DecodeSnapshot(in); err == nil && s.Users() < 0 {
			t.Fatal("negative count")
		}
	})
}
