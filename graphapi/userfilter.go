package graphapi

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/notify/subscription"
	"github.com/presenced/presenced/presence"
)

// userFilter is a parsed $filter of GET /users: clauses joined by "or",
// each startswith(property,'text') or property eq 'text'. Graph's
// directory filters compare case-insensitively; so does this.
type userFilter []filterClause

type filterClause struct {
	prop   string // displayName, userPrincipalName or id
	prefix bool   // startswith; false: eq
	value  string // lowercase
}

// filterable are the properties a user filter may name (all that
// presenced knows of a user).
var filterable = []string{"displayName", "userPrincipalName", "mail", "id"}

// maxFilter bounds a $filter's length and its clauses.
const (
	maxFilter        = 2048
	maxFilterClauses = 16
)

// parseUserFilter reads a $filter. The error names what was wrong and
// what is accepted.
func parseUserFilter(s string) (userFilter, error) {
	bad := func(why string) error {
		return presence.Errorf(presence.Invalid, "$filter",
			"Invalid filter clause: %s. presenced filters users by startswith(displayName,'…'), startswith(userPrincipalName,'…') or eq on displayName, userPrincipalName or id, joined by 'or'.", why)
	}
	if len(s) > maxFilter {
		return nil, bad("the filter is longer than 2048 characters")
	}
	if !utf8.ValidString(s) {
		return nil, bad("the filter is not valid UTF-8")
	}
	p := &filterParser{s: s}
	var f userFilter
	for {
		c, why := p.clause()
		if why != "" {
			return nil, bad(why)
		}
		f = append(f, c)
		if len(f) > maxFilterClauses {
			return nil, bad("more than 16 clauses")
		}
		p.space()
		if p.done() {
			return f, nil
		}
		if !p.word("or") {
			return nil, bad("expected 'or' or the end at position " + strconv.Itoa(p.i))
		}
	}
}

type filterParser struct {
	s string
	i int
}

func (p *filterParser) done() bool { return p.i >= len(p.s) }

func (p *filterParser) space() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

// word consumes a keyword (case-insensitive) followed by a space, '(' or
// the end.
func (p *filterParser) word(w string) bool {
	p.space()
	if len(p.s)-p.i < len(w) || !strings.EqualFold(p.s[p.i:p.i+len(w)], w) {
		return false
	}
	if j := p.i + len(w); j < len(p.s) && p.s[j] != ' ' && p.s[j] != '(' {
		return false
	}
	p.i += len(w)
	return true
}

func (p *filterParser) ident() string {
	p.space()
	j := p.i
	for j < len(p.s) && (isIdentByte(p.s[j])) {
		j++
	}
	id := p.s[p.i:j]
	p.i = j
	return id
}

func isIdentByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

func (p *filterParser) punct(c byte) bool {
	p.space()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// literal reads 'text' with ” for a quote.
func (p *filterParser) literal() (string, bool) {
	p.space()
	v, next, ok := subscription.QuotedLiteral(p.s, p.i)
	if ok {
		p.i = next
	}
	return v, ok
}

func (p *filterParser) property() (string, string) {
	name := p.ident()
	for _, f := range filterable {
		if strings.EqualFold(f, name) {
			return f, ""
		}
	}
	if name == "" {
		return "", "expected a property name at position " + strconv.Itoa(p.i)
	}
	return "", "property '" + clip(name) + "' cannot be filtered on"
}

func (p *filterParser) clause() (filterClause, string) {
	if p.word("startswith") {
		if !p.punct('(') {
			return filterClause{}, "expected '(' after startswith"
		}
		prop, why := p.property()
		if why != "" {
			return filterClause{}, why
		}
		if !p.punct(',') {
			return filterClause{}, "expected ',' in startswith"
		}
		v, ok := p.literal()
		if !ok {
			return filterClause{}, "expected a quoted string such as 'ad' in startswith"
		}
		if !p.punct(')') {
			return filterClause{}, "expected ')' to close startswith"
		}
		return filterClause{prop: prop, prefix: true, value: strings.ToLower(v)}, ""
	}
	prop, why := p.property()
	if why != "" {
		return filterClause{}, why
	}
	if !p.word("eq") {
		return filterClause{}, "expected 'eq' after " + prop
	}
	v, ok := p.literal()
	if !ok {
		return filterClause{}, "expected a quoted string after eq"
	}
	return filterClause{prop: prop, value: strings.ToLower(v)}, ""
}

// matches reports whether u passes the filter (an empty filter passes all).
func (f userFilter) matches(u directory.User) bool {
	if len(f) == 0 {
		return true
	}
	for _, c := range f {
		if c.matches(u) {
			return true
		}
	}
	return false
}

// matches reports whether u passes the clause.
func (c filterClause) matches(u directory.User) bool {
	var v string
	switch c.prop {
	case "displayName":
		v = u.DisplayName
	case "userPrincipalName":
		v = u.UserPrincipalName
	case "mail":
		v = u.Mail
	default:
		v = u.ID
	}
	return c.prefix && hasPrefixFold(v, c.value) || !c.prefix && strings.EqualFold(v, c.value)
}

// lookups are the ids or userPrincipalNames the filter names with eq, when
// it is made of nothing else: those users are found in the directory's
// index, not by scanning the tenant (a userPrincipalName among a million
// users, as provisioning asks for each user it syncs).
func (f userFilter) lookups() bool {
	for _, c := range f {
		if c.prefix || c.prop != "userPrincipalName" && c.prop != "id" {
			return false
		}
	}
	return len(f) > 0
}

// hasPrefixFold reports whether s starts with lower (already lowercase)
// ignoring case, without allocating (it runs over every user of a page).
func hasPrefixFold(s, lower string) bool {
	for lower != "" {
		if s == "" {
			return false
		}
		r1, n1 := utf8.DecodeRuneInString(s)
		r2, n2 := utf8.DecodeRuneInString(lower)
		if r1 != r2 && unicode.ToLower(r1) != r2 {
			return false
		}
		s, lower = s[n1:], lower[n2:]
	}
	return true
}
