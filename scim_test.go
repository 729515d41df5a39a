package presenced_test

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/scim"
)

// scimToken gives a tenant a new SCIM token, as presenced admin scim
// token add does, and returns its value.
func (e *env) scimToken(tenant string) string {
	e.t.Helper()
	value, sec := directory.NewSCIMToken(e.srv.Clock().Now())
	if _, err := e.srv.DirectoryStore().UpdateTenant(context.Background(), tenant, func(t *directory.Tenant) error {
		t.SCIMTokens = append(t.SCIMTokens, sec)
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return value
}

// scimCall is a SCIM request (Content-Type application/scim+json).
func (e *env) scimCall(method, path, token string, body any) resp {
	e.t.Helper()
	return e.call(method, scim.Prefix+path, token, body, "Content-Type", "application/scim+json")
}

func scimResources(t *testing.T, r resp) []map[string]any {
	t.Helper()
	if r.status != 200 || r.body["schemas"].([]any)[0] != "urn:ietf:params:scim:api:messages:2.0:ListResponse" {
		t.Fatalf("list: %d %s", r.status, r.raw)
	}
	var out []map[string]any
	for _, v := range r.body["Resources"].([]any) {
		out = append(out, v.(map[string]any))
	}
	return out
}

func scimFilter(f string) string { return "/Users?filter=" + url.QueryEscape(f) }

// The request sequence Microsoft Entra ID's provisioning service sends, as
// its documentation shows it ("Understand the Microsoft Entra SCIM
// implementation": create, get, get by query, get by query with no result,
// update multi-valued and single-valued properties, disable, delete), with
// its quirks: capitalised op values, active as the string "False", an Add
// without a path whose value names attributes by path, the enterprise
// extension sent along. userName is the userPrincipalName (Entra's default
// mapping).
func TestSCIMEntraRequestSequence(t *testing.T) {
	e := start(t)
	tok := e.scimToken(directory.DemoTenantID)
	app := e.appToken()

	// Test connection: a userName that does not exist.
	if got := scimResources(t, e.scimCall("GET", scimFilter(`userName eq "non-existent user"`), tok, nil)); len(got) != 0 {
		t.Fatalf("a user that does not exist: %v", got)
	}

	const userName = "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@contoso.dev"
	r := e.scimCall("POST", "/Users", tok, map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
		"externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
		"userName":   userName,
		"active":     true,
		"emails":     []map[string]any{{"primary": true, "type": "work", "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"}},
		"meta":       map[string]any{"resourceType": "User"},
		"name":       map[string]any{"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
		"roles":      []any{},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"employeeNumber": "701984", "department": "Tour Operations"},
	})
	if r.status != 201 || r.str("userName") != userName || r.body["active"] != true || r.str("externalId") != "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef" ||
		!strings.HasPrefix(r.header.Get("Content-Type"), "application/scim+json") {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	// An externalId that is a GUID (Entra's objectId, mapped to externalId)
	// is the user's id: the same id Entra's tokens carry as oid.
	id := r.str("id")
	if id != "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef" || r.body["meta"].(map[string]any)["location"] != e.srv.URL()+scim.Prefix+"/Users/"+id || r.header.Get("Location") == "" {
		t.Fatalf("create: id %s, meta %v", id, r.body["meta"])
	}
	name := r.body["name"].(map[string]any)
	if name["givenName"] != "givenName" || name["familyName"] != "familyName" || r.str("displayName") != "givenName familyName" {
		t.Fatalf("create: name %v, displayName %q", name, r.str("displayName"))
	}
	if r := e.call("GET", "/v1.0/users/"+id+"/presence", app, nil); r.status != 200 {
		t.Fatalf("the provisioned user's presence: %d %s", r.status, r.raw)
	}

	if r := e.scimCall("GET", "/Users/"+id, tok, nil); r.status != 200 || r.str("userName") != userName {
		t.Fatalf("get: %d %s", r.status, r.raw)
	}
	if got := scimResources(t, e.scimCall("GET", scimFilter(`userName eq "`+strings.ToUpper(userName)+`"`), tok, nil)); len(got) != 1 || got[0]["id"] != id {
		t.Fatalf("get by query: %v", got)
	}
	if got := scimResources(t, e.scimCall("GET", scimFilter(`externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`), tok, nil)); len(got) != 1 {
		t.Fatalf("get by externalId: %v", got)
	}

	// Update User [Multi-valued properties].
	r = e.scimCall("PATCH", "/Users/"+id, tok, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": []map[string]any{
		{"op": "Replace", "path": `emails[type eq "work"].value`, "value": "updatedEmail@microsoft.com"},
		{"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
	}})
	if r.status != 200 || r.body["emails"].([]any)[0].(map[string]any)["value"] != "updatedEmail@microsoft.com" || r.body["name"].(map[string]any)["familyName"] != "updatedFamilyName" {
		t.Fatalf("update multi-valued: %d %s", r.status, r.raw)
	}
	// Update User [Single-valued properties].
	const renamed = "5b50642d-79fc-4410-9e90-4c077cdd1a59@contoso.dev"
	r = e.scimCall("PATCH", "/Users/"+id, tok, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": []map[string]any{
		{"op": "Replace", "path": "userName", "value": renamed},
	}})
	if r.status != 200 || r.str("userName") != renamed {
		t.Fatalf("update single-valued: %d %s", r.status, r.raw)
	}
	if u, ok := e.srv.Directory().User(renamed); !ok || u.ID != id || u.Mail != "updatedEmail@microsoft.com" {
		t.Fatalf("the directory after the updates: %+v %v", u, ok)
	}
	// An Add without a path, attributes named by path (Entra ID sends these).
	r = e.scimCall("PATCH", "/Users/"+id, tok, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": []map[string]any{
		{"op": "Add", "value": map[string]any{"displayName": "Test User", "name.givenName": "Test",
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "42"}},
	}})
	if r.status != 200 || r.str("displayName") != "Test User" || r.body["name"].(map[string]any)["givenName"] != "Test" {
		t.Fatalf("add without a path: %d %s", r.status, r.raw)
	}
	// Disable User, active as Entra ID sends it in older apps: "False".
	r = e.scimCall("PATCH", "/Users/"+id, tok, map[string]any{"Operations": []map[string]any{{"op": "Replace", "path": "active", "value": "False"}},
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}})
	if r.status != 200 || r.body["active"] != false {
		t.Fatalf("disable: %d %s", r.status, r.raw)
	}
	if u, _ := e.srv.Directory().User(id); u.AccountEnabled {
		t.Fatal("the directory still has the user enabled")
	}
	r = e.scimCall("PATCH", "/Users/"+id, tok, map[string]any{"Operations": []map[string]any{{"op": "Replace", "path": "active", "value": true}},
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}})
	if r.status != 200 || r.body["active"] != true {
		t.Fatalf("enable: %d %s", r.status, r.raw)
	}

	if r := e.scimCall("DELETE", "/Users/"+id, tok, nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	r = e.scimCall("GET", "/Users/"+id, tok, nil)
	if r.status != 404 || r.body["schemas"].([]any)[0] != "urn:ietf:params:scim:api:messages:2.0:Error" || r.str("status") != "404" {
		t.Fatalf("get after delete: %d %s", r.status, r.raw)
	}
	if r := e.call("GET", "/v1.0/users/"+id+"/presence", app, nil); r.status != 404 {
		t.Fatalf("the deleted user's presence: %d", r.status)
	}
}

// The requests Okta's provisioning sends: list with startIndex and count,
// look a userName up before creating, create (with Okta's id as externalId
// and a password), a second create of the same userName refused with 409
// uniqueness, replace with PUT, and deactivate and reactivate with a PATCH
// whose op has no path and whose value is {"active": …}.
func TestSCIMOktaRequestSequence(t *testing.T) {
	e := start(t)
	tok := e.scimToken(directory.DemoTenantID)
	first := scimResources(t, e.scimCall("GET", "/Users?startIndex=1&count=2", tok, nil))
	if len(first) != 2 {
		t.Fatalf("startIndex=1&count=2: %d users", len(first))
	}
	r := e.scimCall("GET", "/Users?startIndex=1&count=2", tok, nil)
	if r.body["totalResults"] != float64(5) || r.body["itemsPerPage"] != float64(2) || r.body["startIndex"] != float64(1) {
		t.Fatalf("list: %s", r.raw)
	}
	if got := scimResources(t, e.scimCall("GET", scimFilter(`userName eq "test.user@contoso.dev"`)+"&startIndex=1&count=100", tok, nil)); len(got) != 0 {
		t.Fatalf("lookup before create: %v", got)
	}
	body := map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": "test.user@contoso.dev", "name": map[string]any{"givenName": "Test", "familyName": "User"},
		"emails":      []map[string]any{{"primary": true, "value": "test.user@contoso.dev", "type": "work"}},
		"displayName": "Test User", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7", "groups": []any{}, "password": "1mz050nq", "active": true,
	}
	r = e.scimCall("POST", "/Users", tok, body)
	if r.status != 201 || r.str("externalId") != "00ujl29u0le5T6Aj10h7" || !directory.IsGUID(r.str("id")) || r.body["password"] != nil {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id := r.str("id")
	// The password Okta synced signs the user in.
	e.tokenReq(url.Values{"grant_type": {"password"}, "client_id": {directory.DemoClientID},
		"username": {"test.user@contoso.dev"}, "password": {"1mz050nq"}, "scope": {"Presence.Read"}})
	if r := e.scimCall("POST", "/Users", tok, body); r.status != 409 || r.str("scimType") != "uniqueness" || !strings.Contains(r.str("detail"), "userName") {
		t.Fatalf("a second create: %d %s", r.status, r.raw)
	}
	if r := e.scimCall("GET", "/Users/010101010101010101010101", tok, nil); r.status != 404 {
		t.Fatalf("an unknown id: %d %s", r.status, r.raw)
	}
	if got := scimResources(t, e.scimCall("GET", scimFilter(`externalId eq "00ujl29u0le5T6Aj10h7"`), tok, nil)); len(got) != 1 || got[0]["id"] != id {
		t.Fatalf("by externalId: %v", got)
	}
	body["name"] = map[string]any{"givenName": "Tess", "familyName": "User"}
	body["displayName"] = "Tess User"
	delete(body, "password")
	r = e.scimCall("PUT", "/Users/"+id, tok, body)
	if r.status != 200 || r.str("displayName") != "Tess User" || r.str("id") != id {
		t.Fatalf("replace: %d %s", r.status, r.raw)
	}
	for _, active := range []bool{false, true} {
		r = e.scimCall("PATCH", "/Users/"+id, tok, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []map[string]any{{"op": "replace", "value": map[string]any{"active": active}}}})
		if r.status != 200 || r.body["active"] != active {
			t.Fatalf("active %v: %d %s", active, r.status, r.raw)
		}
		if u, _ := e.srv.Directory().User(id); u.AccountEnabled != active {
			t.Fatalf("the directory has active %v", u.AccountEnabled)
		}
	}
	// Paging through every user, one at a time.
	seen := map[string]bool{}
	for start := 1; ; start++ {
		page := scimResources(t, e.scimCall("GET", "/Users?count=1&startIndex="+strconv.Itoa(start), tok, nil))
		if len(page) == 0 {
			break
		}
		seen[page[0]["id"].(string)] = true
	}
	if len(seen) != 6 {
		t.Fatalf("paging passed %d users, want 6", len(seen))
	}
}

// Bad SCIM requests: SCIM's error body (RFC 7644 §3.12) with the right
// status and scimType, nothing written, no other tenant named; a token
// reaches its own tenant only.
func TestSCIMRejects(t *testing.T) {
	e := start(t)
	tok := e.scimToken(directory.DemoTenantID)
	fabrikam := e.scimToken(directory.DemoFabrikamTenantID)
	alex := e.user("alex")
	valid := func(change func(map[string]any)) map[string]any {
		b := map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "new@contoso.dev", "active": true}
		change(b)
		return b
	}
	for _, c := range []struct {
		name, method, path, token string
		body                      any
		status                    int
		scimType, want            string
	}{
		{"no token", "GET", "/Users", "", nil, 401, "", "Authorization: Bearer"},
		{"a token of no tenant", "GET", "/Users", "not-a-token", nil, 401, "", "not a SCIM token of this server"},
		{"a Graph token", "GET", "/Users", e.appToken(), nil, 401, "", "not a SCIM token"},
		{"another tenant's user", "GET", "/Users/" + alex, fabrikam, nil, 404, "", "not found"},
		{"another tenant's user by filter", "GET", scimFilter(`userName eq "alex@contoso.dev"`), fabrikam, nil, 200, "", ""},
		{"a userName not an address", "POST", "/Users", tok, valid(func(b map[string]any) { b["userName"] = "Test_User_1" }), 400, "invalidValue", "user@domain"},
		{"a userName outside the tenant's domains", "POST", "/Users", tok, valid(func(b map[string]any) { b["userName"] = "x@fabrikam.dev" }), 400, "invalidValue", "not a verified domain"},
		{"no userName", "POST", "/Users", tok, map[string]any{"active": true}, 400, "invalidValue", "userName is required"},
		{"a duplicate userName", "POST", "/Users", tok, valid(func(b map[string]any) { b["userName"] = "ALEX@contoso.dev" }), 409, "uniqueness", "userName"},
		{"an unknown attribute", "POST", "/Users", tok, valid(func(b map[string]any) { b["favouriteColour"] = "red" }), 400, "invalidPath", "favouriteColour"},
		{"an attribute twice in two cases", "POST", "/Users", tok, `{"userName":"a@contoso.dev","UserName":"b@contoso.dev"}`, 400, "invalidSyntax", "appears twice"},
		{"not JSON", "POST", "/Users", tok, `{"userName":`, 400, "invalidSyntax", "not a JSON object"},
		{"a wrong type", "POST", "/Users", tok, valid(func(b map[string]any) { b["active"] = "maybe" }), 400, "invalidValue", "true or false"},
		{"a body too large", "POST", "/Users", tok, valid(func(b map[string]any) { b["displayName"] = strings.Repeat("n", 200<<10) }), 413, "", "larger than"},
		{"a bad filter", "GET", scimFilter(`userName co "a"`), tok, nil, 400, "invalidFilter", "only eq"},
		{"a bad op", "PATCH", "/Users/" + alex, tok, map[string]any{"Operations": []map[string]any{{"op": "frobnicate", "path": "active", "value": false}}}, 400, "invalidSyntax", "add, replace or remove"},
		{"remove userName", "PATCH", "/Users/" + alex, tok, map[string]any{"Operations": []map[string]any{{"op": "remove", "path": "userName"}}}, 400, "mutability", "cannot be removed"},
		{"change id", "PATCH", "/Users/" + alex, tok, map[string]any{"Operations": []map[string]any{{"op": "replace", "path": "id", "value": "x"}}}, 400, "mutability", "id"},
		{"no Operations", "PATCH", "/Users/" + alex, tok, map[string]any{"op": "replace"}, 400, "invalidSyntax", "Operations"},
		{"rename onto another user", "PATCH", "/Users/" + alex, tok, map[string]any{"Operations": []map[string]any{{"op": "replace", "path": "userName", "value": "adele@contoso.dev"}}}, 409, "uniqueness", "userName"},
		{"groups", "POST", "/Groups", tok, map[string]any{"displayName": "g"}, 501, "", "users only"},
		{"a wrong method", "PUT", "/Users", tok, valid(func(map[string]any) {}), 405, "", "GET or POST"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.srv.Directory().Users(directory.DemoTenantID)
			r := e.scimCall(c.method, c.path, c.token, c.body)
			if r.status != c.status || c.status != 200 && (r.str("scimType") != c.scimType || !strings.Contains(r.str("detail"), c.want) || r.str("status") != strconv.Itoa(c.status)) {
				t.Fatalf("%d %s, want %d %s %q", r.status, r.raw, c.status, c.scimType, c.want)
			}
			if c.status == 200 && r.body["totalResults"] != float64(0) {
				t.Fatalf("another tenant's token found %s", r.raw)
			}
			other := []string{"Fabrikam", directory.DemoFabrikamTenantID, "fabrikam.dev"}
			if c.token == fabrikam {
				other = []string{"Contoso", directory.DemoTenantID, "contoso.dev"}
			}
			for _, name := range other {
				if strings.Contains(string(r.raw), name) && !strings.Contains(c.path+fmt.Sprint(c.body), name) {
					t.Errorf("the answer names another tenant (%s): %s", name, r.raw)
				}
			}
			if after := e.srv.Directory().Users(directory.DemoTenantID); len(after) != len(before) {
				t.Errorf("a refused request changed the directory")
			}
		})
	}
}

// The discovery endpoints (RFC 7644 §4) give each resource a
// meta.location, and a client that follows it (the SCIM validator's and
// identity providers' schema discovery, which read /Schemas/{uri} and
// /ResourceTypes/{id}) gets that resource. They were 404: presenced served
// only the lists, while the lists named those URLs.
func TestSCIMDiscoveryLocations(t *testing.T) {
	e := start(t)
	tok := e.scimToken(directory.DemoTenantID)
	for _, list := range []string{"/ResourceTypes", "/Schemas"} {
		for _, res := range scimResources(t, e.scimCall("GET", list, tok, nil)) {
			loc, err := url.Parse(res["meta"].(map[string]any)["location"].(string))
			if err != nil {
				t.Fatal(err)
			}
			r := e.call("GET", loc.Path, tok, nil)
			if r.status != 200 || r.body["id"] != res["id"] || fmt.Sprint(r.body["schemas"]) != fmt.Sprint(res["schemas"]) {
				t.Fatalf("GET %s (the meta.location of %s's %v): %d %s", loc.Path, list, res["id"], r.status, r.raw)
			}
		}
	}
	for _, c := range []struct{ path, want string }{
		{"/ResourceTypes/Group", "ResourceType 'Group'"},
		{"/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group", "schema 'urn:ietf:params:scim:schemas:core:2.0:Group'"},
	} {
		r := e.scimCall("GET", c.path, tok, nil)
		if r.status != 404 || !strings.Contains(r.str("detail"), c.want) {
			t.Errorf("GET %s: %d %s, want 404 naming %q", c.path, r.status, r.raw, c.want)
		}
	}
}
