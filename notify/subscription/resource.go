package subscription

import (
	"fmt"
	"strings"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/presence"
)

// The two resource forms presence subscriptions accept (graph-presence.md
// §6.1), as shown in error messages.
const (
	formSingle = "/communications/presences/{id}"
	formFilter = "/communications/presences?$filter=id in ('{id}','{id}',…)"
)

const collection = "communications/presences"

// ParseResource returns the user ids named by a presence subscription
// resource. Exactly two forms are accepted:
//
//	/communications/presences/{id}
//	/communications/presences?$filter=id in ('{id}','{id}',…)
//
// The leading slash is optional and the path is matched case-insensitively,
// as Graph matches URL segments. The whole resource may be percent-encoded
// (%20, %27, %24…; decoded once), and '+' outside the quotes is a space, as
// in a query string. Around "in", the commas and the parentheses any
// whitespace is allowed; "id" and "in" are case-insensitive. Each id is a
// single-quoted OData string (a doubled quote stands for one) holding a user
// object id (a GUID) or a userPrincipalName: Graph accepts only object ids,
// presenced also UPNs (semantics.md §5); the caller resolves them. Ids are
// compared case-insensitively (both kinds are case-insensitive in Entra) and
// duplicates are dropped, keeping the first spelling and the order. The list
// may not be empty nor have more than MaxIDs entries, every entry counted (a
// repeated id too), as getPresencesByUserId and the stream count them.
//
// The parser is written by hand rather than on top of an OData $filter
// parser: that grammar is large (functions, lambdas, arithmetic, nested
// boolean logic) and the only filter Graph supports here is one tiny shape,
// which is easier to accept strictly — and to explain when it does not
// match — with a few lines of scanning than to carve out of a general AST.
//
// A failure is a *presence.Error with Code Invalid and Field "resource"
// whose message says what is wrong and shows both accepted forms.
func ParseResource(s string) (ids []string, err error) {
	if s == "" {
		return nil, presence.Errorf(presence.Invalid, "resource",
			"resource is required; accepted forms: %s and %s, with up to %d user object ids (GUIDs) or userPrincipalNames.", formSingle, formFilter, MaxIDs)
	}
	d, err := percentDecode(s)
	if err != nil {
		return nil, resourceErr(s, "%v", err)
	}
	p := strings.TrimPrefix(d, "/")
	if len(p) < len(collection) || !strings.EqualFold(p[:len(collection)], collection) {
		l := strings.ToLower(p)
		if (strings.HasPrefix(l, "users/") || strings.HasPrefix(l, "me/")) && strings.Contains(l, "presence") {
			return nil, resourceErr(s, "subscriptions are made on /communications/presences, not on a user's presence property")
		}
		return nil, resourceErr(s, "it must start with /communications/presences")
	}
	rest := p[len(collection):]
	switch {
	case rest == "":
		return nil, resourceErr(s, "it names the whole presences collection; name the users with /{id} or with $filter=id in (…)")
	case rest[0] == '/':
		return parseSingle(s, rest[1:])
	case rest[0] == '?':
		q := rest[1:]
		const key = "$filter="
		if len(q) < len(key) || !strings.EqualFold(q[:len(key)], key) {
			return nil, resourceErr(s, "the only query accepted is $filter=id in (…)")
		}
		return parseFilter(s, q[len(key):])
	default:
		return nil, resourceErr(s, "unexpected %q after /communications/presences", presence.Clip(rest, 20))
	}
}

func parseSingle(s, id string) ([]string, error) {
	if id == "" {
		return nil, resourceErr(s, "the id after /communications/presences/ is empty")
	}
	if i := strings.IndexAny(id, "/?"); i >= 0 {
		return nil, resourceErr(s, "unexpected %q after the id %q", presence.Clip(id[i:], 20), presence.Clip(id[:i], 60))
	}
	if why := checkID(id); why != "" {
		return nil, resourceErr(s, "%q %s", presence.Clip(id, 60), why)
	}
	return []string{id}, nil
}

// filterScanner walks the text after "$filter=".
type filterScanner struct {
	s string
	i int
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '+' }

func (f *filterScanner) skipSpace() int {
	n := 0
	for f.i < len(f.s) && isSpace(f.s[f.i]) {
		f.i++
		n++
	}
	return n
}

// word consumes w (ASCII, case-insensitive) if it comes next.
func (f *filterScanner) word(w string) bool {
	if len(f.s)-f.i >= len(w) && strings.EqualFold(f.s[f.i:f.i+len(w)], w) {
		f.i += len(w)
		return true
	}
	return false
}

func (f *filterScanner) peek() byte {
	if f.i < len(f.s) {
		return f.s[f.i]
	}
	return 0
}

// near describes where the scanner stands, for messages.
func (f *filterScanner) near() string {
	if f.i >= len(f.s) {
		return "the end"
	}
	return fmt.Sprintf("%q", presence.Clip(f.s[f.i:], 20))
}

// quoted consumes one single-quoted OData string literal.
func (f *filterScanner) quoted() (string, bool) {
	v, next, ok := QuotedLiteral(f.s, f.i)
	if ok {
		f.i = next
	}
	return v, ok
}

// QuotedLiteral reads the OData string literal that starts at s[i] ('text',
// a quote written twice inside): its value and the index past its closing
// quote. ok is false when s[i] is not a quote or the literal is not closed.
// It is the one reading of a literal for every $filter presenced parses.
func QuotedLiteral(s string, i int) (value string, next int, ok bool) {
	if i >= len(s) || s[i] != '\'' {
		return "", i, false
	}
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		if s[j] != '\'' {
			b.WriteByte(s[j])
			continue
		}
		if j+1 < len(s) && s[j+1] == '\'' {
			b.WriteByte('\'')
			j++
			continue
		}
		return b.String(), j + 1, true
	}
	return "", i, false
}

func parseFilter(s, expr string) ([]string, error) {
	f := &filterScanner{s: expr}
	f.skipSpace()
	if !f.word("id") {
		return nil, resourceErr(s, "the filter must be id in (…); found %s", f.near())
	}
	if f.skipSpace() == 0 {
		return nil, resourceErr(s, "the filter must be id in (…); found %s after id", f.near())
	}
	op := f.i
	if !f.word("in") || (f.peek() != '(' && !isSpace(f.peek())) {
		f.i = op
		if f.word("eq") {
			return nil, resourceErr(s, "'id eq' is not supported: use id in ('{id}') or /communications/presences/{id}")
		}
		return nil, resourceErr(s, "the only operator accepted is 'in'; found %s after id", f.near())
	}
	f.skipSpace()
	if f.peek() != '(' {
		return nil, resourceErr(s, "expected '(' after 'id in'; found %s", f.near())
	}
	f.i++
	var ids []string
	seen := make(map[string]bool)
	n := 1 // the entry being read; at the end, how many there are
	for ; ; n++ {
		f.skipSpace()
		start := f.i
		id, ok := f.quoted()
		if !ok {
			switch c := f.peek(); {
			case c == ')' && n == 1:
				return nil, resourceErr(s, "the id list is empty")
			case c == '\'':
				return nil, resourceErr(s, "id number %d has no closing quote", n)
			case c == '"':
				return nil, resourceErr(s, "id number %d is in double quotes; ids are in single quotes: 'id'", n)
			default:
				return nil, resourceErr(s, "expected id number %d in single quotes; found %s", n, f.near())
			}
		}
		if why := checkID(id); why != "" {
			return nil, resourceErr(s, "id number %d, %s, %s", n, presence.Clip(expr[start:f.i], 60), why)
		}
		if key := strings.ToLower(id); !seen[key] && n <= MaxIDs {
			seen[key] = true
			ids = append(ids, id)
		}
		f.skipSpace()
		switch f.peek() {
		case ',':
			f.i++
			continue
		case ')':
			f.i++
		default:
			return nil, resourceErr(s, "expected ',' or ')' after id number %d; found %s", n, f.near())
		}
		break
	}
	f.skipSpace()
	if f.i < len(f.s) {
		return nil, resourceErr(s, "unexpected %s after the closing ')'", f.near())
	}
	if err := presence.CheckIDCount("resource", "the id list", n); err != nil {
		return nil, resourceErr(s, "%s; split the users over several subscriptions", strings.TrimSuffix(presence.ErrorMessage(err), "."))
	}
	return ids, nil
}

// FormatResource is the inverse of ParseResource: one id gives
// /communications/presences/{id}, any other number the $filter form, with
// quotes in ids doubled. ids should be ones ParseResource accepted (an
// empty list yields a resource ParseResource rejects).
func FormatResource(ids []string) string {
	if len(ids) == 1 {
		return "/" + collection + "/" + ids[0]
	}
	var b strings.Builder
	b.WriteString("/" + collection + "?$filter=id in (")
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(id, "'", "''"))
		b.WriteByte('\'')
	}
	b.WriteByte(')')
	return b.String()
}

func resourceErr(s, format string, args ...any) error {
	return presence.Errorf(presence.Invalid, "resource",
		"resource '%s' is not a presence subscription resource: %s. Accepted forms: %s and %s, with up to %d user object ids (GUIDs) or userPrincipalNames.",
		presence.Clip(s, 120), fmt.Sprintf(format, args...), formSingle, formFilter, MaxIDs)
}

// checkID returns why id is neither a user object id nor a
// userPrincipalName, or "" when it is one.
func checkID(id string) string {
	if directory.IsUserID(id) {
		return ""
	}
	return "is neither a user object id (a GUID such as 'fa8bf3dc-eca7-46b7-bad1-db199b62afc3') nor a userPrincipalName (such as 'adele@contoso.dev')"
}

// percentDecode decodes %XX escapes once. '+' is left alone: outside quotes
// the filter scanner treats it as a space, inside quotes it is part of an
// id (an encoded client sends a '+' in an id as %2B anyway).
func percentDecode(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || unhex(s[i+1]) < 0 || unhex(s[i+2]) < 0 {
			return "", fmt.Errorf("malformed percent-encoding %q at byte %d (a '%%' must be followed by two hex digits)", s[i:min(i+3, len(s))], i)
		}
		b.WriteByte(byte(unhex(s[i+1])<<4 | unhex(s[i+2])))
		i += 2
	}
	return b.String(), nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c|0x20 && c|0x20 <= 'f':
		return int(c|0x20-'a') + 10
	}
	return -1
}
