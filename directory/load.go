package directory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/presenced/presenced/presence"
)

// MaxFileSize is the largest directory file Load reads (1 GiB: a million
// users take about 250 MB).
const MaxFileSize = 1 << 30

// Load reads a directory file (see the package documentation for the
// format) and validates it with New. Errors are *presence.Error (Invalid)
// naming the file, and the entry and field at fault: unknown fields, wrong
// JSON types, syntax errors (with line and column) and every rule of New.
func Load(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, presence.Errorf(presence.Invalid, "", "directory file: %v", err)
	}
	defer f.Close()
	d, err := Decode(f)
	if err != nil {
		var pe *presence.Error
		if errors.As(err, &pe) {
			return nil, &presence.Error{Code: pe.Code, Field: pe.Field, Message: path + ": " + pe.Message}
		}
		return nil, presence.Errorf(presence.Invalid, "", "%s: %v", path, err)
	}
	return d, nil
}

// Parse is Decode for a directory file's content in memory.
func Parse(data []byte) (*File, error) { return Decode(bytes.NewReader(data)) }

// Decode reads a directory file from r as it comes, entry by entry, and
// validates it with New: the file's bytes are never all in memory, only
// the entries decoded from them (a million users: the file is 160 MB, its
// entries ~270 B a user). The File it returns has passed New, and Build
// returns that directory. Errors are *presence.Error (Invalid, or TooLarge
// past MaxFileSize) naming the entry and field at fault and, for what the
// JSON itself breaks, its line and column.
//
// Each entry is decoded with the JSON v2 decoder
// (github.com/go-json-experiment/json, the implementation proposed for
// encoding/json/v2): 2–4× faster than encoding/json here, and stricter —
// names match exactly, a name may not repeat in an object, strings must be
// valid UTF-8. Only an entry it refuses is decoded again with
// encoding/json, to say in its words which field is wrong and where.
func Decode(r io.Reader) (*File, error) {
	src := &tracked{r: r, line: 1, col: 1}
	dec := jsontext.NewDecoder(src, jsontext.AllowDuplicateNames(true)) // a repeated top-level name is reported below; entries are checked by Unmarshal
	var tenants []Tenant
	var apps []App
	// Users are decoded into chunks, then copied once into a slice of
	// their number: a slice grown by append would hold its old and new
	// arrays at once at each growth (at a million users ~140 MB more at
	// the import's peak) and up to a quarter more than it needs.
	var chunks [][]UserEntry
	var chunk []UserEntry
	tenantIDs := map[string]string{} // each tenant id once, shared by its users
	seen := map[string]bool{}
	fail := func(field, format string, args ...any) error {
		return presence.Errorf(presence.Invalid, field, "directory: "+format, args...)
	}
	syntax := func(err error) error {
		var syn *jsontext.SyntacticError
		switch {
		case errors.Is(err, errTooLarge):
			return presence.Errorf(presence.TooLarge, "", "directory: the file is larger than %d bytes.", MaxFileSize)
		case errors.Is(err, io.EOF) && src.n == 0:
			return fail("", "the file is empty; it must be a JSON object with \"tenants\", \"users\" and \"applications\" arrays.")
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return fail("", "the JSON ends too early at %s (unterminated object, array or string).", src.at(src.n))
		case errors.As(err, &syn):
			if errors.Is(syn.Err, io.ErrUnexpectedEOF) {
				return fail("", "the JSON ends too early at %s (unterminated object, array or string).", src.at(src.n))
			}
			return fail("", "JSON syntax error at %s: %s.", src.at(syn.ByteOffset), strings.TrimPrefix(syn.Err.Error(), "jsontext: "))
		}
		return fail("", "reading the file: %v.", err)
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return nil, syntax(err)
	}
	if tok.Kind() != '{' {
		return nil, fail("", "the file must be a JSON object with \"tenants\", \"users\" and \"applications\" arrays, not %s.", describe(tok.Kind()))
	}
	for dec.PeekKind() != '}' {
		start := dec.InputOffset()
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, syntax(err)
		}
		key := tok.String()
		at := src.at(start + int64(leadingSpace(src, start)))
		if key != "tenants" && key != "users" && key != "applications" {
			return nil, fail(key, "unknown top-level field %q at %s; the known fields are: tenants, users, applications.", key, at)
		}
		if seen[key] {
			return nil, fail(key, "%q appears twice at the top level (again at %s).", key, at)
		}
		seen[key] = true
		if tok, err = dec.ReadToken(); err != nil {
			return nil, syntax(err)
		}
		if tok.Kind() == 'n' {
			continue // "users": null is an empty list
		}
		if tok.Kind() != '[' {
			return nil, fail(key, "%q must be an array, not %s (%s).", key, describe(tok.Kind()), at)
		}
		for i := 0; dec.PeekKind() != ']'; i++ {
			raw, err := dec.ReadValue()
			if err != nil {
				return nil, syntax(err)
			}
			base := dec.InputOffset() - int64(len(raw))
			entry := fmt.Sprintf("%s[%d]", key, i)
			switch key {
			case "tenants":
				tenants = append(tenants, Tenant{})
				err = decodeEntry(src, raw, base, entry, &tenants[i])
			case "users":
				if len(chunk) == cap(chunk) {
					chunk = make([]UserEntry, 0, userChunk)
					chunks = append(chunks, chunk)
				}
				chunk = chunk[:len(chunk)+1]
				chunks[len(chunks)-1] = chunk
				u := &chunk[len(chunk)-1]
				if err = decodeEntry(src, raw, base, entry, u); err == nil {
					if id, ok := tenantIDs[u.TenantID]; ok {
						u.TenantID = id
					} else if len(tenantIDs) < 1024 {
						tenantIDs[u.TenantID] = u.TenantID
					}
				}
			case "applications":
				apps = append(apps, App{})
				err = decodeEntry(src, raw, base, entry, &apps[i])
			}
			if err != nil {
				return nil, err
			}
		}
		if _, err := dec.ReadToken(); err != nil { // ']'
			return nil, syntax(err)
		}
	}
	if _, err := dec.ReadToken(); err != nil { // '}'
		return nil, syntax(err)
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		if err == nil || !errors.Is(err, io.EOF) {
			return nil, fail("", "unexpected data after the JSON object at %s.", src.at(dec.InputOffset()+int64(leadingSpace(src, dec.InputOffset()))))
		}
	}
	n := 0
	for _, c := range chunks {
		n += len(c)
	}
	var users []UserEntry
	if n > 0 {
		users = make([]UserEntry, 0, n)
		for k, c := range chunks {
			users = append(users, c...)
			chunks[k] = nil
		}
	}
	chunk = nil
	collectAfterBulk(n)
	if !seen["tenants"] {
		return nil, fail("tenants", "the file has no \"tenants\" array; a directory needs at least one tenant.")
	}
	d, err := build(tenants, users, apps, true)
	if err != nil {
		return nil, err
	}
	return &File{Tenants: tenants, Users: users, Applications: apps, built: d}, nil
}

// userChunk is how many users Decode holds in one chunk.
const userChunk = 8192

// bulk is the number of users from which Decode collects its garbage at
// once where much of what was live has just become garbage (see
// collectAfterBulk).
const bulk = 100_000

// collectAfterBulk runs a collection when n users were decoded or built.
// The collector's next goal is twice what it found live at its last
// cycle; a cycle that ran while the chunks and their copy were both live
// (or the entries' strings and the directory's) would let the heap grow
// to twice that peak. One cycle once they are garbage (~0.2 s at a
// million users) sets the goal from what stays: measured at a million
// users, the peak RSS of `presenced directory import` went from 0.80–0.87 GB to 0.56–0.57 GB.
func collectAfterBulk(n int) {
	if n >= bulk {
		runtime.GC()
	}
}

// leadingSpace is how many white-space bytes follow offset off (the
// decoder's offsets are before the space that precedes a token), as far as
// the window of src still holds them.
func leadingSpace(src *tracked, off int64) int {
	n := 0
	for i := off - src.start; i >= 0 && i < int64(len(src.ring)); i++ {
		switch src.ring[i] {
		case ' ', '\t', '\r', '\n', ',', ':':
			n++
			continue
		}
		break
	}
	return n
}

func describe(k jsontext.Kind) string {
	switch k {
	case '[':
		return "an array"
	case '{':
		return "an object"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return k.String()
}

// decodeEntry decodes one entry of the file, raw, found at offset base of
// src, into v: with the strict v2 decoder, and only when that refuses it
// again with encoding/json, whose errors say which field and where.
func decodeEntry(src *tracked, raw []byte, base int64, at string, v any) error {
	if string(raw) == "null" {
		return presence.Errorf(presence.Invalid, at, "directory: %s (%s) is null; it must be an object.", at, src.at(base))
	}
	fast := jsonv2.Unmarshal(raw, v, jsonv2.RejectUnknownMembers(true))
	if fast == nil {
		return nil
	}
	if err := decodeStrict(raw, at, v); err != nil {
		err.Message = relocate(err.Message, src, base)
		return err
	}
	// Only the v2 decoder's extra strictness objects (a repeated name,
	// a name in another case, invalid UTF-8).
	msg := strings.TrimPrefix(strings.TrimPrefix(fast.Error(), "json: "), "jsontext: ")
	var off int64
	var syn *jsontext.SyntacticError
	var sem *jsonv2.SemanticError
	if errors.As(fast, &syn) {
		off = syn.ByteOffset
	} else if errors.As(fast, &sem) {
		off = sem.ByteOffset
	}
	return presence.Errorf(presence.Invalid, at, "directory: %s (/%s, %s): %s.", at, strings.ReplaceAll(at, "[", "/")[:len(at)-1], src.at(base+off), msg)
}

// decodeStrict decodes one JSON value into v rejecting unknown fields and
// trailing data. Error messages carry "@offset@" markers that relocate
// turns into line:column.
func decodeStrict(data []byte, at string, v any) *presence.Error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err := dec.Token(); err != io.EOF {
			return presence.Errorf(presence.Invalid, at, "directory: unexpected data after the JSON object (@%d@).", dec.InputOffset())
		}
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return presence.Errorf(presence.Invalid, at, "directory: JSON syntax error at @%d@: %s.", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		field := at + "." + typ.Field
		if typ.Field == "" {
			return presence.Errorf(presence.Invalid, at, "directory: %s must be an object, not a JSON %s (@%d@).", at, typ.Value, typ.Offset)
		}
		return presence.Errorf(presence.Invalid, field, "directory: %s must be %s, not a JSON %s (@%d@).", field, jsonKind(typ.Type.Kind().String()), typ.Value, typ.Offset)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		known := "id, name, domains, externalAccess (with allowAllExternal, allowedDomains, blockedDomains), scimTokens, issuers"
		switch {
		case strings.HasPrefix(at, "users"):
			known = "id, tenantId, userPrincipalName, displayName, mail, accountEnabled, userAdministrator, password, passwordHash, externalId, givenName, familyName"
		case strings.HasPrefix(at, "applications"):
			known = "clientId, tenantId, name, secret, secrets, roles, scopes, public, redirectUris, spaRedirectUris"
		}
		off := max(bytes.Index(data, []byte(name)), 0)
		return presence.Errorf(presence.Invalid, at, "directory: %s has an unknown field %s (@%d@); the known fields are: %s.", at, name, off, known)
	}
	return presence.Errorf(presence.Invalid, at, "directory: %s: %v", at, err)
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "a " + k
}

// relocate rewrites "@n@" (an offset into the entry at base) as "line L,
// column C" of src.
func relocate(msg string, src *tracked, base int64) string {
	i := strings.Index(msg, "@")
	j := strings.LastIndex(msg, "@")
	if i < 0 || j <= i {
		return msg
	}
	var off int64
	if _, err := fmt.Sscanf(msg[i+1:j], "%d", &off); err != nil {
		return msg
	}
	return msg[:i] + src.at(base+off) + msg[j+1:]
}
