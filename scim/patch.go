package scim

import (
	"net/http"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/presenced/presenced/directory"
)

// patch applies a PatchOp request (RFC 7644 §3.5.2) to e, in the forms
// provisioning sends:
//
//   - Entra ID: "Operations" with op "Replace", "Add" or "Remove"
//     capitalised, a path per attribute (name.familyName,
//     emails[type eq "work"].value, active), active sometimes the string
//     "False";
//   - Entra ID and Okta: an op without a path whose value is an object of
//     attributes, the names possibly paths themselves ("name.givenName")
//     or a schema URN's attributes;
//   - any: op in any case, "operations" in any case.
func patch(raw []byte, e *directory.UserEntry) *scimError {
	o, err := readObject(raw, "request body")
	if err != nil {
		return err
	}
	opsRaw, ok := o["operations"]
	if !ok {
		return errf(http.StatusBadRequest, "invalidSyntax", "A PATCH body needs \"Operations\": [{\"op\": \"replace\", \"path\": …, \"value\": …}] (RFC 7644 §3.5.2).")
	}
	for k := range o {
		if k != "operations" && k != "schemas" {
			return errf(http.StatusBadRequest, "invalidSyntax", "A PATCH body has \"schemas\" and \"Operations\" only; '%s' is not one of them.", clip(k))
		}
	}
	var ops []jsontext.Value
	if jsonv2.Unmarshal(opsRaw, &ops) != nil || len(ops) == 0 {
		return errf(http.StatusBadRequest, "invalidSyntax", "\"Operations\" must be a non-empty array of operations.")
	}
	if len(ops) > 100 {
		return errf(http.StatusBadRequest, "invalidSyntax", "A PATCH may have at most 100 operations.")
	}
	for i, opRaw := range ops {
		op, err := readObject(opRaw, "operation")
		if err != nil {
			return err
		}
		for k := range op {
			if k != "op" && k != "path" && k != "value" {
				return errf(http.StatusBadRequest, "invalidSyntax", "Operation %d has '%s'; an operation has op, path and value.", i+1, clip(k))
			}
		}
		name, serr := str(op["op"], "op")
		if serr != nil {
			return serr
		}
		path, serr := str(op["path"], "path")
		if serr != nil {
			return serr
		}
		path = strings.ToLower(strings.TrimSpace(path))
		value, hasValue := op["value"]
		switch strings.ToLower(name) {
		case "add", "replace":
			if !hasValue {
				return errf(http.StatusBadRequest, "invalidSyntax", "Operation %d (%s) has no value.", i+1, name)
			}
			if path == "" {
				// No path: the value is an object of attributes (RFC 7644
				// §3.5.2.1/3, as Entra ID and Okta send it).
				attrs, err := readObject(value, "operation's value")
				if err != nil {
					return err
				}
				for k, v := range attrs {
					if err := setAttr(e, k, v, false); err != nil {
						return err
					}
				}
				continue
			}
			if err := setAttr(e, path, value, false); err != nil {
				return err
			}
		case "remove":
			if path == "" {
				return errf(http.StatusBadRequest, "noTarget", "Operation %d removes without a path; name the attribute to remove.", i+1)
			}
			if err := setAttr(e, path, nil, true); err != nil {
				return err
			}
		default:
			return errf(http.StatusBadRequest, "invalidSyntax", "Operation %d has op '%s'; it must be add, replace or remove.", i+1, clip(name))
		}
	}
	return nil
}
