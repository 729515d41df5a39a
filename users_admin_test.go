package presenced_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/presenced/presenced/directory"
)

// The user administrator app of orgFile, and its secret.
const (
	adminAppID     = "a0a0a0a0-1111-4222-8333-444444444444"
	adminAppSecret = "user-admin-secret"
)

// orgFile is the demo directory with what user administration needs: an
// application with User.ReadWrite.All, Megan as a User Administrator, and
// the demo client's users consenting to User.ReadWrite.All and User.Read.
func orgFile() *directory.File {
	f := directory.DemoFile(0)
	f.Applications = append(f.Applications, directory.App{ClientID: adminAppID, TenantID: directory.DemoTenantID, Name: "user admin",
		Secret: adminAppSecret, Roles: []string{"User.ReadWrite.All", "Presence.ReadWrite.All"}})
	for i := range f.Applications {
		if f.Applications[i].ClientID == directory.DemoClientID {
			f.Applications[i].Scopes = append(f.Applications[i].Scopes, "User.ReadWrite.All", "User.Read")
		}
	}
	for i := range f.Users {
		if f.Users[i].ID == directory.DemoUserMegan {
			f.Users[i].UserAdministrator = true
		}
	}
	return f
}

func (e *env) adminToken() string {
	return e.tokenAt(directory.DemoTenantID, adminAppID, adminAppSecret)
}

// TestUserAdministration: Graph's user administration for the properties
// presenced keeps — create, read by id and by userPrincipalName, change,
// delete — by an application with User.ReadWrite.All and by a User
// Administrator signed in.
func TestUserAdministration(t *testing.T) {
	e := startWith(t, orgFile())
	admin := e.adminToken()

	r := e.call("POST", "/v1.0/users", admin, map[string]any{
		"accountEnabled": true, "displayName": "Nestor Newhire", "mailNickname": "nestor", "userPrincipalName": "newhire@contoso.dev",
		"mail": "newhire@contoso.dev", "passwordProfile": map[string]any{"forceChangePasswordNextSignIn": false, "password": "Welcome-2026!"},
		"@odata.type": "#microsoft.graph.user",
	})
	if r.status != 201 || r.str("displayName") != "Nestor Newhire" || r.str("mail") != "newhire@contoso.dev" || !directory.IsGUID(r.str("id")) ||
		r.str("@odata.context") != e.srv.URL()+"/v1.0/$metadata#users/$entity" || r.header.Get("Location") != e.srv.URL()+"/v1.0/users/"+r.str("id") {
		t.Fatalf("create: %d %s %v", r.status, r.raw, r.header)
	}
	id := r.str("id")
	// The new user signs in with the password set, and has presence.
	tok := e.tokenReq(url.Values{"grant_type": {"password"}, "client_id": {directory.DemoClientID},
		"username": {"newhire@contoso.dev"}, "password": {"Welcome-2026!"}, "scope": {"User.Read Presence.Read"}})
	me := e.call("GET", "/v1.0/me?$select=id,userPrincipalName,accountEnabled", tok, nil)
	if me.status != 200 || me.str("id") != id || me.body["accountEnabled"] != true || len(me.body) != 4 {
		t.Fatalf("GET /me: %d %s", me.status, me.raw)
	}
	if r := e.call("GET", "/v1.0/me/presence", tok, nil); r.status != 200 {
		t.Fatalf("the new user's presence: %d %s", r.status, r.raw)
	}

	for _, name := range []string{id, strings.ToUpper(id), "NEWHIRE@contoso.dev"} {
		r := e.call("GET", "/v1.0/users/"+name, admin, nil)
		if r.status != 200 || r.str("id") != id || r.str("userPrincipalName") != "newhire@contoso.dev" {
			t.Fatalf("GET %s: %d %s", name, r.status, r.raw)
		}
	}

	if r := e.call("PATCH", "/v1.0/users/"+id, admin, map[string]any{"displayName": "Nestor N.", "userPrincipalName": "nestor.n@contoso.dev", "accountEnabled": false, "mail": nil}); r.status != 204 || len(r.raw) != 0 {
		t.Fatalf("PATCH: %d %s", r.status, r.raw)
	}
	r = e.call("GET", "/v1.0/users/nestor.n@contoso.dev?$select=displayName,accountEnabled,mail", admin, nil)
	if r.status != 200 || r.str("displayName") != "Nestor N." || r.body["accountEnabled"] != false || r.body["mail"] != nil {
		t.Fatalf("after PATCH: %d %s", r.status, r.raw)
	}
	if r := e.call("GET", "/v1.0/me", tok, nil); r.status != 401 {
		t.Fatalf("a disabled user's token: %d", r.status)
	}

	// Megan, a User Administrator, signed in with User.ReadWrite.All.
	megan := e.userToken("megan", "User.ReadWrite.All")
	if r := e.call("DELETE", "/v1.0/users/"+id, megan, nil); r.status != 204 {
		t.Fatalf("DELETE by a User Administrator: %d %s", r.status, r.raw)
	}
	if r := e.call("GET", "/v1.0/users/"+id, admin, nil); r.status != 404 || r.errCode() != "itemNotFound" {
		t.Fatalf("GET after DELETE: %d %s", r.status, r.raw)
	}
	if r := e.call("DELETE", "/v1.0/users/"+id, admin, nil); r.status != 404 {
		t.Fatalf("DELETE again: %d %s", r.status, r.raw)
	}
}

// Bad input at the user endpoints: a Graph error body naming what was
// wrong, and nothing written.
func TestUserAdministrationRejects(t *testing.T) {
	e := startWith(t, orgFile())
	admin := e.adminToken()
	alex := e.user("alex")
	valid := func(change func(map[string]any)) map[string]any {
		b := map[string]any{"displayName": "X", "userPrincipalName": "x@contoso.dev", "accountEnabled": true}
		change(b)
		return b
	}
	adeleUser := e.userToken("adele", "User.ReadWrite.All")
	fabrikam := e.tokenAt(directory.DemoFabrikamTenantID, directory.DemoFabrikamDaemonClientID, directory.DemoFabrikamDaemonSecret)
	for _, c := range []struct {
		name, method, path, token string
		body                      any
		status                    int
		code, want                string
	}{
		{"duplicate UPN", "POST", "/v1.0/users", admin, valid(func(b map[string]any) { b["userPrincipalName"] = "ALEX@contoso.dev" }), 400, "invalidRequest", "Another object with the same value for property userPrincipalName already exists."},
		{"UPN outside the tenant's domains", "POST", "/v1.0/users", admin, valid(func(b map[string]any) { b["userPrincipalName"] = "x@fabrikam.dev" }), 400, "invalidRequest", `domain "fabrikam.dev" is not a verified domain`},
		{"UPN not an address", "POST", "/v1.0/users", admin, valid(func(b map[string]any) { b["userPrincipalName"] = "x" }), 400, "invalidRequest", "user@domain"},
		{"no displayName", "POST", "/v1.0/users", admin, map[string]any{"userPrincipalName": "x@contoso.dev"}, 400, "invalidRequest", "'displayName' is required"},
		{"id given", "POST", "/v1.0/users", admin, valid(func(b map[string]any) { b["id"] = alex }), 400, "invalidRequest", "'id' is read-only"},
		{"a property not kept", "POST", "/v1.0/users", admin, valid(func(b map[string]any) { b["jobTitle"] = "CEO" }), 400, "invalidRequest", "'jobTitle' of a user is not kept"},
		{"an unknown property", "POST", "/v1.0/users", admin, valid(func(b map[string]any) { b["favouriteColour"] = "red" }), 400, "invalidRequest", "'favouriteColour' does not exist"},
		{"a property in the wrong case", "POST", "/v1.0/users", admin, valid(func(b map[string]any) { b["DisplayName"] = "x" }), 400, "invalidRequest", "did you mean 'displayName'"},
		{"a wrong type", "POST", "/v1.0/users", admin, valid(func(b map[string]any) { b["accountEnabled"] = "yes" }), 400, "invalidRequest", "true or false"},
		{"a name twice", "POST", "/v1.0/users", admin, `{"displayName":"a","displayName":"b","userPrincipalName":"x@contoso.dev"}`, 400, "invalidRequest", "displayName"},
		{"not JSON", "POST", "/v1.0/users", admin, `{"displayName":`, 400, "UnableToDeserializePostBody", ""},
		{"too long a name", "POST", "/v1.0/users", admin, valid(func(b map[string]any) { b["displayName"] = strings.Repeat("n", 257) }), 400, "invalidRequest", "longer than 256"},
		{"an empty password", "POST", "/v1.0/users", admin, valid(func(b map[string]any) { b["passwordProfile"] = map[string]any{"password": ""} }), 400, "invalidRequest", "passwordProfile.password"},
		{"a body too large", "POST", "/v1.0/users", admin, valid(func(b map[string]any) { b["mailNickname"] = strings.Repeat("n", 200<<10) }), 413, "requestEntityTooLarge", ""},
		{"no permission", "POST", "/v1.0/users", e.appToken(), valid(func(map[string]any) {}), 403, "accessDenied", "User.ReadWrite.All"},
		{"signed in, not an administrator", "POST", "/v1.0/users", adeleUser, valid(func(map[string]any) {}), 403, "accessDenied", "not a User Administrator"},
		{"PATCH to a taken UPN", "PATCH", "/v1.0/users/" + alex, admin, map[string]any{"userPrincipalName": "adele@contoso.dev"}, 400, "invalidRequest", "already exists"},
		{"PATCH an unknown user", "PATCH", "/v1.0/users/nobody@contoso.dev", admin, map[string]any{"displayName": "x"}, 404, "itemNotFound", "'nobody@contoso.dev' does not exist"},
		{"another tenant's user", "GET", "/v1.0/users/" + directory.DemoFabrikamUserNestor, admin, nil, 404, "itemNotFound", directory.DemoFabrikamUserNestor},
		{"another tenant deletes", "DELETE", "/v1.0/users/" + alex, fabrikam, nil, 404, "itemNotFound", ""},
		{"a malformed id", "GET", "/v1.0/users/not%20a%20user", admin, nil, 400, "invalidRequest", "neither a user object id"},
		{"an unsupported option", "GET", "/v1.0/users/" + alex + "?$expand=manager", admin, nil, 400, "invalidRequest", "$expand"},
		{"an app reads /me", "GET", "/v1.0/me", admin, nil, 400, "invalidRequest", "delegated authentication flow"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.srv.Directory().Users(directory.DemoTenantID)
			r := e.call(c.method, c.path, c.token, c.body)
			if r.status != c.status || r.errCode() != c.code || !strings.Contains(r.errMessage(), c.want) {
				t.Fatalf("%d %s, want %d %s %q", r.status, r.raw, c.status, c.code, c.want)
			}
			for _, name := range []string{"Fabrikam", directory.DemoFabrikamTenantID, "fabrikam.dev"} {
				if c.token != fabrikam && strings.Contains(r.errMessage(), name) && !strings.Contains(c.path+fmt.Sprint(c.body), name) {
					t.Errorf("the error names another tenant (%s): %s", name, r.raw)
				}
			}
			if after := e.srv.Directory().Users(directory.DemoTenantID); !slices.Equal(after, before) {
				t.Errorf("a refused request changed the directory")
			}
		})
	}
}

// Paging through a tenant of 250 users in pages of 100, with a filter,
// and a userPrincipalName found directly among them.
func TestUserListPagingAndFilters(t *testing.T) {
	f := orgFile()
	for i := range 250 {
		f.Users = append(f.Users, directory.UserEntry{ID: directory.DemoUserID(i + 1), TenantID: directory.DemoTenantID,
			UserPrincipalName: directory.DemoUserUPN(i + 1), DisplayName: fmt.Sprintf("Zed %03d", i+1), Mail: fmt.Sprintf("z%d@contoso.dev", i+1)})
	}
	e := startWith(t, f)
	admin := e.adminToken()
	seen := map[string]bool{}
	pages := 0
	for next := "/v1.0/users?$top=100&$filter=" + url.QueryEscape("startswith(displayName,'zed')"); next != ""; pages++ {
		r := e.call("GET", next, admin, nil)
		if r.status != 200 || pages > 3 {
			t.Fatalf("page %d: %d %s", pages, r.status, r.raw)
		}
		for _, u := range r.body["value"].([]any) {
			id := u.(map[string]any)["id"].(string)
			if seen[id] {
				t.Fatalf("user %s on two pages", id)
			}
			seen[id] = true
		}
		next = strings.TrimPrefix(r.str("@odata.nextLink"), e.srv.URL())
	}
	if len(seen) != 250 || pages != 3 {
		t.Fatalf("%d users in %d pages", len(seen), pages)
	}
	for f, want := range map[string]int{
		"mail eq 'z5@contoso.dev'": 1,
		"displayName eq 'Zed 010' or userPrincipalName eq 'user11@contoso.dev'": 2,
		"startswith(displayName,'Zed 1')":                                       100,
	} {
		r := e.call("GET", "/v1.0/users?$top=999&$filter="+url.QueryEscape(f), admin, nil)
		if r.status != 200 || len(r.body["value"].([]any)) != want {
			t.Fatalf("%s: %d %s", f, r.status, r.raw)
		}
	}
	r := e.call("GET", "/v1.0/users?$filter="+url.QueryEscape("userPrincipalName eq 'USER77@contoso.dev'"), admin, nil)
	if v := r.body["value"].([]any); len(v) != 1 || v[0].(map[string]any)["id"] != directory.DemoUserID(77) || r.body["@odata.nextLink"] != nil {
		t.Fatalf("userPrincipalName eq: %s", r.raw)
	}
	r = e.call("GET", "/v1.0/users?$filter="+url.QueryEscape("startswith(userPrincipalName,'user1')")+"&$top=999", admin, nil)
	if v := r.body["value"].([]any); len(v) != 111 { // user1, user10–19, user100–199
		t.Fatalf("startswith(userPrincipalName,'user1'): %d users", len(v))
	}
}
