package directory

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/presenced/presenced/internal/kdf"
	"github.com/presenced/presenced/presence"
)

// entryRef names an entry of the directory in error messages, such as
// users[3] ("adele@contoso.dev"). It is formatted only when there is an
// error: a million users otherwise cost two fmt.Sprintf each while loading.
type entryRef struct {
	list string
	i    int
	name string
}

func (e entryRef) String() string {
	if e.list == "" {
		return ""
	}
	if e.name == "" {
		return fmt.Sprintf("%s[%d]", e.list, e.i)
	}
	return fmt.Sprintf("%s[%d] (%q)", e.list, e.i, e.name)
}

func invalid(at entryRef, field, format string, args ...any) error {
	if at.list == "" {
		// A single change (an API request): the caller named the entry.
		return presence.Errorf(presence.Invalid, field, format, args...)
	}
	return presence.Errorf(presence.Invalid, field, "directory: %s: %s", at, fmt.Sprintf(format, args...))
}

// single is the entryRef of a change made by a request, not a file entry.
var single = entryRef{}

// IsGUID reports whether s is a GUID in lowercase canonical form
// (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex digits 0-9a-f).
func IsGUID(s string) bool { return guidShape(s, false) }

// IsUserID reports whether s names a user the way the API accepts: an
// object id (a GUID, in any case) or a userPrincipalName.
func IsUserID(s string) bool { return guidShape(s, true) || IsUPN(s) }

// guidShape reports whether s is a GUID in canonical form, its hex digits
// in lowercase or, with anyCase, in either case. anyCase is
// IsGUID(strings.ToLower(s)) without the lowercase copy
// (getPresencesByUserId checks 650 ids a request): no character outside
// ASCII lowercases to a hex digit or a hyphen, so only ASCII letters
// need folding.
func guidShape(s string, anyCase bool) bool {
	if len(s) != guidLen {
		return false
	}
	for i := 0; i < guidLen; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if anyCase && 'A' <= c && c <= 'F' {
				c += 'a' - 'A'
			}
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// IsUPN accepts local@domain where the local part has 1–113 of the
// characters Entra allows in a UPN (letters, digits and ' . - _ ! # ^ ~)
// plus '+', which the directory accepts, and the domain is a DNS name of at
// least two labels. The character set keeps ids free of '%', '/', '?',
// quotes other than ' and whitespace, so that an id is safe in a URL path
// and in a subscription's $filter.
func IsUPN(s string) bool {
	local, dom, ok := strings.Cut(s, "@")
	if !ok || local == "" || len(local) > 113 || dom == "" || len(dom) > 253 {
		return false
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if !(isAlnum(c) || strings.IndexByte("'.-_!#^~+", c) >= 0) {
			return false
		}
	}
	labels := strings.Split(dom, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if !isAlnum(l[i]) && l[i] != '-' {
				return false
			}
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'z'
}

func checkGUID(at entryRef, field, s string) error {
	switch {
	case s == "":
		return invalid(at, field, "%s is empty; it must be a GUID such as \"fa8bf3dc-eca7-46b7-bad1-db199b62afc3\".", field)
	case IsGUID(s):
		return nil
	case IsGUID(strings.ToLower(s)):
		return invalid(at, field, "%s %q has uppercase letters; write GUIDs in lowercase (%q).", field, s, strings.ToLower(s))
	default:
		return invalid(at, field, "%s %q is not a GUID; it must look like \"fa8bf3dc-eca7-46b7-bad1-db199b62afc3\" (lowercase hex digits in groups of 8-4-4-4-12).", field, s)
	}
}

// checkDomain accepts DNS names of at least two labels of letters, digits
// and inner hyphens.
func checkDomain(at entryRef, field, dom string) error {
	bad := func(why string) error {
		return invalid(at, field, "domain %q is not a valid domain name: %s.", dom, why)
	}
	if dom == "" {
		return invalid(at, field, "domain is empty.")
	}
	if len(dom) > 253 {
		return bad("longer than 253 characters")
	}
	labels := strings.Split(dom, ".")
	if len(labels) < 2 {
		return bad("it needs at least two labels, such as \"contoso.dev\"")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return bad("every label must have 1 to 63 characters")
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return bad("a label may not start or end with '-'")
		}
		for i := 0; i < len(l); i++ {
			c := l[i] | 0x20
			if !('a' <= c && c <= 'z' || '0' <= l[i] && l[i] <= '9' || l[i] == '-') {
				return bad("only letters, digits, '-' and '.' are allowed")
			}
		}
	}
	return nil
}

func checkUPN(at entryRef, upn string, t Tenant) error {
	if upn == "" {
		return invalid(at, "userPrincipalName", "userPrincipalName is empty; it must be user@domain with one of the tenant's domains (%s).", strings.Join(t.Domains, ", "))
	}
	local, dom, ok := strings.Cut(upn, "@")
	if !ok || local == "" || strings.Contains(dom, "@") {
		return invalid(at, "userPrincipalName", "userPrincipalName %q is not of the form user@domain.", upn)
	}
	if len(local) > 113 {
		return invalid(at, "userPrincipalName", "userPrincipalName %q: the part before '@' is longer than 113 characters.", upn)
	}
	for _, r := range local {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`"'/\()<>,;:[]`, r) {
			return invalid(at, "userPrincipalName", "userPrincipalName %q: the part before '@' may not contain %q.", upn, r)
		}
	}
	for _, v := range t.Domains {
		if strings.EqualFold(v, dom) {
			return nil
		}
	}
	return invalid(at, "userPrincipalName", "userPrincipalName %q: domain %q is not a verified domain of tenant %q (%s); use one of: %s.", upn, dom, t.Name, t.ID, strings.Join(t.Domains, ", "))
}

// checkPerms checks names against known (case-insensitively), rewrites
// them in canonical case and rejects duplicates.
func checkPerms(at entryRef, field string, names, known []string, what string) ([]string, error) {
	out := make([]string, 0, len(names))
	for k, n := range names {
		i := slices.IndexFunc(known, func(s string) bool { return strings.EqualFold(s, n) })
		if i < 0 {
			return nil, invalid(at, fmt.Sprintf("%s[%d]", field, k), "%q is not one of the %s presenced knows: %s.", n, what, strings.Join(known, ", "))
		}
		if slices.Contains(out, known[i]) {
			return nil, invalid(at, fmt.Sprintf("%s[%d]", field, k), "%q is listed twice.", n)
		}
		out = append(out, known[i])
	}
	return out, nil
}

// Limits on the free-text fields of a user, which the compact table stores
// with 16-bit lengths. Entra's own limit for names is 256 characters.
const (
	maxDisplayName = 256
	maxPassword    = 256
	maxExternal    = 256
)

// checkText rejects text longer than n characters (or that is not UTF-8).
func checkText(at entryRef, field, s string, n int) error {
	if !utf8.ValidString(s) {
		return invalid(at, field, "%s is not valid UTF-8.", field)
	}
	if len(s) > n*utf8.UTFMax || utf8.RuneCountInString(s) > n {
		return invalid(at, field, "%s is longer than %d characters.", field, n)
	}
	return nil
}

// checkTenantFields checks one tenant on its own (not against others).
func checkTenantFields(at entryRef, t Tenant) error {
	if err := checkGUID(at, "id", t.ID); err != nil {
		return err
	}
	if strings.TrimSpace(t.Name) == "" {
		return invalid(at, "name", "name is empty; every tenant needs a display name.")
	}
	if err := checkText(at, "name", t.Name, maxDisplayName); err != nil {
		return err
	}
	if len(t.Domains) == 0 {
		return invalid(at, "domains", "domains is empty; every tenant needs at least one verified domain (the first is its default domain).")
	}
	seen := map[string]int{}
	for k, dom := range t.Domains {
		f := fmt.Sprintf("domains[%d]", k)
		if err := checkDomain(at, f, dom); err != nil {
			return err
		}
		if j, dup := seen[strings.ToLower(dom)]; dup {
			return invalid(at, f, "domain %q is listed twice (domains[%d]).", dom, j)
		}
		seen[strings.ToLower(dom)] = k
	}
	for k, dom := range t.ExternalAccess.AllowedDomains {
		if err := checkDomain(at, fmt.Sprintf("externalAccess.allowedDomains[%d]", k), dom); err != nil {
			return err
		}
	}
	for k, dom := range t.ExternalAccess.BlockedDomains {
		if err := checkDomain(at, fmt.Sprintf("externalAccess.blockedDomains[%d]", k), dom); err != nil {
			return err
		}
	}
	for k, s := range t.SCIMTokens {
		if err := checkSecret(at, fmt.Sprintf("scimTokens[%d]", k), s, false); err != nil {
			return err
		}
	}
	issuers := map[string]bool{}
	for k, is := range t.Issuers {
		f := fmt.Sprintf("issuers[%d]", k)
		if err := checkIssuer(at, f, is); err != nil {
			return err
		}
		if issuers[is.Issuer] {
			return invalid(at, f+".issuer", "issuer %q is listed twice.", is.Issuer)
		}
		issuers[is.Issuer] = true
	}
	return nil
}

// SCIMTokenPrefix starts a SCIM token's stored hash.
const SCIMTokenPrefix = "sha256:"

// checkSecret checks a stored credential: an argon2id hash (client
// secrets) or a SHA-256 one (SCIM tokens, argon2 false).
func checkSecret(at entryRef, field string, s Secret, argon2 bool) error {
	if err := checkGUID(at, field+".id", s.ID); err != nil {
		return err
	}
	if err := checkText(at, field+".displayName", s.DisplayName, maxDisplayName); err != nil {
		return err
	}
	if len(s.Hint) > 3*utf8.UTFMax || !utf8.ValidString(s.Hint) {
		return invalid(at, field+".hint", "hint is the first three characters of the secret at most.")
	}
	if argon2 {
		if err := kdf.Check(s.Hash); err != nil {
			return invalid(at, field+".hash", "hash is not an argon2id hash in PHC form ($argon2id$v=19$m=…,t=…,p=…$salt$hash): %v.", err)
		}
		return nil
	}
	hex, ok := strings.CutPrefix(s.Hash, SCIMTokenPrefix)
	if !ok || len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != "" {
		return invalid(at, field+".hash", "hash is not %s and 64 lowercase hex digits.", SCIMTokenPrefix)
	}
	return nil
}

// Claims an Issuer may name, and what each names.
var userClaims = map[string]string{"oid": MatchID, "sub": MatchID, "upn": MatchUPN, "preferred_username": MatchUPN, "email": MatchUPN, "unique_name": MatchUPN}

// checkIssuer checks a trusted issuer's settings.
func checkIssuer(at entryRef, field string, is Issuer) error {
	if err := checkHTTPSURL(at, field+".issuer", is.Issuer); err != nil {
		return err
	}
	if is.JWKSURI != "" {
		if err := checkHTTPSURL(at, field+".jwksUri", is.JWKSURI); err != nil {
			return err
		}
	}
	if len(is.Audiences) == 0 {
		return invalid(at, field+".audiences", "audiences is empty; name the audience (aud) of the tokens to accept, such as api://presenced or the API's application id.")
	}
	for k, a := range is.Audiences {
		if strings.TrimSpace(a) == "" || len(a) > 512 {
			return invalid(at, fmt.Sprintf("%s.audiences[%d]", field, k), "an audience must be 1 to 512 characters.")
		}
	}
	is = is.WithDefaults()
	if _, ok := userClaims[is.UserClaim]; !ok {
		return invalid(at, field+".userClaim", "userClaim %q is not one presenced reads; use oid, sub (the user's id) or upn, preferred_username, email, unique_name (the userPrincipalName).", is.UserClaim)
	}
	if is.UserMatch != MatchID && is.UserMatch != MatchUPN {
		return invalid(at, field+".userMatch", "userMatch %q must be %q or %q.", is.UserMatch, MatchID, MatchUPN)
	}
	for _, c := range []struct{ f, v string }{{"rolesClaim", is.RolesClaim}, {"scopesClaim", is.ScopesClaim}} {
		if len(c.v) > 64 || strings.ContainsAny(c.v, " \t\"") {
			return invalid(at, field+"."+c.f, "%s %q is not a claim name.", c.f, c.v)
		}
	}
	return nil
}

// checkHTTPSURL accepts an absolute https URL, or http on a loopback host
// (a local identity provider, tests), without user info or fragment.
func checkHTTPSURL(at entryRef, field, s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || len(s) > 2048 {
		return invalid(at, field, "%s %q is not an absolute https URL.", field, clipText(s))
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if h := u.Hostname(); h == "localhost" || h == "127.0.0.1" || h == "::1" {
			return nil
		}
	}
	return invalid(at, field, "%s %q must be https (http only on a loopback host, for a local identity provider).", field, clipText(s))
}

func clipText(s string) string {
	return presence.Clip(s, 100)
}

// checkUserFields checks one user entry on its own, against its tenant.
func checkUserFields(at entryRef, u UserEntry, t Tenant) error {
	if err := checkGUID(at, "id", u.ID); err != nil {
		return err
	}
	if err := checkUPN(at, u.UserPrincipalName, t); err != nil {
		return err
	}
	for _, f := range []struct {
		name, v string
		n       int
	}{{"displayName", u.DisplayName, maxDisplayName}, {"password", u.Password, maxPassword}, {"externalId", u.ExternalID, maxExternal},
		{"givenName", u.GivenName, maxDisplayName}, {"familyName", u.FamilyName, maxDisplayName}} {
		if err := checkText(at, f.name, f.v, f.n); err != nil {
			return err
		}
	}
	if u.Mail != "" && (!IsUPN(u.Mail) || len(u.Mail) > 256) {
		return invalid(at, "mail", "mail %q is not an email address (local@domain.example).", clipText(u.Mail))
	}
	if u.Password != "" && u.PasswordHash != "" {
		return invalid(at, "password", "both password and passwordHash are given; give one.")
	}
	if u.PasswordHash != "" {
		if err := kdf.Check(u.PasswordHash); err != nil {
			return invalid(at, "passwordHash", "passwordHash is not an argon2id hash in PHC form ($argon2id$v=19$m=…,t=…,p=…$salt$hash): %v.", err)
		}
	}
	return nil
}

// checkAppFields checks one application on its own; it returns the app
// with its permissions in canonical case.
func checkAppFields(at entryRef, a App) (App, error) {
	if err := checkGUID(at, "clientId", a.ClientID); err != nil {
		return a, err
	}
	if strings.TrimSpace(a.Name) == "" {
		return a, invalid(at, "name", "name is empty; every application needs a display name.")
	}
	if err := checkText(at, "name", a.Name, maxDisplayName); err != nil {
		return a, err
	}
	if !a.Public && !a.HasSecret() {
		return a, invalid(at, "secret", "secret is empty; a confidential client needs a client secret (or set \"public\": true for a public client that signs users in without one).")
	}
	if err := checkText(at, "secret", a.Secret, maxPassword); err != nil {
		return a, err
	}
	ids := map[string]bool{}
	for k, s := range a.Secrets {
		f := fmt.Sprintf("secrets[%d]", k)
		if err := checkSecret(at, f, s, true); err != nil {
			return a, err
		}
		if ids[s.ID] {
			return a, invalid(at, f+".id", "secret id %q is listed twice.", s.ID)
		}
		ids[s.ID] = true
	}
	var err error
	if a.Roles, err = checkPerms(at, "roles", a.Roles, knownRoles, "application permissions"); err != nil {
		return a, err
	}
	if a.Scopes, err = checkPerms(at, "scopes", a.Scopes, knownScopes, "delegated scopes"); err != nil {
		return a, err
	}
	if err := checkRedirectURIs(at, "redirectUris", a.RedirectURIs, RedirectWeb, a.Public); err != nil {
		return a, err
	}
	if err := checkRedirectURIs(at, "spaRedirectUris", a.SPARedirectURIs, RedirectSPA, a.Public); err != nil {
		return a, err
	}
	return a, nil
}

// cloneTenant copies t's slices.
func cloneTenant(t Tenant) Tenant {
	t.Domains = slices.Clone(t.Domains)
	t.ExternalAccess.AllowedDomains = slices.Clone(t.ExternalAccess.AllowedDomains)
	t.ExternalAccess.BlockedDomains = slices.Clone(t.ExternalAccess.BlockedDomains)
	t.SCIMTokens = slices.Clone(t.SCIMTokens)
	t.Issuers = slices.Clone(t.Issuers)
	for i := range t.Issuers {
		t.Issuers[i].Audiences = slices.Clone(t.Issuers[i].Audiences)
	}
	return t
}

// cloneApp copies a's slices.
func cloneApp(a App) App {
	a.Roles = slices.Clone(a.Roles)
	a.Scopes = slices.Clone(a.Scopes)
	a.Secrets = slices.Clone(a.Secrets)
	a.RedirectURIs = slices.Clone(a.RedirectURIs)
	a.SPARedirectURIs = slices.Clone(a.SPARedirectURIs)
	return a
}
