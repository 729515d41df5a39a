// Package directory says who exists: tenants, their users and their
// registered applications. It is pure data: built once (from a JSON file
// with Load, from values with New, or the dev-mode demo with Demo),
// validated as a whole, and never changed afterwards, so that it can be
// shared by every request without locks. Lookups are map lookups.
//
// # File format
//
// A directory file is one JSON object with three arrays; every name is
// lowerCamel and an unknown name is an error. testdata/example.json is a
// complete example.
//
//	{
//	  "tenants": [{
//	    "id":      "<tenant GUID>",            // required, lowercase canonical GUID
//	    "name":    "Contoso",                  // required, display name
//	    "domains": ["contoso.dev", ...],       // required, verified domains; the first is the default
//	    "externalAccess": {                    // optional, cross-tenant presence (semantics §6)
//	      "allowAllExternal": false,           //   admit every other tenant not blocked
//	      "allowedDomains": ["fabrikam.dev"],  //   admit the tenants owning these domains
//	      "blockedDomains": []                 //   never admit the tenants owning these domains
//	    }
//	  }],
//	  "users": [{
//	    "id":                "<user GUID>",    // required, the object id: Graph's user.id and presence.id
//	    "tenantId":          "<tenant GUID>",  // required, one of the tenants above
//	    "userPrincipalName": "adele@contoso.dev", // required, unique; its domain is one of the tenant's domains
//	    "displayName":       "Adele Vance",    // optional
//	    "password":          "..."             // optional, dev/test only: enables the password grant
//	  }],
//	  "applications": [{
//	    "clientId": "<app GUID>",              // required, the application (client) id
//	    "tenantId": "<tenant GUID>",           // required, the tenant the app is registered in
//	    "name":     "presenced demo daemon",   // required, display name
//	    "secret":   "...",                     // client secret; required unless "public" is true
//	    "roles":    ["Presence.ReadWrite.All"],// application permissions granted (admin consent)
//	    "scopes":   ["Presence.Read"],         // delegated scopes consented for the tenant's users
//	    "public":   false,                     // public client: password grant without a secret
//	    "redirectUris":    ["https://app.example/signin"], // web (or native) redirect URIs of the authorization-code flow
//	    "spaRedirectUris": ["https://board.example/"]      // single-page app redirect URIs (PKCE, redeemed from the browser)
//	  }]
//	}
//
// Roles may be Presence.Read.All, Presence.ReadWrite.All, User.Read.All, Calendars.Read,
// Calendars.ReadWrite, MailboxSettings.Read and MailboxSettings.ReadWrite.
// Scopes may be Presence.Read, Presence.Read.All, Presence.ReadWrite, the
// same four Calendars and MailboxSettings permissions, User.Read,
// User.ReadBasic.All, User.Read.All,
// offline_access, openid, profile and email. Ids, user principal names,
// client ids and domains are unique across the whole directory; GUIDs are
// written in lowercase canonical form (8-4-4-4-12 hex digits).
package directory

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/presenced/presenced/presence"
)

// Tenant is an organization.
type Tenant struct {
	// ID is the tenant id (Entra "tid"), a lowercase GUID.
	ID string `json:"id"`
	// Name is the organization's display name.
	Name string `json:"name"`
	// Domains are the verified domains; the first is the default domain.
	// The tenant may be addressed by any of them (case-insensitive), and
	// user principal names must end in one of them.
	Domains []string `json:"domains"`
	// ExternalAccess is the tenant's external access policy: which other
	// tenants may see its users' presence (semantics §6). The zero value
	// admits no other tenant.
	ExternalAccess ExternalAccess `json:"externalAccess,omitzero"`
}

// ExternalAccess is a tenant's policy over the verified domains of other
// tenants (Teams external access). A tenant admits another tenant when no
// domain of the other is blocked and either AllowAllExternal is set or some
// domain of the other is allowed.
type ExternalAccess struct {
	// AllowAllExternal admits every tenant none of whose domains is blocked.
	AllowAllExternal bool `json:"allowAllExternal,omitempty"`
	// AllowedDomains admit the tenants that own any of them.
	AllowedDomains []string `json:"allowedDomains,omitempty"`
	// BlockedDomains refuse the tenants that own any of them; blocking wins.
	BlockedDomains []string `json:"blockedDomains,omitempty"`
}

// User is a person in a tenant.
type User struct {
	// ID is the user's object id (Entra "oid", Graph user.id), a lowercase GUID.
	ID string `json:"id"`
	// TenantID is the id of the user's tenant.
	TenantID string `json:"tenantId"`
	// UserPrincipalName is the sign-in name, user@domain, unique and
	// case-insensitive; the domain is one of the tenant's verified domains.
	UserPrincipalName string `json:"userPrincipalName"`
	// DisplayName is the user's name as shown to people.
	DisplayName string `json:"displayName,omitempty"`
	// Password is for development and tests only (the password grant of the
	// built-in issuer). Empty: the user cannot sign in with a password.
	Password string `json:"password,omitempty"`
}

// App is a registered application (an app registration with its service
// principal in its tenant).
type App struct {
	// ClientID is the application (client) id, a lowercase GUID.
	ClientID string `json:"clientId"`
	// TenantID is the tenant the application is registered in; it gets
	// tokens for that tenant only.
	TenantID string `json:"tenantId"`
	// Name is the application's display name.
	Name string `json:"name"`
	// Secret is the client secret. Required for confidential clients
	// (Public false); a public client may have none.
	Secret string `json:"secret,omitempty"`
	// Roles are the application permissions granted to the app, carried in
	// app-only tokens as "roles": Presence.Read.All, Presence.ReadWrite.All,
	// Calendars.Read(Write), MailboxSettings.Read(Write).
	Roles []string `json:"roles,omitempty"`
	// Scopes are the delegated permissions consented for the app, carried
	// in delegated tokens as "scp": Presence.Read, Presence.Read.All,
	// Presence.ReadWrite, User.Read (and the OpenID scopes offline_access,
	// openid, profile, email, which never appear in "scp").
	Scopes []string `json:"scopes,omitempty"`
	// Public marks a public client (a desktop or mobile app that cannot
	// keep a secret): it may use the password grant without a secret.
	Public bool `json:"public,omitempty"`
	// RedirectURIs are where the authorization-code flow may send a web
	// application's (or a native public client's) codes: https, http on
	// a loopback host, or a native app's own scheme.
	RedirectURIs []string `json:"redirectUris,omitempty"`
	// SPARedirectURIs are a single-page application's redirect URIs: the
	// code is redeemed from the browser, with PKCE and without a secret,
	// and refresh tokens live 24 hours (as Entra's "spa" platform).
	SPARedirectURIs []string `json:"spaRedirectUris,omitempty"`
}

// spNamespace is the UUIDv5 namespace of service principal ids.
var spNamespace = [16]byte{0x6b, 0x1f, 0x0e, 0x8c, 0x3d, 0x52, 0x4f, 0x0b, 0x9a, 0x47, 0x2c, 0x6e, 0x15, 0xd0, 0x88, 0x31}

// ServicePrincipalID is the object id of the app's service principal in its
// tenant: the "oid" (and "sub") of its app-only tokens. It is derived, not
// stored: the name-based UUID version 5 (RFC 9562, SHA-1) of the lowercase
// client id in the namespace 6b1f0e8c-3d52-4f0b-9a47-2c6e15d08831, so it
// is stable across restarts and servers.
func (a App) ServicePrincipalID() string {
	h := sha1.New()
	h.Write(spNamespace[:])
	h.Write([]byte(strings.ToLower(a.ClientID)))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = (u[6] & 0x0f) | 0x50
	u[8] = (u[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// Roles (application permissions) a directory may grant.
var knownRoles = []string{"Presence.Read.All", "Presence.ReadWrite.All", "Calendars.Read", "Calendars.ReadWrite", "MailboxSettings.Read", "MailboxSettings.ReadWrite", "User.Read.All"}

// Delegated scopes a directory may consent.
var knownScopes = []string{"Presence.Read", "Presence.Read.All", "Presence.ReadWrite", "Calendars.Read", "Calendars.ReadWrite", "MailboxSettings.Read", "MailboxSettings.ReadWrite", "User.Read", "User.ReadBasic.All", "User.Read.All", "offline_access", "openid", "profile", "email"}

// KnownRoles returns the application permissions a directory may grant.
func KnownRoles() []string { return slices.Clone(knownRoles) }

// KnownScopes returns the delegated scopes a directory may consent.
func KnownScopes() []string { return slices.Clone(knownScopes) }

// Directory is an immutable, validated set of tenants, users and apps.
// Its methods are safe for concurrent use.
// Directory is who exists, as of now. Its content is an immutable snapshot
// that Replace swaps atomically (an operator's reload after editing the
// file), so that every request reads a consistent, lock-free view and a
// change of external access applies at once, to reads and deliveries alike.
type Directory struct {
	cur     atomic.Pointer[snapshot]
	version atomic.Uint64
}

// snapshot is one validated, never-changing version of the directory.
type snapshot struct {
	tenants     []Tenant
	tenantByID  map[string]int // lowercase id → index in tenants
	tenantByDom map[string]int // lowercase domain → index in tenants
	users       *userTable
	usersOf     [][]uint32 // per tenant: its users, in directory order
	apps        []App
	appByID     map[string]int    // lowercase client id → index in apps
	allowed     []map[string]bool // per tenant: lowercase allowed domains
	blocked     []map[string]bool // per tenant: lowercase blocked domains
}

// New validates tenants, users and apps and builds a directory of copies
// of them. The error is a *presence.Error (Invalid) that names the entry
// ("users[3]", with its id or name) and the field at fault.
func New(tenants []Tenant, users []User, apps []App) (*Directory, error) {
	d := &snapshot{
		tenantByID:  make(map[string]int, len(tenants)),
		tenantByDom: make(map[string]int, len(tenants)),
		appByID:     make(map[string]int, len(apps)),
	}
	if len(tenants) == 0 {
		return nil, presence.Errorf(presence.Invalid, "tenants", "The directory has no tenants; at least one tenant is required.")
	}
	for i, t := range tenants {
		at := entryRef{"tenants", i, t.Name}
		if err := checkGUID(at, "id", t.ID); err != nil {
			return nil, err
		}
		if j, dup := d.tenantByID[t.ID]; dup {
			return nil, invalid(at, "id", "id %q is already the id of tenants[%d]; tenant ids must be unique.", t.ID, j)
		}
		if strings.TrimSpace(t.Name) == "" {
			return nil, invalid(at, "name", "name is empty; every tenant needs a display name.")
		}
		if len(t.Domains) == 0 {
			return nil, invalid(at, "domains", "domains is empty; every tenant needs at least one verified domain (the first is its default domain).")
		}
		for k, dom := range t.Domains {
			f := fmt.Sprintf("domains[%d]", k)
			if err := checkDomain(at, f, dom); err != nil {
				return nil, err
			}
			if j, dup := d.tenantByDom[strings.ToLower(dom)]; dup {
				return nil, invalid(at, f, "domain %q is already a verified domain of tenants[%d]; a domain belongs to one tenant only.", dom, j)
			}
			d.tenantByDom[strings.ToLower(dom)] = i
		}
		allowed, blocked := map[string]bool{}, map[string]bool{}
		for k, dom := range t.ExternalAccess.AllowedDomains {
			if err := checkDomain(at, fmt.Sprintf("externalAccess.allowedDomains[%d]", k), dom); err != nil {
				return nil, err
			}
			allowed[strings.ToLower(dom)] = true
		}
		for k, dom := range t.ExternalAccess.BlockedDomains {
			if err := checkDomain(at, fmt.Sprintf("externalAccess.blockedDomains[%d]", k), dom); err != nil {
				return nil, err
			}
			blocked[strings.ToLower(dom)] = true
		}
		d.tenantByID[t.ID] = i
		t.Domains = slices.Clone(t.Domains)
		t.ExternalAccess.AllowedDomains = slices.Clone(t.ExternalAccess.AllowedDomains)
		t.ExternalAccess.BlockedDomains = slices.Clone(t.ExternalAccess.BlockedDomains)
		d.tenants = append(d.tenants, t)
		d.allowed = append(d.allowed, allowed)
		d.blocked = append(d.blocked, blocked)
	}

	d.users = newUserTable(users)
	d.usersOf = make([][]uint32, len(d.tenants))
	for i, u := range users {
		at := entryRef{"users", i, u.UserPrincipalName}
		if err := checkGUID(at, "id", u.ID); err != nil {
			return nil, err
		}
		ti, err := d.tenantRef(at, u.TenantID)
		if err != nil {
			return nil, err
		}
		if err := checkUPN(at, u.UserPrincipalName, d.tenants[ti]); err != nil {
			return nil, err
		}
		if len(u.DisplayName) > maxDisplayName || utf8.RuneCountInString(u.DisplayName) > 256 {
			return nil, invalid(at, "displayName", "displayName is longer than 256 characters.")
		}
		if len(u.Password) > maxPassword || utf8.RuneCountInString(u.Password) > 256 {
			return nil, invalid(at, "password", "password is longer than 256 characters.")
		}
		switch dupID, dupUPN := d.users.add(u, ti); {
		case dupID >= 0:
			return nil, invalid(at, "id", "id %q is already the id of users[%d] (%q); user ids must be unique.", u.ID, dupID, d.users.upnOf(dupID))
		case dupUPN >= 0:
			return nil, invalid(at, "userPrincipalName", "userPrincipalName %q is already used by users[%d] (id %s); user principal names must be unique (case-insensitive).", u.UserPrincipalName, dupUPN, d.users.idOf(dupUPN))
		}
		d.usersOf[ti] = append(d.usersOf[ti], uint32(i))
	}

	for i, a := range apps {
		at := entryRef{"applications", i, a.Name}
		if err := checkGUID(at, "clientId", a.ClientID); err != nil {
			return nil, err
		}
		if j, dup := d.appByID[a.ClientID]; dup {
			return nil, invalid(at, "clientId", "clientId %q is already the client id of applications[%d] (%q); client ids must be unique.", a.ClientID, j, d.apps[j].Name)
		}
		if _, ok := d.tenantByID[a.ClientID]; ok {
			return nil, invalid(at, "clientId", "clientId %q is also a tenant id; use a GUID of its own.", a.ClientID)
		}
		if d.users.lookupID(a.ClientID) >= 0 {
			return nil, invalid(at, "clientId", "clientId %q is also a user id; use a GUID of its own.", a.ClientID)
		}
		if _, err := d.tenantRef(at, a.TenantID); err != nil {
			return nil, err
		}
		if strings.TrimSpace(a.Name) == "" {
			return nil, invalid(at, "name", "name is empty; every application needs a display name.")
		}
		if !a.Public && a.Secret == "" {
			return nil, invalid(at, "secret", "secret is empty; a confidential client needs a client secret (or set \"public\": true for a public client that signs users in without one).")
		}
		var err error
		if a.Roles, err = checkPerms(at, "roles", a.Roles, knownRoles, "application permissions"); err != nil {
			return nil, err
		}
		if a.Scopes, err = checkPerms(at, "scopes", a.Scopes, knownScopes, "delegated scopes"); err != nil {
			return nil, err
		}
		if err := checkRedirectURIs(at, "redirectUris", a.RedirectURIs, RedirectWeb, a.Public); err != nil {
			return nil, err
		}
		if err := checkRedirectURIs(at, "spaRedirectUris", a.SPARedirectURIs, RedirectSPA, a.Public); err != nil {
			return nil, err
		}
		a.RedirectURIs, a.SPARedirectURIs = slices.Clone(a.RedirectURIs), slices.Clone(a.SPARedirectURIs)
		d.appByID[a.ClientID] = i
		d.apps = append(d.apps, a)
	}
	out := &Directory{}
	out.cur.Store(d)
	return out, nil
}

func (d *snapshot) tenantRef(at entryRef, id string) (int, error) {
	if id == "" {
		return 0, invalid(at, "tenantId", "tenantId is empty; it must be the id of one of the directory's tenants.")
	}
	ti, ok := d.tenantByID[id]
	if !ok {
		if tj, byDomain := d.tenantByDom[strings.ToLower(id)]; byDomain {
			return 0, invalid(at, "tenantId", "tenantId %q is a domain; write the tenant's id %q.", id, d.tenants[tj].ID)
		}
		return 0, invalid(at, "tenantId", "tenantId %q is not the id of any tenant in the directory.", id)
	}
	return ti, nil
}

// entryRef names an entry of the directory in error messages, such as
// users[3] ("adele@contoso.dev"). It is formatted only when there is an
// error: a million users otherwise cost two fmt.Sprintf each while loading.
type entryRef struct {
	list string
	i    int
	name string
}

func (e entryRef) String() string {
	if e.name == "" {
		return fmt.Sprintf("%s[%d]", e.list, e.i)
	}
	return fmt.Sprintf("%s[%d] (%q)", e.list, e.i, e.name)
}

func invalid(at entryRef, field, format string, args ...any) error {
	return presence.Errorf(presence.Invalid, field, "directory: %s: %s", at, fmt.Sprintf(format, args...))
}

// IsGUID reports whether s is a GUID in lowercase canonical form
// (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex digits 0-9a-f).
func IsGUID(s string) bool {
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
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// IsUserID reports whether s names a user the way the API accepts: an
// object id (a GUID, in any case) or a userPrincipalName.
func IsUserID(s string) bool { return IsGUID(strings.ToLower(s)) || IsUPN(s) }

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

// Tenant returns the tenant with id or verified domain idOrDomain (both
// case-insensitive).
func (d *snapshot) Tenant(idOrDomain string) (Tenant, bool) {
	i, ok := d.tenantIndex(idOrDomain)
	if !ok {
		return Tenant{}, false
	}
	return d.tenantCopy(i), true
}

func (d *snapshot) tenantIndex(idOrDomain string) (int, bool) {
	if i, ok := d.tenantByID[idOrDomain]; ok {
		return i, true
	}
	key := strings.ToLower(idOrDomain)
	if i, ok := d.tenantByID[key]; ok {
		return i, true
	}
	i, ok := d.tenantByDom[key]
	return i, ok
}

func (d *snapshot) tenantCopy(i int) Tenant {
	t := d.tenants[i]
	t.Domains = slices.Clone(t.Domains)
	t.ExternalAccess.AllowedDomains = slices.Clone(t.ExternalAccess.AllowedDomains)
	t.ExternalAccess.BlockedDomains = slices.Clone(t.ExternalAccess.BlockedDomains)
	return t
}

// Tenants returns all tenants in directory order.
func (d *snapshot) Tenants() []Tenant {
	out := make([]Tenant, len(d.tenants))
	for i := range d.tenants {
		out[i] = d.tenantCopy(i)
	}
	return out
}

// User returns the user with object id or user principal name idOrUPN
// (both case-insensitive), in any tenant.
func (d *snapshot) User(idOrUPN string) (User, bool) {
	i := d.users.lookupID(idOrUPN)
	if i < 0 {
		key := strings.ToLower(idOrUPN)
		if key != idOrUPN {
			i = d.users.lookupID(key)
		}
		if i < 0 {
			i = d.users.lookupUPN(key)
		}
	}
	if i < 0 {
		return User{}, false
	}
	return d.user(i), true
}

// user returns user i with its tenant's id.
func (d *snapshot) user(i int) User {
	u := d.users.user(i)
	u.TenantID = d.tenants[d.users.recs[i].tenant].ID
	return u
}

// UserInTenant is User restricted to one tenant (given by id or domain).
func (d *snapshot) UserInTenant(tenant, idOrUPN string) (User, bool) {
	ti, ok := d.tenantIndex(tenant)
	if !ok {
		return User{}, false
	}
	u, ok := d.User(idOrUPN)
	if !ok || u.TenantID != d.tenants[ti].ID {
		return User{}, false
	}
	return u, true
}

// Users returns the users of a tenant (given by id or domain) in directory
// order; nil for an unknown tenant.
func (d *snapshot) Users(tenant string) []User {
	ti, ok := d.tenantIndex(tenant)
	if !ok {
		return nil
	}
	idx := d.usersOf[ti]
	out := make([]User, len(idx))
	for k, i := range idx {
		out[k] = d.user(int(i))
	}
	return out
}

// App returns the application with the client id (case-insensitive).
func (d *snapshot) App(clientID string) (App, bool) {
	i, ok := d.appByID[clientID]
	if !ok {
		i, ok = d.appByID[strings.ToLower(clientID)]
	}
	if !ok {
		return App{}, false
	}
	return d.appCopy(i), true
}

func (d *snapshot) appCopy(i int) App {
	a := d.apps[i]
	a.Roles = slices.Clone(a.Roles)
	a.Scopes = slices.Clone(a.Scopes)
	a.RedirectURIs = slices.Clone(a.RedirectURIs)
	a.SPARedirectURIs = slices.Clone(a.SPARedirectURIs)
	return a
}

// Authenticate checks a user's password: the user must be in the tenant
// (id or domain) and have a non-empty password equal to password. The
// comparison takes the same time whatever the password's content or length.
func (d *snapshot) Authenticate(tenant, upn, password string) (User, bool) {
	u, ok := d.UserInTenant(tenant, upn)
	want := u.Password
	if !ok || want == "" {
		want = "\x00no password\x00" // compare anyway: same work either way
	}
	a, b := sha256.Sum256([]byte(password)), sha256.Sum256([]byte(want))
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 || !ok || u.Password == "" {
		return User{}, false
	}
	return u, true
}

// Admits reports whether tenant a's external access policy admits tenant
// b (both by id or domain): no domain of b is blocked by a, and a allows
// all external tenants or one of b's domains. A tenant always admits itself.
func (d *snapshot) Admits(a, b string) bool {
	ai, ok1 := d.tenantIndex(a)
	bi, ok2 := d.tenantIndex(b)
	if !ok1 || !ok2 {
		return false
	}
	if ai == bi {
		return true
	}
	allowed := d.tenants[ai].ExternalAccess.AllowAllExternal
	for _, dom := range d.tenants[bi].Domains {
		dom = strings.ToLower(dom)
		if d.blocked[ai][dom] {
			return false
		}
		if d.allowed[ai][dom] {
			allowed = true
		}
	}
	return allowed
}

// Trusted reports whether tenants a and b trust each other (mutual trust,
// semantics §6): a admits b and b admits a. A reader in one may then see,
// and subscribe to, the presence of users in the other.
func (d *snapshot) Trusted(a, b string) bool {
	return d.Admits(a, b) && d.Admits(b, a)
}

// Replace makes with's content the directory's content, atomically.
func (d *Directory) Replace(with *Directory) {
	d.cur.Store(with.cur.Load())
	d.version.Add(1)
}

// Version changes with every Replace, so that caches of what was derived
// from the directory (validated tokens) know when to start over.
func (d *Directory) Version() uint64 { return d.version.Load() }

// Tenant returns the tenant with id or verified domain idOrDomain (both
// case-insensitive).
func (d *Directory) Tenant(idOrDomain string) (Tenant, bool) { return d.cur.Load().Tenant(idOrDomain) }

// Tenants returns every tenant.
func (d *Directory) Tenants() []Tenant { return d.cur.Load().Tenants() }

// User returns the user with object id or userPrincipalName idOrUPN.
func (d *Directory) User(idOrUPN string) (User, bool) { return d.cur.Load().User(idOrUPN) }

// UserInTenant is User limited to one tenant (id or domain).
func (d *Directory) UserInTenant(tenant, idOrUPN string) (User, bool) {
	return d.cur.Load().UserInTenant(tenant, idOrUPN)
}

// UserCount is how many users the directory has, in all tenants.
func (d *Directory) UserCount() int { return d.cur.Load().users.len() }

// Users returns the users of a tenant (id or domain).
func (d *Directory) Users(tenant string) []User { return d.cur.Load().Users(tenant) }

// App returns the application with client id clientID.
func (d *Directory) App(clientID string) (App, bool) { return d.cur.Load().App(clientID) }

// Apps returns every application, in directory order.
func (d *Directory) Apps() []App {
	s := d.cur.Load()
	out := make([]App, len(s.apps))
	for i := range s.apps {
		out[i] = s.appCopy(i)
	}
	return out
}

// ScanUsers calls yield with the users of a tenant (id or domain) in
// directory order, from position from (0: the first) on, each with its
// position, until yield returns false. It copies no list: a page of a
// million users' tenant costs the users it passes.
func (d *Directory) ScanUsers(tenant string, from int, yield func(pos int, u User) bool) {
	s := d.cur.Load()
	ti, ok := s.tenantIndex(tenant)
	if !ok {
		return
	}
	idx := s.usersOf[ti]
	for k := max(from, 0); k < len(idx); k++ {
		if !yield(k, s.user(int(idx[k]))) {
			return
		}
	}
}

// Authenticate checks a user's password (dev/test only).
func (d *Directory) Authenticate(tenant, upn, password string) (User, bool) {
	return d.cur.Load().Authenticate(tenant, upn, password)
}

// Admits reports whether tenant a's external access admits tenant b (semantics §6).
func (d *Directory) Admits(a, b string) bool { return d.cur.Load().Admits(a, b) }

// Trusted reports whether tenants a and b admit each other (mutual trust).
func (d *Directory) Trusted(a, b string) bool { return d.cur.Load().Trusted(a, b) }
