package directory

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/presenced/presenced/presence"
)

// model is the directory's users as a plain map, for the property test.
type model map[string]User // id → user (TenantID set)

// A directory changed page by page answers exactly as a plain map of its
// users does — by id and by UPN in any case, per tenant, in order, page by
// page — whether its changes sit in the delta, in a frozen layer or were
// folded into a new base, and through renames that swap userPrincipalNames,
// removals and re-additions.
func TestChangesMatchAModel(t *testing.T) {
	for _, mode := range []struct {
		name   string
		foldAt int
		inline bool
	}{{"delta only", 1 << 30, true}, {"folding inline every 7", 7, true}, {"folding in the background every 5", 5, false}} {
		t.Run(mode.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			ts := []Tenant{{ID: t1, Name: "A", Domains: []string{"a.example"}}, {ID: t2, Name: "B", Domains: []string{"b.example"}}}
			var start []UserEntry
			m := model{}
			for i := range 300 {
				tid, dom := t1, "a.example"
				if i%4 == 0 {
					tid, dom = t2, "b.example"
				}
				e := UserEntry{ID: fmt.Sprintf("%08x-1111-4111-8111-%012x", rng.Uint32(), i), TenantID: tid, UserPrincipalName: fmt.Sprintf("u%d@%s", i, dom), DisplayName: fmt.Sprint("User ", i)}
				start = append(start, e)
				m[e.ID] = e.View()
			}
			d, err := New(ts, start, nil)
			if err != nil {
				t.Fatal(err)
			}
			d.foldAt, d.foldInline = mode.foldAt, mode.inline
			base0 := d.cur.Load().users.base
			next := 1000
			for step := range 400 {
				// Pick a page of a tenant that has users, and change it.
				var pick User
				for _, u := range m {
					pick = u
					break
				}
				tid, p := pick.TenantID, Page(pick.ID)
				dom := map[string]string{t1: "a.example", t2: "b.example"}[tid]
				var page []User
				for _, u := range m {
					if u.TenantID == tid && Page(u.ID) == p {
						page = append(page, u)
					}
				}
				switch rng.IntN(4) {
				case 0: // remove one
					k := rng.IntN(len(page))
					delete(m, page[k].ID)
					page = slices.Delete(page, k, k+1)
				case 1: // rename one, to a name freed by another or a new one
					k := rng.IntN(len(page))
					page[k].DisplayName = fmt.Sprint("Renamed ", step)
					page[k].UserPrincipalName = fmt.Sprintf("R%d@%s", step, strings.ToUpper(dom))
					page[k].AccountEnabled = !page[k].AccountEnabled
					m[page[k].ID] = page[k]
				case 2: // swap two users' UPNs within the page
					if len(page) >= 2 {
						page[0].UserPrincipalName, page[1].UserPrincipalName = page[1].UserPrincipalName, page[0].UserPrincipalName
						m[page[0].ID], m[page[1].ID] = page[0], page[1]
					}
				case 3: // add a user on this page
					for {
						id := fmt.Sprintf("%08x-2222-4222-8222-%012x", rng.Uint32(), next)
						next++
						if Page(id) == p {
							u := User{ID: id, TenantID: tid, UserPrincipalName: fmt.Sprintf("n%d@%s", next, dom), AccountEnabled: true, HasPassword: true}
							page = append(page, u)
							m[id] = u
							break
						}
					}
				}
				rng.Shuffle(len(page), func(i, j int) { page[i], page[j] = page[j], page[i] })
				if err := d.ApplyPage(tid, p, page); err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
				if step%50 == 49 {
					d.WaitFolds()
					compare(t, d, m)
				}
			}
			d.WaitFolds()
			compare(t, d, m)
			if folded := d.cur.Load().users.base != base0; folded != (mode.foldAt < 100) {
				t.Errorf("folded: %v", folded)
			}
		})
	}
}

func compare(t *testing.T, d *Directory, m model) {
	t.Helper()
	if d.UserCount() != len(m) {
		t.Fatalf("UserCount %d, model %d", d.UserCount(), len(m))
	}
	for id, want := range m {
		for _, key := range []string{id, strings.ToUpper(id), want.UserPrincipalName, strings.ToLower(want.UserPrincipalName), strings.ToUpper(want.UserPrincipalName)} {
			if got, ok := d.User(key); !ok || got != want {
				t.Fatalf("User(%q) = %+v %v, want %+v", key, got, ok, want)
			}
		}
	}
	for _, tid := range []string{t1, t2} {
		var want []User
		for _, u := range m {
			if u.TenantID == tid {
				want = append(want, u)
			}
		}
		slices.SortFunc(want, func(a, b User) int { return keyOf(a.ID).cmp(keyOf(b.ID)) })
		if got := d.Users(tid); !slices.Equal(got, want) {
			t.Fatalf("Users(%s): %d users, want %d", tid, len(got), len(want))
		}
		if n := d.TenantUserCount(tid); n != len(want) {
			t.Fatalf("TenantUserCount(%s) = %d, want %d", tid, n, len(want))
		}
		// Paging by cursor passes everyone once.
		var paged []User
		after := ""
		for {
			var page []User
			d.ScanUsers(tid, after, func(u User) bool { page = append(page, u); return len(page) < 17 })
			if len(page) == 0 {
				break
			}
			paged = append(paged, page...)
			after = page[len(page)-1].ID
		}
		if !slices.Equal(paged, want) {
			t.Fatalf("paging %s: %d users, want %d", tid, len(paged), len(want))
		}
	}
}

// Removing a user, disabling one or taking a role away changes Version (a
// validated token of theirs is checked again); adding or renaming does not.
func TestVersionMovesWhenAccessIsTakenAway(t *testing.T) {
	d := Demo()
	adele, _ := d.User(DemoUserAdele)
	p := Page(adele.ID)
	page := d.PageUsers(DemoTenantID, p)
	v := d.Version()
	renamed := slices.Clone(page)
	for i := range renamed {
		renamed[i].DisplayName += " (renamed)"
	}
	if err := d.ApplyPage(DemoTenantID, p, renamed); err != nil || d.Version() != v {
		t.Fatalf("a rename moved Version: %v", err)
	}
	disabled := slices.Clone(renamed)
	for i := range disabled {
		disabled[i].AccountEnabled = false
	}
	if err := d.ApplyPage(DemoTenantID, p, disabled); err != nil || d.Version() == v {
		t.Fatalf("disabling did not move Version: %v", err)
	}
	v = d.Version()
	if err := d.ApplyPage(DemoTenantID, p, nil); err != nil || d.Version() == v {
		t.Fatalf("removing did not move Version: %v", err)
	}
	if _, ok := d.User(DemoUserAdele); ok {
		t.Fatal("a removed user is still found")
	}
}

// The checks a request's change goes through answer with Graph's words,
// and name nothing of another tenant.
func TestCheckUser(t *testing.T) {
	d := Demo()
	ok := UserEntry{ID: "11111111-2222-4333-8444-555555555555", TenantID: DemoTenantID, UserPrincipalName: "new@contoso.dev"}
	if err := d.CheckUser(ok); err != nil {
		t.Fatal(err)
	}
	adele, _ := d.User(DemoUserAdele)
	for _, c := range []struct {
		name   string
		change func(*UserEntry)
		code   presence.Code
		field  string
		want   string
	}{
		{"UPN taken", func(e *UserEntry) { e.UserPrincipalName = "ALEX@contoso.dev" }, presence.Conflict, "userPrincipalName", "Another object with the same value for property userPrincipalName already exists."},
		{"id of another tenant's user", func(e *UserEntry) { e.ID = DemoFabrikamUserNestor }, presence.Conflict, "id", "Another object with the same value for property id already exists."},
		{"id of an app", func(e *UserEntry) { e.ID = DemoDaemonClientID }, presence.Conflict, "id", "already exists"},
		{"id of a tenant", func(e *UserEntry) { e.ID = DemoFabrikamTenantID }, presence.Conflict, "id", "already exists"},
		{"UPN in another tenant's domain", func(e *UserEntry) { e.UserPrincipalName = "x@fabrikam.dev" }, presence.Invalid, "userPrincipalName", `domain "fabrikam.dev" is not a verified domain of tenant "Contoso"`},
		{"bad mail", func(e *UserEntry) { e.Mail = "not mail" }, presence.Invalid, "mail", "not an email address"},
		{"bad hash", func(e *UserEntry) { e.PasswordHash = "md5:abc" }, presence.Invalid, "passwordHash", "argon2id"},
		{"unknown tenant", func(e *UserEntry) { e.TenantID = t1 }, presence.Invalid, "tenantId", "not the id of any tenant"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := ok
			c.change(&e)
			err := d.CheckUser(e)
			pe, isPE := err.(*presence.Error)
			if !isPE || pe.Code != c.code || pe.Field != c.field || !strings.Contains(pe.Message, c.want) {
				t.Fatalf("%v, want %s %s %q", err, c.code, c.field, c.want)
			}
			if strings.Contains(pe.Message, DemoFabrikamTenantID) || strings.Contains(pe.Message, "nestor") {
				t.Errorf("the message names another tenant: %q", pe.Message)
			}
		})
	}
	// A user replacing itself keeps its own UPN.
	same := UserEntry{ID: adele.ID, TenantID: DemoTenantID, UserPrincipalName: "Adele@contoso.dev"}
	if err := d.CheckUser(same); err != nil {
		t.Errorf("a user replacing itself: %v", err)
	}
}

// Tenants and applications change one at a time; a domain still used by
// a user cannot be taken from its tenant; a tenant removed takes its users
// and applications with it.
func TestTenantAndAppChanges(t *testing.T) {
	d := Demo()
	c, _ := d.Tenant(DemoTenantID)
	c.Domains = []string{"contoso.example"}
	if err := d.PutTenant(c); err == nil || !strings.Contains(err.Error(), `"contoso.dev" is still used by user`) {
		t.Fatalf("dropping a domain in use: %v", err)
	}
	c.Domains = []string{DemoTenantDomain, "contoso.example"}
	c.ExternalAccess.AllowedDomains = []string{DemoFabrikamDomain}
	v := d.Version()
	if err := d.PutTenant(c); err != nil || d.Version() == v {
		t.Fatalf("adding a domain: %v", err)
	}
	if got, _ := d.Tenant("CONTOSO.example"); got.ID != DemoTenantID {
		t.Fatal("the new domain does not name the tenant")
	}
	f, _ := d.Tenant(DemoFabrikamTenantID)
	f.Domains = append(f.Domains, "contoso.example")
	if err := d.PutTenant(f); err == nil || !strings.Contains(err.Error(), "already a verified domain of tenant "+DemoTenantID) {
		t.Fatalf("a domain of another tenant: %v", err)
	}
	if !d.Admits(DemoTenantID, DemoFabrikamTenantID) || d.Trusted(DemoTenantID, DemoFabrikamTenantID) {
		t.Error("Contoso now admits Fabrikam, which does not admit it back")
	}

	app := App{ClientID: "22222222-3333-4444-8555-666666666666", TenantID: DemoFabrikamTenantID, Name: "new", Public: true, Scopes: []string{"presence.read"}}
	if err := d.PutApp(app); err != nil {
		t.Fatal(err)
	}
	if a, _ := d.App(app.ClientID); !slices.Equal(a.Scopes, []string{"Presence.Read"}) {
		t.Errorf("app scopes %v", a.Scopes)
	}
	app.TenantID = DemoTenantID
	if err := d.PutApp(app); err == nil || !strings.Contains(err.Error(), "cannot move") {
		t.Errorf("an app moving tenant: %v", err)
	}
	if !d.RemoveTenant(DemoFabrikamTenantID) {
		t.Fatal("RemoveTenant")
	}
	if _, ok := d.User(DemoFabrikamUserNestor); ok {
		t.Error("a removed tenant's user is still found")
	}
	if _, ok := d.App(DemoFabrikamDaemonClientID); ok {
		t.Error("a removed tenant's app is still found")
	}
	if _, ok := d.App(app.ClientID); ok {
		t.Error("a removed tenant's new app is still found")
	}
	if d.UserCount() != 5 {
		t.Errorf("%d users after removing Fabrikam", d.UserCount())
	}
	// Its domain is free again.
	nt := Tenant{ID: t1, Name: "New Fabrikam", Domains: []string{DemoFabrikamDomain}}
	if err := d.PutTenant(nt); err != nil {
		t.Fatal(err)
	}
	if n := len(d.Users(t1)); n != 0 {
		t.Errorf("the new tenant has %d users", n)
	}
}
