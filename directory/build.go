package directory

import (
	"fmt"
	"slices"
	"strings"

	"github.com/presenced/presenced/presence"
)

// File is a directory as a file holds it, an import takes it and an
// export writes it: every tenant, user and application with their
// credentials (hashes, or values in clear to be hashed) and provisioning
// data.
type File struct {
	Tenants      []Tenant    `json:"tenants"`
	Users        []UserEntry `json:"users"`
	Applications []App       `json:"applications"`

	built *Directory // what Build made, kept by Parse
}

// Build validates the file as a whole and returns the directory it
// describes (see New).
func (f *File) Build() (*Directory, error) {
	if f.built != nil {
		return f.built, nil
	}
	return New(f.Tenants, f.Users, f.Applications)
}

// New validates tenants, users and apps and builds a directory of copies
// of them. The error is a *presence.Error (Invalid) that names the entry
// ("users[3]", with its id or name) and the field at fault.
func New(tenants []Tenant, users []UserEntry, apps []App) (*Directory, error) {
	return build(tenants, users, apps, false)
}

// build is New. With share, users are the caller's own (Decode's) and
// their id, userPrincipalName, displayName and mail are made the
// directory's copies of them: the entries' own strings (~85 MB at a
// million users) are then garbage while the import goes on.
func build(tenants []Tenant, users []UserEntry, apps []App, share bool) (*Directory, error) {
	if len(tenants) == 0 {
		return nil, presence.Errorf(presence.Invalid, "tenants", "The directory has no tenants; at least one tenant is required.")
	}
	s := &state{byID: make(map[string]uint32, len(tenants)), byDomain: make(map[string]uint32, len(tenants)),
		apps: make(map[string]*App, len(apps)), scim: map[string]uint32{}, issuers: map[string]uint32{}}
	for i, t := range tenants {
		at := entryRef{"tenants", i, t.Name}
		if err := checkTenantFields(at, t); err != nil {
			return nil, err
		}
		if j, dup := s.byID[t.ID]; dup {
			return nil, invalid(at, "id", "id %q is already the id of tenants[%d]; tenant ids must be unique.", t.ID, j)
		}
		if err := s.checkTenantAgainstOthers(at, t, uint32(i), func(j uint32) string { return fmt.Sprintf("tenants[%d]", j) }); err != nil {
			return nil, err
		}
		s.addTenant(t, 0)
	}

	// Users: checked in file order (errors name the first offender), laid
	// out in (tenant, page, id) order, then indexed in file order, so that
	// a duplicate names both entries.
	// No User is kept per entry (a view is made as each is laid out): at
	// a million users that would be 88 MB more at the import's peak.
	nums := make([]uint32, len(users))
	arena := 0
	for i := range users {
		u := &users[i]
		at := entryRef{"users", i, u.UserPrincipalName}
		n, err := s.tenantRef(at, u.TenantID)
		if err != nil {
			return nil, err
		}
		if err := checkUserFields(at, *u, s.tenants[n].t); err != nil {
			return nil, err
		}
		nums[i] = n
		arena += len(u.ID) + len(u.UserPrincipalName) + len(u.DisplayName) + len(u.Mail) // arenaBytes of its view
	}
	order := make([]int32, len(users))
	pages := make([]uint16, len(users))
	for i := range order {
		order[i], pages[i] = int32(i), uint16(Page(users[i].ID))
	}
	slices.SortFunc(order, func(a, b int32) int {
		if nums[a] != nums[b] {
			return int(nums[a]) - int(nums[b])
		}
		if pages[a] != pages[b] {
			return int(pages[a]) - int(pages[b])
		}
		return strings.Compare(users[a].ID, users[b].ID)
	})
	tb := newTableBuilder(len(users), arena)
	pos := make([]int32, len(users)) // file position → record
	for r, i := range order {
		v := users[i].View()
		tb.add(&v, nums[i])
		pos[i] = int32(r)
	}
	table := tb.finish()
	for i := range users {
		dupID, dupUPN := table.index(int(pos[i]))
		at := entryRef{"users", i, users[i].UserPrincipalName}
		switch {
		case dupID >= 0:
			j := order[dupID]
			return nil, invalid(at, "id", "id %q is already the id of users[%d] (%q); user ids must be unique.", users[i].ID, j, users[j].UserPrincipalName)
		case dupUPN >= 0:
			j := order[dupUPN]
			return nil, invalid(at, "userPrincipalName", "userPrincipalName %q is already used by users[%d] (id %s); user principal names must be unique (case-insensitive).", users[i].UserPrincipalName, j, users[j].ID)
		}
		s.tenants[nums[i]].users++
	}
	if share {
		for i := range users {
			v, u := table.user(int(pos[i])), &users[i]
			u.ID, u.UserPrincipalName, u.DisplayName, u.Mail = v.ID, v.UserPrincipalName, v.DisplayName, v.Mail
		}
		order, pos, nums = nil, nil, nil
		collectAfterBulk(len(users))
	}
	s.count = len(users)
	s.users = &layers{base: table, spans: spansOf(table, len(s.tenants)), delta: &delta{}}

	for i, a := range apps {
		at := entryRef{"applications", i, a.Name}
		a, err := checkAppFields(at, a)
		if err != nil {
			return nil, err
		}
		if _, err := s.tenantRef(at, a.TenantID); err != nil {
			return nil, err
		}
		if old, dup := s.apps[a.ClientID]; dup {
			j := slices.IndexFunc(apps, func(x App) bool { return x.ClientID == a.ClientID })
			return nil, invalid(at, "clientId", "clientId %q is already the client id of applications[%d] (%q); client ids must be unique.", a.ClientID, j, old.Name)
		}
		if err := s.checkClientIDFree(at, a.ClientID); err != nil {
			return nil, err
		}
		s.apps[a.ClientID] = ptr(cloneApp(a))
	}
	d := &Directory{}
	d.cur.Store(s)
	return d, nil
}

func ptr[T any](v T) *T { return &v }

// spansOf finds each tenant's run of records in a base.
func spansOf(t *userTable, tenants int) []span {
	spans := make([]span, tenants)
	for i := 0; i < len(t.recs); {
		n := t.recs[i].tenant
		j := i
		for j < len(t.recs) && t.recs[j].tenant == n {
			j++
		}
		if int(n) < len(spans) {
			spans[n] = span{i, j}
		}
		i = j
	}
	return spans
}

// tenantRef resolves a user's or app's tenant id.
func (s *state) tenantRef(at entryRef, id string) (uint32, error) {
	if id == "" {
		return 0, invalid(at, "tenantId", "tenantId is empty; it must be the id of one of the directory's tenants.")
	}
	n, ok := s.byID[id]
	if !ok || !s.alive(n) {
		if m, byDomain := s.byDomain[strings.ToLower(id)]; byDomain && at.list != "" {
			return 0, invalid(at, "tenantId", "tenantId %q is a domain; write the tenant's id %q.", id, s.tenants[m].t.ID)
		}
		return 0, invalid(at, "tenantId", "tenantId %q is not the id of any tenant in the directory.", id)
	}
	return n, nil
}

// checkTenantAgainstOthers checks what t (number self) shares with the
// directory's other tenants: domains, issuers and SCIM tokens belong to
// one tenant only. name says how to name another tenant.
func (s *state) checkTenantAgainstOthers(at entryRef, t Tenant, self uint32, name func(uint32) string) error {
	for k, dom := range t.Domains {
		if j, dup := s.byDomain[strings.ToLower(dom)]; dup && j != self && s.alive(j) {
			return invalid(at, fmt.Sprintf("domains[%d]", k), "domain %q is already a verified domain of %s; a domain belongs to one tenant only.", dom, name(j))
		}
	}
	for k, is := range t.Issuers {
		if j, dup := s.issuers[is.Issuer]; dup && j != self && s.alive(j) {
			return invalid(at, fmt.Sprintf("issuers[%d].issuer", k), "issuer %q is already trusted by %s; an issuer's tokens belong to one tenant only.", is.Issuer, name(j))
		}
	}
	for k, tok := range t.SCIMTokens {
		if j, dup := s.scim[tok.Hash]; dup && j != self && s.alive(j) {
			return invalid(at, fmt.Sprintf("scimTokens[%d].hash", k), "this SCIM token is already one of %s's; make a new one.", name(j))
		}
	}
	if _, isApp := s.apps[t.ID]; isApp {
		return invalid(at, "id", "id %q is also an application's client id; use a GUID of its own.", t.ID)
	}
	return nil
}

// addTenant gives t the next number (or replaces tenant n's settings when
// it exists) and indexes its domains, issuers and tokens. s must be a
// state of the caller's own (New's, or a clone).
func (s *state) addTenant(t Tenant, users int) uint32 {
	n, ok := s.byID[t.ID]
	if !ok || !s.alive(n) {
		n = uint32(len(s.tenants))
		s.tenants = append(s.tenants, nil)
	}
	s.tenants[n] = newTenantState(t, users)
	s.byID[t.ID] = n
	for _, dom := range t.Domains {
		s.byDomain[strings.ToLower(dom)] = n
	}
	for _, is := range t.Issuers {
		s.issuers[is.Issuer] = n
	}
	for _, tok := range t.SCIMTokens {
		s.scim[tok.Hash] = n
	}
	return n
}

// checkClientIDFree refuses a client id that is also a tenant's or a
// user's id: tokens name both by GUID.
func (s *state) checkClientIDFree(at entryRef, id string) error {
	if n, ok := s.byID[id]; ok && s.alive(n) {
		return invalid(at, "clientId", "clientId %q is also a tenant id; use a GUID of its own.", id)
	}
	if _, _, ok := s.userByID(id); ok {
		return invalid(at, "clientId", "clientId %q is also a user id; use a GUID of its own.", id)
	}
	return nil
}
