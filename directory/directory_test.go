package directory

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/presenced/presenced/presence"
)

const (
	t1 = "b8a2c0d4-6f1e-4a3b-9c5d-7e8f90a1b2c3"
	t2 = "0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f"
	u1 = "4d2c9a7e-1b3f-4e5a-8c6d-2f1e0a9b8c7d"
	u2 = "9e8f7a6b-5c4d-4e3f-a2b1-c0d9e8f7a6b5"
	a1 = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"
)

func base() ([]Tenant, []UserEntry, []App) {
	return []Tenant{{ID: t1, Name: "Northwind", Domains: []string{"northwind.example", "nw.example"}}},
		[]UserEntry{{ID: u1, TenantID: t1, UserPrincipalName: "nancy@northwind.example", Password: "pw"}},
		[]App{{ClientID: a1, TenantID: t1, Name: "sync", Secret: "s", Roles: []string{"Presence.Read.All"}, Scopes: []string{"Presence.Read"}}}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name   string
		change func(*[]Tenant, *[]UserEntry, *[]App)
		field  string
		want   string // substrings of the message, separated by |
	}{
		{"no tenants", func(ts *[]Tenant, us *[]UserEntry, as *[]App) { *ts = nil; *us = nil; *as = nil }, "tenants", "no tenants"},
		{"tenant id empty", func(ts *[]Tenant, _ *[]UserEntry, _ *[]App) { (*ts)[0].ID = "" }, "id", `tenants[0] ("Northwind")|id is empty`},
		{"tenant id uppercase", func(ts *[]Tenant, _ *[]UserEntry, _ *[]App) { (*ts)[0].ID = strings.ToUpper(t1) }, "id", "uppercase|" + t1},
		{"tenant id braces", func(ts *[]Tenant, _ *[]UserEntry, _ *[]App) { (*ts)[0].ID = "{" + t1 + "}" }, "id", "is not a GUID"},
		{"tenant id duplicate", func(ts *[]Tenant, _ *[]UserEntry, _ *[]App) {
			*ts = append(*ts, Tenant{ID: t1, Name: "Other", Domains: []string{"other.example"}})
		}, "id", `tenants[1] ("Other")|already the id of tenants[0]`},
		{"tenant name empty", func(ts *[]Tenant, _ *[]UserEntry, _ *[]App) { (*ts)[0].Name = " " }, "name", "name is empty"},
		{"tenant no domains", func(ts *[]Tenant, _ *[]UserEntry, _ *[]App) { (*ts)[0].Domains = nil }, "domains", "at least one verified domain"},
		{"bad domain", func(ts *[]Tenant, _ *[]UserEntry, _ *[]App) { (*ts)[0].Domains[1] = "nw_example.com" }, "domains[1]", `"nw_example.com" is not a valid domain`},
		{"single-label domain", func(ts *[]Tenant, _ *[]UserEntry, _ *[]App) { (*ts)[0].Domains[1] = "localhost" }, "domains[1]", "two labels"},
		{"duplicate domain", func(ts *[]Tenant, _ *[]UserEntry, _ *[]App) {
			*ts = append(*ts, Tenant{ID: t2, Name: "Other", Domains: []string{"NW.example"}})
		}, "domains[0]", `"NW.example" is already a verified domain of tenants[0]`},
		{"bad allowed domain", func(ts *[]Tenant, _ *[]UserEntry, _ *[]App) {
			(*ts)[0].ExternalAccess.AllowedDomains = []string{"a..b"}
		}, "externalAccess.allowedDomains[0]", "not a valid domain"},
		{"user id bad", func(_ *[]Tenant, us *[]UserEntry, _ *[]App) { (*us)[0].ID = "nancy" }, "id", `users[0] ("nancy@northwind.example")|id "nancy" is not a GUID`},
		{"user id duplicate", func(_ *[]Tenant, us *[]UserEntry, _ *[]App) {
			*us = append(*us, UserEntry{ID: u1, TenantID: t1, UserPrincipalName: "andrew@northwind.example"})
		}, "id", "users[1]|already the id of users[0]"},
		{"user tenant empty", func(_ *[]Tenant, us *[]UserEntry, _ *[]App) { (*us)[0].TenantID = "" }, "tenantId", "tenantId is empty"},
		{"user tenant unknown", func(_ *[]Tenant, us *[]UserEntry, _ *[]App) { (*us)[0].TenantID = t2 }, "tenantId", t2 + `" is not the id of any tenant`},
		{"user tenant by domain", func(_ *[]Tenant, us *[]UserEntry, _ *[]App) { (*us)[0].TenantID = "northwind.example" }, "tenantId", "is a domain; write the tenant's id"},
		{"upn empty", func(_ *[]Tenant, us *[]UserEntry, _ *[]App) { (*us)[0].UserPrincipalName = "" }, "userPrincipalName", "userPrincipalName is empty"},
		{"upn no at", func(_ *[]Tenant, us *[]UserEntry, _ *[]App) { (*us)[0].UserPrincipalName = "nancy" }, "userPrincipalName", "not of the form user@domain"},
		{"upn space", func(_ *[]Tenant, us *[]UserEntry, _ *[]App) { (*us)[0].UserPrincipalName = "nan cy@northwind.example" }, "userPrincipalName", "may not contain ' '"},
		{"upn foreign domain", func(_ *[]Tenant, us *[]UserEntry, _ *[]App) { (*us)[0].UserPrincipalName = "nancy@contoso.dev" }, "userPrincipalName", `domain "contoso.dev" is not a verified domain of tenant "Northwind"|northwind.example, nw.example`},
		{"upn duplicate", func(_ *[]Tenant, us *[]UserEntry, _ *[]App) {
			*us = append(*us, UserEntry{ID: u2, TenantID: t1, UserPrincipalName: "NANCY@northwind.example"})
		}, "userPrincipalName", "already used by users[0]"},
		{"display name too long", func(_ *[]Tenant, us *[]UserEntry, _ *[]App) { (*us)[0].DisplayName = strings.Repeat("é", 257) }, "displayName", "longer than 256 characters"},
		{"password too long", func(_ *[]Tenant, us *[]UserEntry, _ *[]App) { (*us)[0].Password = strings.Repeat("p", 257) }, "password", "longer than 256 characters"},
		{"upn duplicate differing only in non-ASCII case", func(_ *[]Tenant, us *[]UserEntry, _ *[]App) {
			(*us)[0].UserPrincipalName = "zoë@northwind.example"
			*us = append(*us, UserEntry{ID: u2, TenantID: t1, UserPrincipalName: "ZOË@northwind.example"})
		}, "userPrincipalName", "already used by users[0]"},
		{"app client id bad", func(_ *[]Tenant, _ *[]UserEntry, as *[]App) { (*as)[0].ClientID = "sync" }, "clientId", `applications[0] ("sync")|clientId "sync" is not a GUID`},
		{"app client id duplicate", func(_ *[]Tenant, _ *[]UserEntry, as *[]App) {
			*as = append(*as, App{ClientID: a1, TenantID: t1, Name: "again", Secret: "x"})
		}, "clientId", "already the client id of applications[0]"},
		{"app client id is a user", func(_ *[]Tenant, _ *[]UserEntry, as *[]App) { (*as)[0].ClientID = u1 }, "clientId", "also a user id"},
		{"app tenant unknown", func(_ *[]Tenant, _ *[]UserEntry, as *[]App) { (*as)[0].TenantID = t2 }, "tenantId", "not the id of any tenant"},
		{"app name empty", func(_ *[]Tenant, _ *[]UserEntry, as *[]App) { (*as)[0].Name = "" }, "name", "applications[0]|name is empty"},
		{"confidential without secret", func(_ *[]Tenant, _ *[]UserEntry, as *[]App) { (*as)[0].Secret = "" }, "secret", `secret is empty|"public": true`},
		{"unknown role", func(_ *[]Tenant, _ *[]UserEntry, as *[]App) { (*as)[0].Roles = []string{"Presence.ReadWrite"} }, "roles[0]", `"Presence.ReadWrite" is not one of the application permissions|Presence.Read.All, Presence.ReadWrite.All`},
		{"unknown scope", func(_ *[]Tenant, _ *[]UserEntry, as *[]App) { (*as)[0].Scopes = []string{"Presence.Read", "Mail.Read"} }, "scopes[1]", `"Mail.Read" is not one of the delegated scopes`},
		{"scope as role", func(_ *[]Tenant, _ *[]UserEntry, as *[]App) { (*as)[0].Scopes = []string{"Presence.ReadWrite.All"} }, "scopes[0]", "not one of the delegated scopes"},
		{"duplicate role", func(_ *[]Tenant, _ *[]UserEntry, as *[]App) {
			(*as)[0].Roles = []string{"Presence.Read.All", "presence.read.all"}
		}, "roles[1]", "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, us, as := base()
			tt.change(&ts, &us, &as)
			d, err := New(ts, us, as)
			if err == nil {
				t.Fatalf("New accepted it: %+v", d)
			}
			pe, ok := err.(*presence.Error)
			if !ok || pe.Code != presence.Invalid {
				t.Fatalf("error %T %v, want *presence.Error Invalid", err, err)
			}
			if pe.Field != tt.field {
				t.Errorf("field %q, want %q", pe.Field, tt.field)
			}
			for _, w := range strings.Split(tt.want, "|") {
				if !strings.Contains(pe.Message, w) {
					t.Errorf("message %q lacks %q", pe.Message, w)
				}
			}
		})
	}
}

func TestNewCanonicalizesPermissions(t *testing.T) {
	ts, us, as := base()
	as[0].Roles = []string{"presence.readwrite.all"}
	as[0].Scopes = []string{"PRESENCE.READ", "OpenID"}
	d, err := New(ts, us, as)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := d.App(a1)
	if !slices.Equal(a.Roles, []string{"Presence.ReadWrite.All"}) || !slices.Equal(a.Scopes, []string{"Presence.Read", "openid"}) {
		t.Fatalf("roles %v scopes %v", a.Roles, a.Scopes)
	}
}

func TestLookups(t *testing.T) {
	d := Demo()
	tests := []struct {
		name string
		got  func() (string, bool)
		want string // "" = not found
	}{
		{"tenant by id", func() (string, bool) { t, ok := d.Tenant(DemoTenantID); return t.Name, ok }, "Contoso"},
		{"tenant by upper id", func() (string, bool) { t, ok := d.Tenant(strings.ToUpper(DemoTenantID)); return t.Name, ok }, "Contoso"},
		{"tenant by domain", func() (string, bool) { t, ok := d.Tenant("Fabrikam.DEV"); return t.Name, ok }, "Fabrikam"},
		{"tenant unknown", func() (string, bool) { t, ok := d.Tenant("northwind.example"); return t.Name, ok }, ""},
		{"tenant by user id", func() (string, bool) { t, ok := d.Tenant(DemoUserAdele); return t.Name, ok }, ""},
		{"user by id", func() (string, bool) { u, ok := d.User(DemoUserAdele); return u.UserPrincipalName, ok }, "adele@contoso.dev"},
		{"user by upper id", func() (string, bool) { u, ok := d.User(strings.ToUpper(DemoUserAlex)); return u.UserPrincipalName, ok }, "alex@contoso.dev"},
		{"user by upn", func() (string, bool) { u, ok := d.User("Megan@Contoso.dev"); return u.ID, ok }, DemoUserMegan},
		{"user other tenant", func() (string, bool) { u, ok := d.User("nestor@fabrikam.dev"); return u.TenantID, ok }, DemoFabrikamTenantID},
		{"user unknown", func() (string, bool) { u, ok := d.User("nobody@contoso.dev"); return u.ID, ok }, ""},
		{"user empty", func() (string, bool) { u, ok := d.User(""); return u.ID, ok }, ""},
		{"user in tenant", func() (string, bool) { u, ok := d.UserInTenant(DemoTenantID, "diego@contoso.dev"); return u.ID, ok }, DemoUserDiego},
		{"user in tenant by domain", func() (string, bool) { u, ok := d.UserInTenant("contoso.dev", DemoUserLynne); return u.DisplayName, ok }, "Lynne Robbins"},
		{"user in wrong tenant", func() (string, bool) { u, ok := d.UserInTenant(DemoTenantID, DemoFabrikamUserIsaiah); return u.ID, ok }, ""},
		{"user in unknown tenant", func() (string, bool) { u, ok := d.UserInTenant("x.example", DemoUserAdele); return u.ID, ok }, ""},
		{"app", func() (string, bool) { a, ok := d.App(DemoDaemonClientID); return a.Name, ok }, DemoDaemonName},
		{"app upper", func() (string, bool) { a, ok := d.App(strings.ToUpper(DemoClientID)); return a.Name, ok }, DemoClientName},
		{"app unknown", func() (string, bool) { a, ok := d.App(DemoUserAdele); return a.Name, ok }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.got()
			if ok != (tt.want != "") || got != tt.want {
				t.Fatalf("got %q %v, want %q", got, ok, tt.want)
			}
		})
	}
	if n := len(d.Users(DemoTenantID)); n != 5 {
		t.Errorf("Contoso has %d users, want 5", n)
	}
	if n := len(d.Users(DemoFabrikamDomain)); n != 2 {
		t.Errorf("Fabrikam has %d users, want 2", n)
	}
	if d.Users("unknown.example") != nil {
		t.Error("Users of an unknown tenant")
	}
	if ts := d.Tenants(); len(ts) != 2 || ts[0].ID != DemoTenantID || ts[1].ID != DemoFabrikamTenantID {
		t.Errorf("Tenants() = %+v", ts)
	}
}

func TestReturnedValuesAreCopies(t *testing.T) {
	d := Demo()
	a, _ := d.App(DemoDaemonClientID)
	a.Roles[0] = "changed"
	tn, _ := d.Tenant(DemoTenantID)
	tn.Domains[0] = "changed"
	if a, _ := d.App(DemoDaemonClientID); a.Roles[0] != "Presence.ReadWrite.All" {
		t.Error("App roles can be changed through a returned value")
	}
	if tn, _ := d.Tenant(DemoTenantID); tn.Domains[0] != DemoTenantDomain {
		t.Error("Tenant domains can be changed through a returned value")
	}
}

func TestTrust(t *testing.T) {
	d := load(t, filepath.Join("testdata", "example.json"))
	nw, ts := "northwind.example", "tailspin.example"
	if !d.Admits(nw, ts) || !d.Admits(ts, nw) || !d.Trusted(nw, ts) || !d.Trusted(ts, nw) {
		t.Error("Northwind allows tailspin.example and Tailspin allows all: they trust each other")
	}
	if !d.Trusted(nw, nw) {
		t.Error("a tenant trusts itself")
	}
	if d.Trusted(nw, "unknown.example") {
		t.Error("unknown tenant trusted")
	}

	tenants := []Tenant{
		{ID: t1, Name: "A", Domains: []string{"a.example", "a2.example"}, ExternalAccess: ExternalAccess{AllowAllExternal: true, BlockedDomains: []string{"c.example"}}},
		{ID: t2, Name: "B", Domains: []string{"b.example"}, ExternalAccess: ExternalAccess{AllowedDomains: []string{"A2.example"}}},
		{ID: "22222222-2222-4222-8222-222222222222", Name: "C", Domains: []string{"c.example"}, ExternalAccess: ExternalAccess{AllowAllExternal: true}},
		{ID: "33333333-3333-4333-8333-333333333333", Name: "D", Domains: []string{"d.example"}},
	}
	d, err := New(tenants, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		a, b   string
		admits bool
	}{
		{"a.example", "b.example", true},  // allow all
		{"b.example", "a.example", true},  // one of A's domains is allowed
		{"a.example", "c.example", false}, // blocked beats allow all
		{"c.example", "a.example", true},
		{"a.example", "d.example", true},
		{"d.example", "a.example", false}, // zero policy admits nobody
		{"b.example", "c.example", false},
	}
	for _, tt := range tests {
		if got := d.Admits(tt.a, tt.b); got != tt.admits {
			t.Errorf("Admits(%s, %s) = %v", tt.a, tt.b, got)
		}
	}
	if !d.Trusted("a.example", "b.example") || d.Trusted("a.example", "c.example") || d.Trusted("a.example", "d.example") {
		t.Error("Trusted must be mutual")
	}
	if Demo().Trusted(DemoTenantID, DemoFabrikamTenantID) {
		t.Error("the demo tenants do not trust each other")
	}
}

func TestServicePrincipalID(t *testing.T) {
	a := App{ClientID: DemoDaemonClientID}
	id := a.ServicePrincipalID()
	if !IsGUID(id) || id[14] != '5' || !strings.ContainsAny(id[19:20], "89ab") {
		t.Fatalf("%q is not a lowercase UUIDv5", id)
	}
	if id != (App{ClientID: strings.ToUpper(DemoDaemonClientID)}).ServicePrincipalID() {
		t.Error("not stable under case")
	}
	if id == (App{ClientID: DemoClientID}).ServicePrincipalID() || id == DemoDaemonClientID {
		t.Error("not distinct")
	}
	// Pinned: tokens issued before a restart carry it.
	if id != "31ef948d-81f6-594f-9bd7-14b0bd72dd67" {
		t.Errorf("ServicePrincipalID(%s) = %s, a change breaks issued tokens", DemoDaemonClientID, id)
	}
}

// load reads and builds a directory file.
func load(t *testing.T, path string) *Directory {
	t.Helper()
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.Build()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLoadExample(t *testing.T) {
	d := load(t, filepath.Join("testdata", "example.json"))
	if n := len(d.Tenants()); n != 2 {
		t.Fatalf("%d tenants", n)
	}
	u, ok := d.User("andrew@nwtraders.example")
	if !ok || u.DisplayName != "Andrew Fuller" || u.TenantID != t1 || u.HasPassword || !u.AccountEnabled {
		t.Fatalf("andrew: %+v %v", u, ok)
	}
	if u, _ := d.UserInTenant("nwtraders.example", "nancy@northwind.example"); !u.HasPassword {
		t.Error("nancy has no password")
	}
	a, ok := d.App("d2e3f4a5-b6c7-4d8e-9f0a-1b2c3d4e5f6a")
	if !ok || !a.Public || a.Secret != "" || len(a.Scopes) != 7 {
		t.Fatalf("dashboard: %+v", a)
	}
	tn, _ := d.Tenant(t2)
	if !tn.ExternalAccess.AllowAllExternal || !slices.Equal(tn.ExternalAccess.BlockedDomains, []string{"spam.example"}) {
		t.Fatalf("tailspin policy: %+v", tn.ExternalAccess)
	}
}

func TestLoadBadFiles(t *testing.T) {
	tests := []struct {
		file  string
		field string
		want  string // substrings separated by |
	}{
		{"bad-unknown-field.json", "users[0]", `users[0] has an unknown field "passwrd" (line 4, column 152)|known fields are: id, tenantId, userPrincipalName, displayName, mail, accountEnabled, userAdministrator, password, passwordHash`},
		{"bad-unknown-top-level.json", "apps", `unknown top-level field "apps" at line 3, column 3|tenants, users, applications`},
		{"bad-syntax.json", "", "JSON syntax error at line 2|invalid character '}'"},
		{"bad-type.json", "tenants[0].domains", "tenants[0].domains must be an array, not a JSON string (line 2, column"},
		{"bad-guid.json", "id", "bad-guid.json: directory: tenants[0] (\"Northwind\"): id \"B8A2C0D4-6F1E-4A3B-9C5D-7E8F90A1B2C3\" has uppercase letters"},
		{"bad-upn-domain.json", "userPrincipalName", `users[0] ("nancy@contoso.dev")|domain "contoso.dev" is not a verified domain of tenant "Northwind"`},
		{"bad-role.json", "roles[0]", `applications[0] ("sync")|"Presence.ReadWrite" is not one of the application permissions`},
		{"bad-unknown-tenant.json", "tenantId", `applications[0] ("sync")|tenantId "0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f" is not the id of any tenant`},
		{"bad-duplicate-upn.json", "userPrincipalName", `users[1] ("Nancy@Northwind.example")|already used by users[0]`},
		{"bad-empty.json", "", "the file is empty"},
		{"bad-not-object.json", "", "must be a JSON object|not an array"},
		{"missing.json", "", "missing.json: no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			_, err := Load(path)
			if err == nil {
				t.Fatal("Load accepted it")
			}
			pe, ok := err.(*presence.Error)
			if !ok || pe.Code != presence.Invalid {
				t.Fatalf("error %T %v, want *presence.Error Invalid", err, err)
			}
			if pe.Field != tt.field {
				t.Errorf("field %q, want %q", pe.Field, tt.field)
			}
			if !strings.Contains(pe.Message, path) && tt.file != "missing.json" {
				t.Errorf("message %q does not name the file", pe.Message)
			}
			for _, w := range strings.Split(tt.want, "|") {
				if !strings.Contains(pe.Message, w) {
					t.Errorf("message %q lacks %q", pe.Message, w)
				}
			}
		})
	}
}

func TestParseMore(t *testing.T) {
	tn := fmt.Sprintf(`{"id":%q,"name":"N","domains":["n.example"]}`, t1)
	tests := []struct {
		json string
		want string
	}{
		{`{"tenants":[` + tn + `]} {}`, "unexpected data after the JSON object"},
		{`{"tenants":[` + tn + `],"tenants":[]}`, `"tenants" appears twice`},
		{`{"tenants":[null]}`, "tenants[0] (line 1, column 13) is null"},
		{`{"tenants":{}}`, `"tenants" must be an array, not an object`},
		{`{"users":[]}`, `no "tenants" array`},
		{`{"tenants":[` + tn + `],"applications":[{"clientId":1}]}`, "applications[0].clientId must be a string, not a JSON number"},
		{`{"tenants":[` + tn + `],"applications":[{"clientId":"x","public":"yes"}]}`, "applications[0].public must be true or false"},
		{`{"tenants":[{"id":"x","externalAccess":{"allowed":[]}}]}`, `tenants[0] has an unknown field "allowed"`},
		{`{"tenants":[` + tn, "ends too early"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.json))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%s) = %v, want %q", tt.json, err, tt.want)
		}
	}
	f, err := Parse([]byte(`{"tenants":[` + tn + `],"users":null}`))
	if err != nil || len(f.Users) != 0 {
		t.Errorf("users null: %v", err)
	}
}

func TestDemo(t *testing.T) {
	d := Demo()
	for _, id := range []string{DemoUserAdele, DemoUserAlex, DemoUserMegan, DemoUserLynne, DemoUserDiego} {
		u, ok := d.User(id)
		if !ok || u.TenantID != DemoTenantID || !strings.HasSuffix(u.UserPrincipalName, "@contoso.dev") || u.DisplayName == "" {
			t.Errorf("demo user %s: %+v", id, u)
		}
		if !u.HasPassword || !u.AccountEnabled {
			t.Errorf("%s cannot sign in with the demo password", u.UserPrincipalName)
		}
	}
	daemon, _ := d.App(DemoDaemonClientID)
	if len(daemon.Secrets) != 1 || daemon.Secrets[0].Hint != DemoDaemonSecret[:3] || daemon.Public || !slices.Equal(daemon.Roles, []string{"Presence.ReadWrite.All", "Calendars.ReadWrite", "MailboxSettings.ReadWrite"}) {
		t.Errorf("daemon: %+v", daemon)
	}
	client, _ := d.App(DemoClientID)
	if !client.Public || !slices.Equal(client.Scopes, []string{"Presence.Read", "Presence.Read.All", "Presence.ReadWrite", "Calendars.ReadWrite", "MailboxSettings.ReadWrite", "User.ReadBasic.All"}) ||
		!slices.Equal(client.SPARedirectURIs, DemoBoardRedirectURIs()) {
		t.Errorf("client: %+v", client)
	}
	fd, ok := d.App(DemoFabrikamDaemonClientID)
	if !ok || fd.TenantID != DemoFabrikamTenantID || len(fd.Secrets) != 1 {
		t.Errorf("fabrikam daemon: %+v", fd)
	}
	for _, id := range []string{DemoFabrikamUserNestor, DemoFabrikamUserIsaiah} {
		if _, ok := d.UserInTenant(DemoFabrikamDomain, id); !ok {
			t.Errorf("fabrikam user %s", id)
		}
	}
}

// TestLookupsAtScale checks the compact user table against a plain map over
// enough users that the index probes through collisions, with ids and UPNs
// in every case and names of every length.
func TestLookupsAtScale(t *testing.T) {
	const n = 20000
	ts := []Tenant{
		{ID: t1, Name: "Big", Domains: []string{"big.example"}},
		{ID: t2, Name: "Other", Domains: []string{"other.example"}},
	}
	us := make([]UserEntry, n)
	for i := range us {
		tenant, dom := t1, "big.example"
		if i%3 == 0 {
			tenant, dom = t2, "Other.Example"
		}
		us[i] = UserEntry{
			ID:                fmt.Sprintf("%08x-0000-4000-8000-%012x", i*2654435761%(1<<32), i),
			TenantID:          tenant,
			UserPrincipalName: fmt.Sprintf("%s.%d@%s", strings.Repeat("Ü", i%5), i, dom),
			DisplayName:       strings.Repeat("n", i%300%257),
			Password:          strings.Repeat("p", i%7),
		}
	}
	d, err := New(ts, us, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range us {
		want := e.View()
		for _, key := range []string{want.ID, strings.ToUpper(want.ID), want.UserPrincipalName, strings.ToLower(want.UserPrincipalName), strings.ToUpper(want.UserPrincipalName)} {
			got, ok := d.User(key)
			if !ok || got != want {
				t.Fatalf("User(%q) = %+v, %v; want users[%d] %+v", key, got, ok, i, want)
			}
		}
		if _, ok := d.UserInTenant(map[string]string{t1: t2, t2: t1}[want.TenantID], want.ID); ok {
			t.Fatalf("users[%d] found in the other tenant", i)
		}
	}
	for _, miss := range []string{"", "x", "ffffffff-ffff-4fff-8fff-ffffffffffff", ".1@big.example", "ü.1@other.example", strings.Repeat("a", 36)} {
		if u, ok := d.User(miss); ok {
			t.Errorf("User(%q) found %+v", miss, u)
		}
	}
	if got := len(d.Users(t2)); got != (n+2)/3 {
		t.Errorf("Users(%s) has %d users, want %d", t2, got, (n+2)/3)
	}
	got := d.Users("big.example")
	if len(got) != n-(n+2)/3 {
		t.Errorf("Users(big.example): %d users", len(got))
	}
	// In (page, id) order, each once.
	for i := 1; i < len(got); i++ {
		if !keyOf(got[i-1].ID).less(keyOf(got[i].ID)) {
			t.Fatalf("Users(big.example) out of order at %d: %s then %s", i, got[i-1].ID, got[i].ID)
		}
	}
}

// BenchmarkDirectoryHeap reports the heap a directory keeps per user.
func BenchmarkDirectoryHeap(b *testing.B) {
	const n = 200000
	ts := []Tenant{{ID: t1, Name: "Big", Domains: []string{"big.example"}}}
	for b.Loop() {
		us := make([]UserEntry, n)
		for i := range us {
			us[i] = UserEntry{ID: fmt.Sprintf("%08x-0000-4000-8000-000000000000", i), TenantID: t1, UserPrincipalName: fmt.Sprintf("user%d@big.example", i), DisplayName: fmt.Sprintf("User %d", i)}
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		d, err := New(ts, us, nil)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(us) // counted in both: the difference is the directory's own
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "heapB/user")
		runtime.KeepAlive(d)
	}
}

// BenchmarkUserByID is the lookup of every Graph request on a user: by
// id, in random order over 100,000 users, in a directory without and with
// changes not yet folded into its base (a live directory's usual state).
// The setup's garbage is collected first: its collection would otherwise
// run in the timed loop.
func BenchmarkUserByID(b *testing.B) {
	const n = 100000
	ts := []Tenant{{ID: t1, Name: "Big", Domains: []string{"big.example"}}}
	us := make([]UserEntry, n)
	ids := make([]string, n)
	for i := range us {
		ids[i] = fmt.Sprintf("%08x-0000-4000-8000-000000000000", i)
		us[i] = UserEntry{ID: ids[i], TenantID: t1, UserPrincipalName: fmt.Sprintf("u%d@big.example", i)}
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(n, func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	d, err := New(ts, us, nil)
	if err != nil {
		b.Fatal(err)
	}
	lookups := func(b *testing.B) {
		runtime.GC()
		for i := 0; b.Loop(); i++ {
			if _, ok := d.User(ids[i%n]); !ok {
				b.Fatal("not found")
			}
		}
	}
	b.Run("base", lookups)
	d.foldAt = n // no fold: the changes stay in the delta
	pages := map[int][]User{}
	for _, e := range us {
		if p := Page(e.ID); p < 40 { // ~1,000 users
			u := e.View()
			u.DisplayName = "changed"
			pages[p] = append(pages[p], u)
		}
	}
	for p, users := range pages {
		if err := d.ApplyPage(t1, p, users); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("delta", lookups)
}

func BenchmarkUserLookup(b *testing.B) {
	const n = 100000
	ts := []Tenant{{ID: t1, Name: "Big", Domains: []string{"big.example"}}}
	us := make([]UserEntry, n)
	for i := range us {
		us[i] = UserEntry{ID: fmt.Sprintf("%08x-0000-4000-8000-000000000000", i), TenantID: t1, UserPrincipalName: fmt.Sprintf("u%d@big.example", i)}
	}
	d, err := New(ts, us, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, ok := d.User(fmt.Sprintf("U%d@big.example", i%n)); !ok {
			b.Fatal("not found")
		}
	}
}
