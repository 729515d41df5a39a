// Package directory says who exists: tenants, their users and their
// registered applications, in memory. It is pure data — validated, looked
// up without locks, changed one tenant, application or page of users at a
// time — and knows nothing of where it is kept: package dirstore keeps it
// in the engine and feeds it its changes.
//
// A Directory is built whole with New (from a File: a directory file, an
// import, the dev demo) and then changed with PutTenant, PutApp and
// ApplyPage. Every change makes a new immutable state that readers pick up
// with one atomic load; users are kept compactly (one arena of strings, a
// 16-byte record and two 4-byte index slots each, ~100 B a user), with
// recent changes in a small copy-on-write layer over that, folded in once
// it grows (docs/design.md, "Organisations").
//
// # File format
//
// A directory file is one JSON object with three arrays; every name is
// lowerCamel and an unknown name is an error. testdata/example.json is a
// complete example; docs/directory.md describes every field.
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
//	    },
//	    "scimTokens": [{"id", "hint", "hash"}],// optional: SCIM bearer tokens (SHA-256 hashes)
//	    "issuers": [{"issuer", "jwksUri", "audiences", ...}] // optional: trusted external token issuers
//	  }],
//	  "users": [{
//	    "id":                "<user GUID>",    // required, the object id: Graph's user.id and presence.id
//	    "tenantId":          "<tenant GUID>",  // required, one of the tenants above
//	    "userPrincipalName": "adele@contoso.dev", // required, unique; its domain is one of the tenant's domains
//	    "displayName":       "Adele Vance",    // optional
//	    "mail":              "adele@contoso.dev", // optional
//	    "accountEnabled":    true,             // optional, default true
//	    "password":          "...",            // optional: enables the password grant; hashed on import
//	    "passwordHash":      "$argon2id$...",  // or the hash, as an export writes it
//	    "externalId", "givenName", "familyName" // optional, what SCIM provisioning keeps
//	  }],
//	  "applications": [{
//	    "clientId": "<app GUID>",              // required, the application (client) id
//	    "tenantId": "<tenant GUID>",           // required, the tenant the app is registered in
//	    "name":     "presenced demo daemon",   // required, display name
//	    "secret":   "...",                     // a client secret; hashed on import
//	    "secrets":  [{"id", "hint", "hash"}],  // or the hashes, as an export writes them
//	    "roles":    ["Presence.ReadWrite.All"],// application permissions granted (admin consent)
//	    "scopes":   ["Presence.Read"],         // delegated scopes consented for the tenant's users
//	    "public":   false,                     // public client: password grant without a secret
//	    "redirectUris":    ["https://app.example/signin"], // web (or native) redirect URIs of the authorization-code flow
//	    "spaRedirectUris": ["https://board.example/"]      // single-page app redirect URIs (PKCE, redeemed from the browser)
//	  }]
//	}
//
// Ids, user principal names, client ids and domains are unique across the
// whole directory; GUIDs are written in lowercase canonical form (8-4-4-4-12
// hex digits).
package directory

import (
	"crypto/sha1"
	"fmt"
	"slices"
	"strings"
	"time"
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
	// SCIMTokens are the bearer tokens its identity provider provisions
	// users with (/scim/v2), as SHA-256 hashes.
	SCIMTokens []Secret `json:"scimTokens,omitempty"`
	// Issuers are the external token issuers it trusts (its own identity
	// provider), beside presenced's built-in one.
	Issuers []Issuer `json:"issuers,omitempty"`
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

// Secret is a stored credential: a client secret (argon2id hash) or a SCIM
// token (SHA-256 hash), never its value.
type Secret struct {
	// ID names it (a GUID), to remove it by; Graph's keyId.
	ID string `json:"id"`
	// Hint is the first three characters of the value, as Entra shows a
	// client secret's, so that an operator can tell secrets apart.
	Hint string `json:"hint,omitempty"`
	// Hash is "$argon2id$…" for a client secret, "sha256:<hex>" for a SCIM
	// token.
	Hash string `json:"hash"`
	// DisplayName is the operator's description.
	DisplayName string `json:"displayName,omitempty"`
	// Created is when it was made; Expires, when set, when it stops working.
	Created time.Time `json:"createdDateTime,omitzero"`
	Expires time.Time `json:"endDateTime,omitzero"`
}

// Issuer is an external token issuer a tenant trusts: tokens it signs,
// for one of the audiences, are accepted as the tenant's.
type Issuer struct {
	// Issuer is the exact "iss" of its tokens, e.g.
	// https://login.microsoftonline.com/<tenant id>/v2.0.
	Issuer string `json:"issuer"`
	// JWKSURI is where its signing keys are. Empty: found by OpenID
	// discovery at Issuer + "/.well-known/openid-configuration".
	JWKSURI string `json:"jwksUri,omitempty"`
	// Audiences are the "aud" values accepted, e.g. api://presenced.
	Audiences []string `json:"audiences"`
	// UserClaim is the claim naming the signed-in user (default "oid").
	UserClaim string `json:"userClaim,omitempty"`
	// UserMatch is what UserClaim is compared with: "id" (the default;
	// the user's object id) or "userPrincipalName".
	UserMatch string `json:"userMatch,omitempty"`
	// RolesClaim holds application permissions (default "roles"), and
	// ScopesClaim delegated scopes (default "scp", space-separated or an
	// array). A token with scopes is delegated, one without is an
	// application's.
	RolesClaim  string `json:"rolesClaim,omitempty"`
	ScopesClaim string `json:"scopesClaim,omitempty"`
}

// Claim defaults of an Issuer.
const (
	DefaultUserClaim   = "oid"
	DefaultRolesClaim  = "roles"
	DefaultScopesClaim = "scp"
	MatchID            = "id"
	MatchUPN           = "userPrincipalName"
)

// WithDefaults returns the issuer with its empty claim settings filled in.
func (i Issuer) WithDefaults() Issuer {
	if i.UserClaim == "" {
		i.UserClaim = DefaultUserClaim
	}
	if i.UserMatch == "" {
		i.UserMatch = MatchID
	}
	if i.RolesClaim == "" {
		i.RolesClaim = DefaultRolesClaim
	}
	if i.ScopesClaim == "" {
		i.ScopesClaim = DefaultScopesClaim
	}
	return i
}

// User is a person in a tenant, as the directory keeps it in memory: what
// reads, tokens and deliveries need. Credentials and provisioning data
// (UserEntry) are kept in the engine only.
type User struct {
	// ID is the user's object id (Entra "oid", Graph user.id), a lowercase GUID.
	ID string
	// TenantID is the id of the user's tenant.
	TenantID string
	// UserPrincipalName is the sign-in name, user@domain, unique and
	// case-insensitive; the domain is one of the tenant's verified domains.
	UserPrincipalName string
	// DisplayName is the user's name as shown to people.
	DisplayName string
	// Mail is the user's SMTP address (Graph's mail), if any.
	Mail string
	// AccountEnabled is false for a disabled account: it cannot sign in
	// nor use its tokens.
	AccountEnabled bool
	// HasPassword: the user may sign in with the password grant.
	HasPassword bool
	// UserAdministrator: the user may create, change and delete users with
	// a delegated token (Graph's User Administrator role).
	UserAdministrator bool
}

// UserEntry is a user as a directory file holds it and as the engine keeps
// it: the User and its credentials and provisioning data.
type UserEntry struct {
	ID                string `json:"id"`
	TenantID          string `json:"tenantId"`
	UserPrincipalName string `json:"userPrincipalName"`
	DisplayName       string `json:"displayName,omitempty"`
	Mail              string `json:"mail,omitempty"`
	// AccountEnabled: nil is true.
	AccountEnabled    *bool `json:"accountEnabled,omitempty"`
	UserAdministrator bool  `json:"userAdministrator,omitempty"`
	// Password is a password to set, in clear: accepted in files (dev and
	// tests) and requests, hashed into PasswordHash before it is stored,
	// never kept.
	Password string `json:"password,omitempty"`
	// PasswordHash is the argon2id hash of the user's password.
	PasswordHash string `json:"passwordHash,omitempty"`
	// ExternalID, GivenName and FamilyName are what SCIM provisioning
	// keeps of the identity provider's user (externalId, name.givenName,
	// name.familyName).
	ExternalID string `json:"externalId,omitempty"`
	GivenName  string `json:"givenName,omitempty"`
	FamilyName string `json:"familyName,omitempty"`
}

// Enabled reports whether the account is enabled (AccountEnabled nil or true).
func (e UserEntry) Enabled() bool { return e.AccountEnabled == nil || *e.AccountEnabled }

// View is the entry as the directory keeps it in memory.
func (e UserEntry) View() User {
	return User{ID: e.ID, TenantID: e.TenantID, UserPrincipalName: e.UserPrincipalName, DisplayName: e.DisplayName, Mail: e.Mail,
		AccountEnabled: e.Enabled(), HasPassword: e.Password != "" || e.PasswordHash != "", UserAdministrator: e.UserAdministrator}
}

// Bool returns a pointer to b, for UserEntry.AccountEnabled.
func Bool(b bool) *bool { return &b }

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
	// Secret is a client secret in clear, as files (dev and tests) give
	// it: hashed into Secrets on import, never kept.
	Secret string `json:"secret,omitempty"`
	// Secrets are the client secrets' hashes. A confidential client
	// (Public false) needs at least one; a public client may have none.
	Secrets []Secret `json:"secrets,omitempty"`
	// Roles are the application permissions granted to the app, carried in
	// app-only tokens as "roles".
	Roles []string `json:"roles,omitempty"`
	// Scopes are the delegated permissions consented for the app, carried
	// in delegated tokens as "scp" (the OpenID scopes offline_access,
	// openid, profile and email never appear in "scp").
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

// HasSecret reports whether the app authenticates with a client secret.
func (a App) HasSecret() bool { return a.Secret != "" || len(a.Secrets) > 0 }

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
var knownRoles = []string{"Presence.Read.All", "Presence.ReadWrite.All", "Calendars.Read", "Calendars.ReadWrite", "MailboxSettings.Read", "MailboxSettings.ReadWrite", "User.Read.All", "User.ReadWrite.All"}

// Delegated scopes a directory may consent.
var knownScopes = []string{"Presence.Read", "Presence.Read.All", "Presence.ReadWrite", "Calendars.Read", "Calendars.ReadWrite", "MailboxSettings.Read", "MailboxSettings.ReadWrite", "User.Read", "User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All", "offline_access", "openid", "profile", "email"}

// KnownRoles returns the application permissions a directory may grant.
func KnownRoles() []string { return slices.Clone(knownRoles) }

// KnownScopes returns the delegated scopes a directory may consent.
func KnownScopes() []string { return slices.Clone(knownScopes) }
