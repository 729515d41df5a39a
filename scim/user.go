package scim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/presenced/presenced/directory"
)

// resource is a directory user as a SCIM User.
func (h *Handler) resource(e directory.UserEntry) map[string]any {
	m := map[string]any{
		"schemas":  []string{schemaUser},
		"id":       e.ID,
		"userName": e.UserPrincipalName,
		"active":   e.Enabled(),
		"meta":     map[string]any{"resourceType": "User", "location": h.location(e.ID)},
	}
	if e.ExternalID != "" {
		m["externalId"] = e.ExternalID
	}
	if e.DisplayName != "" {
		m["displayName"] = e.DisplayName
	}
	if e.GivenName != "" || e.FamilyName != "" {
		name := map[string]any{"formatted": strings.TrimSpace(e.GivenName + " " + e.FamilyName)}
		if e.GivenName != "" {
			name["givenName"] = e.GivenName
		}
		if e.FamilyName != "" {
			name["familyName"] = e.FamilyName
		}
		m["name"] = name
	}
	if e.Mail != "" {
		m["emails"] = []map[string]any{{"value": e.Mail, "type": "work", "primary": true}}
	}
	return m
}

func (h *Handler) location(id string) string { return h.o.BaseURL + Prefix + "/Users/" + id }

// ignored are the SCIM User attributes (RFC 7643 §4.1) presenced accepts
// and does not keep: provisioning sends them by default, and a refusal
// would stop it.
var ignored = map[string]bool{"nickname": true, "profileurl": true, "title": true, "usertype": true, "preferredlanguage": true, "locale": true,
	"timezone": true, "phonenumbers": true, "ims": true, "photos": true, "addresses": true, "groups": true, "entitlements": true, "roles": true,
	"x509certificates": true, "meta": true, "schemas": true}

// object is a JSON object read strictly, its member names folded to lower
// case (SCIM's attribute names are case-insensitive, RFC 7643 §2.1); names
// keeps them as sent, for messages.
type object map[string]jsontext.Value

// readObject decodes a JSON object: valid UTF-8, no name twice (in any
// case), no trailing data.
func readObject(raw []byte, what string) (object, *scimError) {
	var m map[string]jsontext.Value
	if err := jsonv2.Unmarshal(raw, &m); err != nil {
		return nil, errf(http.StatusBadRequest, "invalidSyntax", "The %s is not a JSON object: %s.", what, strings.TrimPrefix(err.Error(), "json: "))
	}
	if m == nil {
		return nil, errf(http.StatusBadRequest, "invalidSyntax", "The %s is null; it must be a JSON object.", what)
	}
	out := make(object, len(m))
	for k, v := range m {
		lk := strings.ToLower(k)
		if _, dup := out[lk]; dup {
			return nil, errf(http.StatusBadRequest, "invalidSyntax", "Attribute '%s' appears twice in the %s (attribute names are case-insensitive).", clip(k), what)
		}
		out[lk] = v
	}
	return out, nil
}

// sentAs is how a request wrote the attribute lower, for a message.
func sentAs(raw []byte, lower string) string {
	var m map[string]jsontext.Value
	if jsonv2.Unmarshal(raw, &m) == nil {
		for k := range m {
			if strings.ToLower(k) == lower {
				return k
			}
		}
	}
	return lower
}

// str reads a string value; null or absent is "".
func str(v jsontext.Value, attr string) (string, *scimError) {
	if len(v) == 0 || isNull(v) {
		return "", nil
	}
	var s string
	if jsonv2.Unmarshal(v, &s) != nil {
		return "", errf(http.StatusBadRequest, "invalidValue", "Attribute '%s' must be a string.", attr)
	}
	return s, nil
}

func isNull(v jsontext.Value) bool { return bytes.Equal(bytes.TrimSpace(v), []byte("null")) }

// boolean reads true or false, or — as Entra ID sends active in some
// PATCH requests — the strings "True" and "False".
func boolean(v jsontext.Value, attr string) (bool, *scimError) {
	var b bool
	if jsonv2.Unmarshal(v, &b) == nil {
		return b, nil
	}
	var s string
	if jsonv2.Unmarshal(v, &s) == nil {
		switch strings.ToLower(s) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, errf(http.StatusBadRequest, "invalidValue", "Attribute '%s' must be true or false.", attr)
}

// setAttr sets one attribute (a lower-case path: "username", "name.givenname",
// "emails[type eq \"work\"].value", …) of e to v, as a POST, PUT or
// PATCH gives it; remove clears it instead.
func setAttr(e *directory.UserEntry, path string, v jsontext.Value, remove bool) *scimError {
	if strings.HasPrefix(path, "urn:") {
		if rest, ok := strings.CutPrefix(path, strings.ToLower(schemaUser)+":"); ok {
			return setAttr(e, rest, v, remove) // the core schema, named in full
		}
		return nil // an extension (enterprise, or the identity provider's own): not kept
	}
	root, sub, _ := strings.Cut(path, ".")
	filter := ""
	if i := strings.IndexByte(root, '['); i >= 0 {
		root, filter = path[:i], path[i:]
		if j := strings.IndexByte(filter, ']'); j >= 0 {
			sub = strings.TrimPrefix(filter[j+1:], ".")
			filter = filter[:j+1]
		}
	}
	text := func(dst *string, attr string) *scimError {
		if remove {
			*dst = ""
			return nil
		}
		s, err := str(v, attr)
		*dst = s
		return err
	}
	switch root {
	case "username":
		if remove {
			return errf(http.StatusBadRequest, "mutability", "userName is required: it cannot be removed.")
		}
		s, err := str(v, "userName")
		if err != nil {
			return err
		}
		if s == "" {
			return errf(http.StatusBadRequest, "invalidValue", "userName may not be empty.")
		}
		e.UserPrincipalName = s
	case "displayname":
		return text(&e.DisplayName, "displayName")
	case "externalid":
		return text(&e.ExternalID, "externalId")
	case "password":
		if remove {
			e.Password, e.PasswordHash = "", ""
			return nil
		}
		s, err := str(v, "password")
		if err != nil {
			return err
		}
		if s != "" {
			e.Password, e.PasswordHash = s, ""
		}
	case "active":
		if remove {
			return errf(http.StatusBadRequest, "mutability", "active cannot be removed; set it to true or false.")
		}
		on, err := boolean(v, "active")
		if err != nil {
			return err
		}
		e.AccountEnabled = directory.Bool(on)
	case "name":
		switch sub {
		case "givenname":
			return text(&e.GivenName, "name.givenName")
		case "familyname":
			return text(&e.FamilyName, "name.familyName")
		case "":
			if remove || isNull(v) {
				e.GivenName, e.FamilyName = "", ""
				return nil
			}
			o, err := readObject(v, "name attribute")
			if err != nil {
				return err
			}
			for k, sv := range o {
				if err := setAttr(e, "name."+k, sv, false); err != nil {
					return err
				}
			}
		default:
			// formatted, middleName, honorific…: not kept (formatted is
			// made of the given and family names).
		}
	case "emails":
		if remove || isNull(v) {
			if filter == "" || strings.Contains(filter, `"work"`) {
				e.Mail = ""
			}
			return nil
		}
		if sub == "value" || sub == "" && filter != "" {
			if filter != "" && !strings.Contains(filter, `"work"`) && !strings.Contains(filter, "primary eq true") {
				return nil // another type of address: not kept
			}
			if sub == "" { // emails[type eq "work"] with {"value": …}
				o, err := readObject(v, "email")
				if err != nil {
					return err
				}
				s, serr := str(o["value"], "emails.value")
				e.Mail = s
				return serr
			}
			return text(&e.Mail, "emails.value")
		}
		mail, err := primaryEmail(v)
		if err != nil {
			return err
		}
		e.Mail = mail
	case "id":
		return errf(http.StatusBadRequest, "mutability", "id is set by the server and cannot be changed.")
	default:
		if !ignored[root] {
			return errf(http.StatusBadRequest, "invalidPath", "'%s' is not an attribute of a SCIM User.", clip(path))
		}
	}
	return nil
}

// primaryEmail is the address of a SCIM emails array presenced keeps: the
// primary one, else the work one, else the first.
func primaryEmail(v jsontext.Value) (string, *scimError) {
	var list []struct {
		Value   string `json:"value"`
		Type    string `json:"type"`
		Primary any    `json:"primary"`
	}
	if json.Unmarshal(v, &list) != nil {
		return "", errf(http.StatusBadRequest, "invalidValue", "emails must be an array of {\"value\", \"type\", \"primary\"}.")
	}
	best := -1
	for i, m := range list {
		primary := m.Primary == true || m.Primary == "True" || m.Primary == "true"
		switch {
		case primary:
			return m.Value, nil
		case best < 0 || strings.EqualFold(m.Type, "work") && !strings.EqualFold(list[best].Type, "work"):
			best = i
		}
	}
	if best < 0 {
		return "", nil
	}
	return list[best].Value, nil
}

// fromBody reads a whole User (POST, PUT) onto e, which keeps its id, its
// tenant and its password hash; every kept attribute the body does not
// give is cleared (PUT replaces).
func fromBody(raw []byte, e *directory.UserEntry) *scimError {
	o, err := readObject(raw, "request body")
	if err != nil {
		return err
	}
	kept := directory.UserEntry{ID: e.ID, TenantID: e.TenantID, PasswordHash: e.PasswordHash}
	*e = kept
	if _, ok := o["username"]; !ok {
		return errf(http.StatusBadRequest, "invalidValue", "userName is required.")
	}
	for k, v := range o {
		if k == "id" {
			continue // readOnly: ignored in a request (RFC 7643 §3.1)
		}
		if err := setAttr(e, k, v, false); err != nil {
			if err.scimType == "invalidPath" {
				return errf(http.StatusBadRequest, "invalidPath", "'%s' is not an attribute of a SCIM User.", clip(sentAs(raw, k)))
			}
			return err
		}
	}
	if e.DisplayName == "" {
		e.DisplayName = strings.TrimSpace(e.GivenName + " " + e.FamilyName)
	}
	return nil
}
