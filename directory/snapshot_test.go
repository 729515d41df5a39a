package directory

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// snapshotOf builds the demo with n generated users, then changes it the
// ways a running directory changes (users added and removed on a page, a
// tenant removed), so that the snapshot is made from a base and a delta.
func changedDemo(t testing.TB, n int) *Directory {
	d, err := DemoWithUsers(n)
	if err != nil {
		t.Fatal(err)
	}
	p := Page(DemoUserID(1))
	users := d.PageUsers(DemoTenantID, p)
	users = users[1:] // the first user of the page removed
	newID := ""
	for i := 0; Page(newID) != p || newID == ""; i++ {
		newID = fmt.Sprintf("0a000000-0000-4000-8000-%012x", i)
	}
	users = append(users, User{ID: newID, UserPrincipalName: "New.Person@contoso.dev", DisplayName: "New Person", AccountEnabled: true})
	var keep []User
	for _, u := range users {
		if Page(u.ID) == p {
			keep = append(keep, u)
		}
	}
	if err := d.ApplyPage(DemoTenantID, p, keep); err != nil {
		t.Fatal(err)
	}
	if !d.RemoveTenant(DemoFabrikamTenantID) {
		t.Fatal("Fabrikam not removed")
	}
	return d
}

func sameDirectory(t *testing.T, want, got *Directory) {
	t.Helper()
	if !reflect.DeepEqual(want.Tenants(), got.Tenants()) {
		t.Fatalf("tenants: %+v, want %+v", got.Tenants(), want.Tenants())
	}
	if !reflect.DeepEqual(want.Apps(), got.Apps()) {
		t.Fatalf("apps: %+v, want %+v", got.Apps(), want.Apps())
	}
	if want.UserCount() != got.UserCount() {
		t.Fatalf("%d users, want %d", got.UserCount(), want.UserCount())
	}
	for _, tn := range want.Tenants() {
		if w, g := want.Users(tn.ID), got.Users(tn.ID); !reflect.DeepEqual(w, g) {
			t.Fatalf("tenant %s: %d users, want %d (or they differ)", tn.ID, len(g), len(w))
		}
		if want.TenantUserCount(tn.ID) != got.TenantUserCount(tn.ID) {
			t.Fatalf("tenant %s user count", tn.ID)
		}
		for _, u := range want.Users(tn.ID) {
			for _, key := range []string{u.ID, u.UserPrincipalName} {
				if g, ok := got.User(key); !ok || g != u {
					t.Fatalf("User(%q) = %+v %v, want %+v", key, g, ok, u)
				}
			}
		}
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	for _, d := range []*Directory{Empty(), Demo(), changedDemo(t, 3000)} {
		b, err := AppendSnapshot(nil, d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeSnapshot(b)
		if err != nil {
			t.Fatal(err)
		}
		sameDirectory(t, d, got)
		if d.UserCount() > 3000 {
			if _, ok := got.User("new.person@contoso.dev"); !ok {
				t.Fatal("the user added on a page is not in the decoded directory")
			}
			if _, ok := got.User(DemoFabrikamUserNestor); ok {
				t.Fatal("a removed tenant's user is in the decoded directory")
			}
		}
		// What is decoded changes like any directory.
		if d.UserCount() > 0 {
			u, _ := got.User(DemoUserAdele)
			if err := got.ApplyPage(DemoTenantID, Page(u.ID), nil); err != nil {
				t.Fatal(err)
			}
			if _, ok := got.User(DemoUserAdele); ok {
				t.Fatal("a page emptied after decoding still has its users")
			}
		}
	}
}

// Every cut, and every byte changed, is an error or a valid directory,
// never a panic; a cut is always an error.
func TestSnapshotDamaged(t *testing.T) {
	b, err := AppendSnapshot(nil, changedDemo(t, 50))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(b); i++ {
		if _, err := DecodeSnapshot(b[:i]); !errors.Is(err, errSnapshot) {
			t.Fatalf("cut at %d: %v", i, err)
		}
		c := append([]byte(nil), b...)
		c[i] ^= 0x5a
		_, _ = DecodeSnapshot(c)
	}
	// Two users swapped: out of order.
	d := changedDemo(t, 50)
	s := d.cur.Load()
	tb := s.users.base
	tb.recs[0], tb.recs[1] = tb.recs[1], tb.recs[0]
	if b, err := AppendSnapshot(nil, d); err == nil {
		if _, err := DecodeSnapshot(b); !errors.Is(err, errSnapshot) {
			t.Fatalf("users out of order decoded: %v", err)
		}
	}
}

func FuzzDecodeSnapshot(f *testing.F) {
	for _, n := range []int{0, 3} {
		d, _ := DemoWithUsers(n)
		b, _ := AppendSnapshot(nil, d)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeSnapshot(b)
		if err != nil {
			return
		}
		// What decodes encodes again to a directory equal to it.
		again, err := AppendSnapshot(nil, d)
		if err != nil {
			t.Fatal(err)
		}
		d2, err := DecodeSnapshot(again)
		if err != nil {
			t.Fatalf("re-encoded snapshot does not decode: %v", err)
		}
		if fmt.Sprint(d.Tenants()) != fmt.Sprint(d2.Tenants()) || d.UserCount() != d2.UserCount() {
			t.Fatal("re-encoded snapshot differs")
		}
	})
}

func BenchmarkDecodeSnapshot(b *testing.B) {
	d, err := DemoWithUsers(MaxDemoUsers)
	if err != nil {
		b.Fatal(err)
	}
	buf, err := AppendSnapshot(nil, d)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeSnapshot(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(buf))/float64(MaxDemoUsers), "B/user")
}
