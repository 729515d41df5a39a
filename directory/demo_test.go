package directory

import "testing"

// The generated demo users are deterministic, valid and unique, each found
// by id and by userPrincipalName in Contoso, beside the five named users,
// who stay as they are.
func TestDemoWithUsers(t *testing.T) {
	const n = 10_000
	d, err := DemoWithUsers(n)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.UserCount(), Demo().UserCount()+n; got != want {
		t.Fatalf("%d users, want %d", got, want)
	}
	// Stable across runs and versions: load tests and scripts name them.
	if id, upn := DemoUserID(7), DemoUserUPN(7); id != "de000000-0000-4000-8000-000000000007" || upn != "user7@contoso.dev" {
		t.Errorf("user 7 is %s %s", id, upn)
	}
	if id := DemoUserID(MaxDemoUsers); id != "de000000-0000-4000-8000-0000000f4240" {
		t.Errorf("user %d is %s", MaxDemoUsers, id)
	}
	seen := map[string]int{}
	for i := 1; i <= n; i++ {
		id, upn := DemoUserID(i), DemoUserUPN(i)
		if j, dup := seen[id]; dup {
			t.Fatalf("users %d and %d share id %s", j, i, id)
		}
		seen[id] = i
		u, ok := d.UserInTenant(DemoTenantDomain, upn)
		if !ok || u.ID != id || u.TenantID != DemoTenantID {
			t.Fatalf("user %d by UPN %s: %+v %v", i, upn, u, ok)
		}
		if u, ok := d.User(id); !ok || u.UserPrincipalName != upn {
			t.Fatalf("user %d by id %s: %+v %v", i, id, u, ok)
		}
	}
	if u, _ := d.User(DemoUserUPN(n)); !u.HasPassword {
		t.Errorf("generated user %d cannot sign in with the demo password", n)
	}
	for _, named := range []string{DemoUserAdele, DemoUserAlex, DemoUserMegan, DemoUserLynne, DemoUserDiego} {
		if _, ok := d.UserInTenant(DemoTenantID, named); !ok {
			t.Errorf("named demo user %s is gone", named)
		}
	}
	if _, ok := d.User(DemoUserID(n + 1)); ok {
		t.Errorf("user %d exists in a directory of %d", n+1, n)
	}
	// The same n gives the same users.
	again, err := DemoWithUsers(n)
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := again.User(DemoUserUPN(4321)); u.ID != DemoUserID(4321) {
		t.Errorf("a second directory has user 4321 as %s", u.ID)
	}
	for _, bad := range []int{-1, MaxDemoUsers + 1} {
		if _, err := DemoWithUsers(bad); err == nil {
			t.Errorf("DemoWithUsers(%d) made a directory", bad)
		}
	}
	if d, err := DemoWithUsers(0); err != nil || d.UserCount() != Demo().UserCount() {
		t.Errorf("DemoWithUsers(0): %v", err)
	}
}
