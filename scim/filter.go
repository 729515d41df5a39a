package scim

import (
	"net/http"
	"strings"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
)

// filter is a parsed SCIM filter of the shape provisioning sends: one or
// more `attribute eq "value"` joined by `and` (RFC 7644 §3.4.2.2), on
// userName, externalId, id, displayName or emails.value (also written
// emails[type eq "work"].value).
type filter []clause

type clause struct {
	attr  string // username, externalid, id, displayname, emails
	value string
}

// maxFilter bounds a filter's length.
const maxFilter = 1024

var filterAttrs = map[string]string{
	"username": "username", "externalid": "externalid", "id": "id", "displayname": "displayname",
	"emails.value": "emails", `emails[type eq "work"].value`: "emails", "emails": "emails",
}

// parseFilter reads a filter; the error names what is wrong and what is
// accepted (scimType invalidFilter).
func parseFilter(s string) (filter, *scimError) {
	bad := func(why string) *scimError {
		return errf(http.StatusBadRequest, "invalidFilter", "The filter %s: presenced filters users by userName, externalId, id, displayName or emails.value with eq and a quoted value (userName eq \"bjensen@example.com\"), joined by and.", why)
	}
	if len(s) > maxFilter || !utf8.ValidString(s) {
		return nil, bad("is longer than 1024 characters or not UTF-8")
	}
	var f filter
	rest := strings.TrimSpace(s)
	for {
		// The attribute path runs to the first space outside brackets.
		depth, i := 0, 0
		for ; i < len(rest); i++ {
			c := rest[i]
			if c == '[' {
				depth++
			} else if c == ']' {
				depth--
			} else if c == ' ' && depth == 0 {
				break
			}
		}
		attr, ok := filterAttrs[strings.ToLower(rest[:i])]
		if !ok {
			return nil, bad("names '" + clip(rest[:i]) + "', which cannot be filtered on")
		}
		rest = strings.TrimLeft(rest[i:], " ")
		op, after, _ := strings.Cut(rest, " ")
		if !strings.EqualFold(op, "eq") {
			return nil, bad("uses '" + clip(op) + "'; only eq is supported")
		}
		rest = strings.TrimLeft(after, " ")
		v, n, ok := quoted(rest)
		if !ok {
			return nil, bad("has no quoted value after eq")
		}
		f = append(f, clause{attr, v})
		if len(f) > 8 {
			return nil, bad("has more than 8 clauses")
		}
		rest = strings.TrimLeft(rest[n:], " ")
		if rest == "" {
			return f, nil
		}
		word, after, _ := strings.Cut(rest, " ")
		if !strings.EqualFold(word, "and") {
			return nil, bad("goes on with '" + clip(word) + "'; clauses are joined by and")
		}
		rest = strings.TrimLeft(after, " ")
	}
}

// quoted reads a JSON string at the start of s and its length.
func quoted(s string) (string, int, bool) {
	if s == "" || s[0] != '"' {
		return "", 0, false
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			var v string
			if jsonv2.Unmarshal([]byte(s[:i+1]), &v) != nil {
				return "", 0, false
			}
			return v, i + 1, true
		}
	}
	return "", 0, false
}
