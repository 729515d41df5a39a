package scim

import (
	"testing"

	"github.com/presenced/presenced/directory"
)

// The forms of PATCH provisioning services send, applied to a user.
func TestPatchForms(t *testing.T) {
	base := directory.UserEntry{ID: directory.DemoUserAdele, TenantID: directory.DemoTenantID, UserPrincipalName: "adele@contoso.dev", Mail: "adele@contoso.dev", GivenName: "Adele"}
	for _, c := range []struct {
		name, body string
		check      func(directory.UserEntry) bool
	}{
		{"Entra: capitalised op, filtered email path", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"a@b.example"}]}`,
			func(e directory.UserEntry) bool { return e.Mail == "a@b.example" }},
		{"Entra: active as a string", `{"Operations":[{"op":"Replace","path":"active","value":"False"}]}`,
			func(e directory.UserEntry) bool { return !e.Enabled() }},
		{"Okta: no path, value an object", `{"Operations":[{"op":"replace","value":{"active":false,"displayName":"A V"}}]}`,
			func(e directory.UserEntry) bool { return !e.Enabled() && e.DisplayName == "A V" }},
		{"dotted names in a value", `{"Operations":[{"op":"Add","value":{"name.familyName":"Vance","urn:ietf:params:scim:schemas:core:2.0:User:displayName":"Adele V"}}]}`,
			func(e directory.UserEntry) bool { return e.FamilyName == "Vance" && e.DisplayName == "Adele V" }},
		{"remove a name", `{"Operations":[{"op":"Remove","path":"name.givenName"}]}`,
			func(e directory.UserEntry) bool { return e.GivenName == "" }},
		{"remove the work email", `{"Operations":[{"op":"remove","path":"emails[type eq \"work\"]"}]}`,
			func(e directory.UserEntry) bool { return e.Mail == "" }},
		{"an email of another type is not kept", `{"Operations":[{"op":"add","path":"emails[type eq \"home\"].value","value":"h@b.example"}]}`,
			func(e directory.UserEntry) bool { return e.Mail == "adele@contoso.dev" }},
		{"a whole emails array", `{"Operations":[{"op":"replace","path":"emails","value":[{"value":"x@y.example","type":"home"},{"value":"w@y.example","type":"work"}]}]}`,
			func(e directory.UserEntry) bool { return e.Mail == "w@y.example" }},
		{"the enterprise extension is accepted, not kept", `{"Operations":[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Ops"}]}`,
			func(e directory.UserEntry) bool { return e.UserPrincipalName == "adele@contoso.dev" }},
		{"operations in lower case", `{"operations":[{"OP":"replace","PATH":"displayName","VALUE":"x"}]}`,
			func(e directory.UserEntry) bool { return e.DisplayName == "x" }},
	} {
		e := base
		if err := patch([]byte(c.body), &e); err != nil || !c.check(e) {
			t.Errorf("%s: %v %+v", c.name, err, e)
		}
	}
}

// FuzzPatchAndBody: any body is applied or refused with a SCIM error,
// never a panic, and a refused one leaves no userName empty.
func FuzzPatchAndBody(f *testing.F) {
	f.Add([]byte(`{"Operations":[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"a@b.example"}]}`))
	f.Add([]byte(`{"Operations":[{"op":"replace","value":{"active":false}}]}`))
	f.Add([]byte(`{"userName":"a@contoso.dev","name":{"givenName":"A"},"emails":[{"value":"a@b.c","primary":true}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e := directory.UserEntry{ID: directory.DemoUserAdele, UserPrincipalName: "adele@contoso.dev"}
		if err := patch(b, &e); err != nil && err.status != 400 {
			t.Fatalf("patch: %v", err)
		}
		e = directory.UserEntry{ID: directory.DemoUserAdele}
		if err := fromBody(b, &e); err == nil && e.UserPrincipalName == "" {
			t.Fatalf("a body accepted without a userName: %q", b)
		} else if err != nil && err.status != 400 {
			t.Fatalf("fromBody: %v", err)
		}
	})
}
