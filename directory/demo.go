package directory

import (
	"fmt"
	"strconv"
)

// The demo directory of dev mode: tenant Contoso (contoso.dev) with five
// users, a daemon app and a public client app, and tenant Fabrikam
// (fabrikam.dev) with two users and a daemon app. The ids are fixed so that
// tests, docs and scripts can name them.
const (
	DemoTenantID     = "a5036a1a-166f-4ed5-bf5a-e0ccc1602604" // Contoso
	DemoTenantDomain = "contoso.dev"
	DemoTenantName   = "Contoso"

	// DemoPassword is the password of every demo user (both tenants), and
	// DemoPasswordHash its argon2id hash, which the demo's users share (a
	// demo's import then hashes nothing: every generated user has it too).
	DemoPassword     = "presenced-dev"
	DemoPasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$6SXwe4AhM2eu7OwSVNjhSg$j1bYviT8a5xv4TqpMJYDyHeqpZ5JSNPEgcb5ASMNZU4"

	// The confidential daemon app: client credentials, roles Presence.ReadWrite.All, Calendars.ReadWrite and MailboxSettings.ReadWrite.
	DemoDaemonClientID = "6dcddc99-5a7f-430c-a555-551d652a37b1"
	DemoDaemonSecret   = "demo-secret"
	DemoDaemonName     = "presenced demo daemon"
	// The hashes of the demo apps' secrets, and their ids.
	demoDaemonSecretHash   = "$argon2id$v=19$m=19456,t=2,p=1$FVBqho0Blr9a8eOq+kfBCA$9n+k/mfPj/eNz4T/1Svbya+r4T9b0/TCMNDvSMLbf1I"
	demoFabrikamSecretHash = "$argon2id$v=19$m=19456,t=2,p=1$lQkTowi6j5doVMQtCzlnnQ$7cAdMbjvw/vroO8u7e8LdVnTG16h6N1x9rsfLYGsZSs"
	demoDaemonSecretID     = "5ec2e7a1-0d3f-4c1b-9e8a-000000000001"
	demoFabrikamSecretID   = "5ec2e7a1-0d3f-4c1b-9e8a-000000000002"

	// The public client app: password grant without a secret, delegated
	// scopes Presence.Read, Presence.Read.All, Presence.ReadWrite,
	// Calendars.ReadWrite, MailboxSettings.ReadWrite and User.ReadBasic.All;
	// the presence board signs in as it (its SPA redirect URIs are the
	// loopback addresses, any port: dev mode's board on this machine).
	DemoClientID   = "1f35b044-4304-4eb5-af8d-a25642c64040"
	DemoClientName = "presenced demo client"

	// Contoso's users (userPrincipalName name@contoso.dev).
	DemoUserAdele = "3c16299b-70fb-4ef1-ac29-a2c2738ae1e3" // adele@contoso.dev, Adele Vance
	DemoUserAlex  = "07d45181-b0c9-44d6-aabb-913130fdf598" // alex@contoso.dev, Alex Wilber
	DemoUserMegan = "c43c60a5-8875-4db4-9872-a38f780eafd1" // megan@contoso.dev, Megan Bowen
	DemoUserLynne = "7c20da22-beb8-4c3a-97b8-c9b738b9af8c" // lynne@contoso.dev, Lynne Robbins
	DemoUserDiego = "af78f174-9281-4629-8732-5bfe602fbba7" // diego@contoso.dev, Diego Siciliani

	// The second tenant, for cross-tenant tests.
	DemoFabrikamTenantID       = "6695f452-bba3-4889-9bc9-cb7c99efbbf3"
	DemoFabrikamDomain         = "fabrikam.dev"
	DemoFabrikamName           = "Fabrikam"
	DemoFabrikamDaemonClientID = "80e9e480-41e1-4df3-a600-c8b5381131e7"
	DemoFabrikamDaemonSecret   = "fabrikam-demo-secret"
	DemoFabrikamDaemonName     = "fabrikam demo daemon"
	DemoFabrikamUserNestor     = "861ec2e7-6872-4e66-9bfd-bfe54cbe8c1b" // nestor@fabrikam.dev, Nestor Wilke
	DemoFabrikamUserIsaiah     = "4f9a1877-a77f-461e-a424-449116227d47" // isaiah@fabrikam.dev, Isaiah Langer
)

// DemoBoardRedirectURIs are the demo public client's SPA redirect URIs:
// the board at / on a loopback address, whatever the port.
func DemoBoardRedirectURIs() []string {
	return []string{"http://127.0.0.1/", "http://localhost/", "http://[::1]/"}
}

// DemoData returns fresh copies of the demo directory's entries, for tests
// that want the demo with a change (an external access policy, another
// app) before calling New. The demo tenants do not trust each other: a
// Contoso reader sees Fabrikam's users as unknown, and vice versa.
func DemoData() ([]Tenant, []UserEntry, []App) {
	tenants := []Tenant{
		{ID: DemoTenantID, Name: DemoTenantName, Domains: []string{DemoTenantDomain}},
		{ID: DemoFabrikamTenantID, Name: DemoFabrikamName, Domains: []string{DemoFabrikamDomain}},
	}
	users := []UserEntry{
		{ID: DemoUserAdele, TenantID: DemoTenantID, UserPrincipalName: "adele@contoso.dev", DisplayName: "Adele Vance", PasswordHash: DemoPasswordHash},
		{ID: DemoUserAlex, TenantID: DemoTenantID, UserPrincipalName: "alex@contoso.dev", DisplayName: "Alex Wilber", PasswordHash: DemoPasswordHash},
		{ID: DemoUserMegan, TenantID: DemoTenantID, UserPrincipalName: "megan@contoso.dev", DisplayName: "Megan Bowen", PasswordHash: DemoPasswordHash},
		{ID: DemoUserLynne, TenantID: DemoTenantID, UserPrincipalName: "lynne@contoso.dev", DisplayName: "Lynne Robbins", PasswordHash: DemoPasswordHash},
		{ID: DemoUserDiego, TenantID: DemoTenantID, UserPrincipalName: "diego@contoso.dev", DisplayName: "Diego Siciliani", PasswordHash: DemoPasswordHash},
		{ID: DemoFabrikamUserNestor, TenantID: DemoFabrikamTenantID, UserPrincipalName: "nestor@fabrikam.dev", DisplayName: "Nestor Wilke", PasswordHash: DemoPasswordHash},
		{ID: DemoFabrikamUserIsaiah, TenantID: DemoFabrikamTenantID, UserPrincipalName: "isaiah@fabrikam.dev", DisplayName: "Isaiah Langer", PasswordHash: DemoPasswordHash},
	}
	apps := []App{
		{ClientID: DemoDaemonClientID, TenantID: DemoTenantID, Name: DemoDaemonName, Secrets: []Secret{{ID: demoDaemonSecretID, Hint: DemoDaemonSecret[:3], Hash: demoDaemonSecretHash}},
			Roles: []string{"Presence.ReadWrite.All", "Calendars.ReadWrite", "MailboxSettings.ReadWrite"}},
		{ClientID: DemoClientID, TenantID: DemoTenantID, Name: DemoClientName, Public: true,
			Scopes:          []string{"Presence.Read", "Presence.Read.All", "Presence.ReadWrite", "Calendars.ReadWrite", "MailboxSettings.ReadWrite", "User.ReadBasic.All"},
			SPARedirectURIs: DemoBoardRedirectURIs()},
		{ClientID: DemoFabrikamDaemonClientID, TenantID: DemoFabrikamTenantID, Name: DemoFabrikamDaemonName, Secrets: []Secret{{ID: demoFabrikamSecretID, Hint: DemoFabrikamDaemonSecret[:3], Hash: demoFabrikamSecretHash}},
			Roles: []string{"Presence.ReadWrite.All"}},
	}
	return tenants, users, apps
}

// Demo returns dev mode's ready-made directory (see DemoData).
func Demo() *Directory {
	d, err := DemoFile(0).Build()
	if err != nil {
		panic("directory: the demo directory is invalid: " + err.Error())
	}
	return d
}

// Generated demo users: dev mode can add many users to Contoso beside the
// five named ones, so that a load test spreads its writes over many records
// the way a real tenant's traffic does (64 writers on five users mostly wait
// for each other). They are deterministic — the same i is always the same
// user — so a load generator can name them without asking the server.
const (
	// MaxDemoUsers bounds DemoWithUsers: a million generated users take
	// about 100 MB in the directory and a few seconds to build.
	MaxDemoUsers = 1_000_000
	// demoUserIDPrefix starts every generated id; the named demo users'
	// ids never start so.
	demoUserIDPrefix = "de000000-0000-4000-8000-"
)

// DemoUserID is the object id of generated demo user i (1 ≤ i ≤
// MaxDemoUsers): de000000-0000-4000-8000- and i in 12 hex digits.
func DemoUserID(i int) string {
	return fmt.Sprintf(demoUserIDPrefix+"%012x", i)
}

// DemoUserUPN is generated demo user i's userPrincipalName,
// user<i>@contoso.dev.
func DemoUserUPN(i int) string {
	return "user" + strconv.Itoa(i) + "@" + DemoTenantDomain
}

// DemoWithUsers returns the demo directory with n generated Contoso users
// added: DemoUserID(i), DemoUserUPN(i), display name "Demo User i" and the
// demo password, for i from 1 to n. n = 0 is Demo().
func DemoWithUsers(n int) (*Directory, error) {
	if n < 0 || n > MaxDemoUsers {
		return nil, fmt.Errorf("the number of generated demo users must be 0 to %d, not %d", MaxDemoUsers, n)
	}
	return DemoFile(n).Build()
}

// DemoFile is the demo directory with n generated users (see
// DemoWithUsers) as a File, to seed an engine with. n out of range is
// clamped.
func DemoFile(n int) *File {
	n = min(max(n, 0), MaxDemoUsers)
	tenants, users, apps := DemoData()
	all := make([]UserEntry, len(users), len(users)+n)
	copy(all, users)
	for i := 1; i <= n; i++ {
		all = append(all, UserEntry{ID: DemoUserID(i), TenantID: DemoTenantID, UserPrincipalName: DemoUserUPN(i),
			DisplayName: "Demo User " + strconv.Itoa(i), PasswordHash: DemoPasswordHash})
	}
	return &File{Tenants: tenants, Users: all, Applications: apps}
}
