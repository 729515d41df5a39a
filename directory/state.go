package directory

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Directory is who exists, as of now. Its content is an immutable state
// that every change replaces atomically, so that every request reads a
// consistent, lock-free view and a change (a user removed, an external
// access policy revoked) applies at once, to reads and deliveries alike.
// Its methods are safe for concurrent use.
type Directory struct {
	mu      sync.Mutex // serialises changes
	cur     atomic.Pointer[state]
	version atomic.Uint64

	// foldAt is the delta size that starts a fold (0: foldDelta);
	// foldInline folds on the changing goroutine (tests).
	foldAt     int
	foldInline bool
	folding    bool // under mu
	folds      sync.WaitGroup
}

// foldDelta is how many changed users the delta holds before it is
// folded into a new base: each change copies the delta (a few hundred
// microseconds at this size), each fold rebuilds the base (~1 s of one
// core at a million users).
const foldDelta = 4096

// state is one version of the directory. Nothing in it changes once it is
// published; a change copies what it changes.
type state struct {
	tenants  []*tenantState    // by tenant number; nil once removed
	byID     map[string]uint32 // tenant id → number
	byDomain map[string]uint32 // lowercase domain → number
	apps     map[string]*App   // lowercase client id → app
	scim     map[string]uint32 // SCIM token hash → tenant number
	issuers  map[string]uint32 // issuer URL → tenant number
	users    *layers
	count    int // users of live tenants
}

type tenantState struct {
	t       Tenant
	allowed map[string]bool // lowercase allowed domains
	blocked map[string]bool // lowercase blocked domains
	users   int
}

func newTenantState(t Tenant, users int) *tenantState {
	ts := &tenantState{t: cloneTenant(t), allowed: map[string]bool{}, blocked: map[string]bool{}, users: users}
	for _, d := range t.ExternalAccess.AllowedDomains {
		ts.allowed[strings.ToLower(d)] = true
	}
	for _, d := range t.ExternalAccess.BlockedDomains {
		ts.blocked[strings.ToLower(d)] = true
	}
	return ts
}

// clone copies the state's small parts (tenants and apps); the users'
// layers are shared until a change replaces them.
func (s *state) clone() *state {
	c := *s
	c.tenants = slices.Clone(s.tenants)
	return &c
}

func (s *state) tenantNum(idOrDomain string) (uint32, bool) {
	if n, ok := s.byID[idOrDomain]; ok {
		return n, true
	}
	key := strings.ToLower(idOrDomain)
	if n, ok := s.byID[key]; ok {
		return n, true
	}
	n, ok := s.byDomain[key]
	return n, ok
}

func (s *state) alive(n uint32) bool { return int(n) < len(s.tenants) && s.tenants[n] != nil }

// withTenant is a user looked up, with its tenant's id filled in, if its
// tenant is still there.
func (s *state) withTenant(u User, n uint32) (User, bool) {
	if !s.alive(n) {
		return User{}, false
	}
	u.TenantID = s.tenants[n].t.ID
	return u, true
}

// findID finds a user by its lowercase id: the newest version of a
// user changed since the base (e), or a record of the base (i ≥ 0). It
// copies no User, so that a lookup on the request path builds one once.
func (s *state) findID(id string) (e *dentry, i int) {
	l := s.users
	if len(l.delta.byID) != 0 {
		if e, ok := l.delta.byID[id]; ok {
			return live(e)
		}
	}
	if l.frozen != nil && len(l.frozen.byID) != 0 {
		if e, ok := l.frozen.byID[id]; ok {
			return live(e)
		}
	}
	if l.base == nil {
		return nil, -1
	}
	return nil, l.base.lookupID(id)
}

// live is a delta's entry for findID: none when it records a removal.
func live(e *dentry) (*dentry, int) {
	if e.removed {
		return nil, -1
	}
	return e, -1
}

// userByID finds a user by its lowercase id.
func (s *state) userByID(id string) (User, uint32, bool) {
	e, i := s.findID(id)
	switch {
	case e != nil:
		return e.u, e.tenant, true
	case i >= 0:
		return s.users.base.user(i), s.users.base.recs[i].tenant, true
	}
	return User{}, 0, false
}

// userWithID sets *u to the user with id (lowercase), its tenant's id
// filled in, if its tenant is live: userByID for the request path, which
// builds the User in place.
func (s *state) userWithID(id string, u *User) bool {
	e, i := s.findID(id)
	var n uint32
	switch {
	case e != nil:
		n = e.tenant
	case i >= 0:
		n = s.users.base.recs[i].tenant
	default:
		return false
	}
	if !s.alive(n) {
		return false
	}
	if e != nil {
		*u = e.u
	} else {
		*u = s.users.base.user(i)
	}
	u.TenantID = s.tenants[n].t.ID
	return true
}

// userByUPN finds a user by its lowercase userPrincipalName: the layer
// that maps it, checked against the user's newest version.
func (s *state) userByUPN(key string) (User, uint32, bool) {
	l := s.users
	for _, d := range [2]*delta{l.delta, l.frozen} {
		if d == nil || len(d.byUPN) == 0 {
			continue
		}
		if id, ok := d.byUPN[key]; ok {
			if u, n, ok := s.userByID(id); ok && lowerEquals(u.UserPrincipalName, key) {
				return u, n, true
			}
		}
	}
	if l.base == nil {
		return User{}, 0, false
	}
	i := l.base.lookupUPN(key)
	if i < 0 {
		return User{}, 0, false
	}
	if l.delta.len() == 0 && l.frozen.len() == 0 {
		return l.base.user(i), l.base.recs[i].tenant, true
	}
	u, n, ok := s.userByID(l.base.idOf(i))
	if !ok || !lowerEquals(u.UserPrincipalName, key) {
		return User{}, 0, false // changed or removed since
	}
	return u, n, true
}

// user finds a user by object id or userPrincipalName (any case). Ids
// are GUIDs, 36 characters, so other lengths are only looked up as UPNs.
func (s *state) user(idOrUPN string) (u User, ok bool) {
	if len(idOrUPN) == guidLen {
		if s.userWithID(idOrUPN, &u) {
			return u, true
		}
		if key := strings.ToLower(idOrUPN); key != idOrUPN && s.userWithID(key, &u) {
			return u, true
		}
	}
	u, n, ok := s.userByUPN(strings.ToLower(idOrUPN))
	if !ok {
		return User{}, false
	}
	return s.withTenant(u, n)
}

// Empty returns an empty directory: no tenants, no users.
func Empty() *Directory {
	d := &Directory{}
	d.cur.Store(&state{byID: map[string]uint32{}, byDomain: map[string]uint32{}, apps: map[string]*App{},
		scim: map[string]uint32{}, issuers: map[string]uint32{}, users: &layers{base: emptyTable(), delta: &delta{}}})
	return d
}

func emptyTable() *userTable { return newTableBuilder(0, 0).finish() }

// Replace makes with's content the directory's content, atomically (an
// import). with must not be changed afterwards.
func (d *Directory) Replace(with *Directory) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cur.Store(with.cur.Load())
	d.version.Add(1)
}

// Snapshot is the directory as it is now, which later changes of d do not
// change (to compare before and after).
func (d *Directory) Snapshot() *Directory {
	out := &Directory{}
	out.cur.Store(d.cur.Load())
	return out
}

// Version changes with every change that can take access away (a user
// removed or disabled, a tenant, application or policy changed, a
// Replace), so that caches of what was derived from the directory
// (validated tokens, open streams) know when to check again. Adding or
// renaming users does not change it.
func (d *Directory) Version() uint64 { return d.version.Load() }

// Tenant returns the tenant with id or verified domain idOrDomain (both
// case-insensitive).
func (d *Directory) Tenant(idOrDomain string) (Tenant, bool) {
	s := d.cur.Load()
	n, ok := s.tenantNum(idOrDomain)
	if !ok {
		return Tenant{}, false
	}
	return cloneTenant(s.tenants[n].t), true
}

// Tenants returns every tenant, in the order they were made.
func (d *Directory) Tenants() []Tenant {
	s := d.cur.Load()
	var out []Tenant
	for _, t := range s.tenants {
		if t != nil {
			out = append(out, cloneTenant(t.t))
		}
	}
	return out
}

// TenantBySCIMToken returns the tenant one of whose SCIM tokens has this
// hash (SCIMTokenPrefix and hex SHA-256).
func (d *Directory) TenantBySCIMToken(hash string) (Tenant, bool) {
	s := d.cur.Load()
	n, ok := s.scim[hash]
	if !ok || !s.alive(n) {
		return Tenant{}, false
	}
	return cloneTenant(s.tenants[n].t), true
}

// IssuerOf returns the tenant trusting the external issuer whose "iss" is
// iss, and that issuer's settings (with defaults filled in).
func (d *Directory) IssuerOf(iss string) (Tenant, Issuer, bool) {
	s := d.cur.Load()
	n, ok := s.issuers[iss]
	if !ok || !s.alive(n) {
		return Tenant{}, Issuer{}, false
	}
	t := s.tenants[n].t
	for _, is := range t.Issuers {
		if is.Issuer == iss {
			return cloneTenant(t), is.WithDefaults(), true
		}
	}
	return Tenant{}, Issuer{}, false
}

// User returns the user with object id or user principal name idOrUPN
// (both case-insensitive), in any tenant.
func (d *Directory) User(idOrUPN string) (User, bool) { return d.cur.Load().user(idOrUPN) }

// UserInTenant is User restricted to one tenant (given by id or domain).
func (d *Directory) UserInTenant(tenant, idOrUPN string) (User, bool) {
	s := d.cur.Load()
	n, ok := s.tenantNum(tenant)
	if !ok {
		return User{}, false
	}
	u, ok := s.user(idOrUPN)
	if !ok || u.TenantID != s.tenants[n].t.ID {
		return User{}, false
	}
	return u, true
}

// UserCount is how many users the directory has, in all tenants.
func (d *Directory) UserCount() int { return d.cur.Load().count }

// TenantUserCount is how many users a tenant (id or domain) has.
func (d *Directory) TenantUserCount(tenant string) int {
	s := d.cur.Load()
	if n, ok := s.tenantNum(tenant); ok {
		return s.tenants[n].users
	}
	return 0
}

// Users returns the users of a tenant (id or domain) in directory order
// (ScanUsers'); nil for an unknown tenant. It copies every user: for
// tests and small tenants; pages of a large one come from ScanUsers.
func (d *Directory) Users(tenant string) []User {
	s := d.cur.Load()
	n, ok := s.tenantNum(tenant)
	if !ok {
		return nil
	}
	out := make([]User, 0, s.tenants[n].users)
	s.scan(n, "", func(u User) bool { out = append(out, u); return true })
	return out
}

// ScanUsers calls yield with the users of a tenant (id or domain) in
// directory order — by Page, then id — starting after the user with id
// after ("": from the first), until yield returns false. The order does
// not change as users come and go, so a cursor (the last id seen) pages
// through a tenant however it changes meanwhile. It copies no list: a
// page of a million users' tenant costs the users it passes.
func (d *Directory) ScanUsers(tenant, after string, yield func(u User) bool) {
	s := d.cur.Load()
	if n, ok := s.tenantNum(tenant); ok {
		s.scan(n, strings.ToLower(after), yield)
	}
}

// PageUsers returns the users of a tenant's page.
func (d *Directory) PageUsers(tenant string, page int) []User {
	s := d.cur.Load()
	n, ok := s.tenantNum(tenant)
	if !ok {
		return nil
	}
	return s.pageUsers(n, page)
}

// App returns the application with the client id (case-insensitive).
func (d *Directory) App(clientID string) (App, bool) {
	s := d.cur.Load()
	a, ok := s.apps[clientID]
	if !ok {
		a, ok = s.apps[strings.ToLower(clientID)]
	}
	if !ok {
		return App{}, false
	}
	if n, ok := s.byID[a.TenantID]; !ok || !s.alive(n) {
		return App{}, false
	}
	return cloneApp(*a), true
}

// Apps returns every application, ordered by tenant and name.
func (d *Directory) Apps() []App {
	s := d.cur.Load()
	out := make([]App, 0, len(s.apps))
	for _, a := range s.apps {
		out = append(out, cloneApp(*a))
	}
	slices.SortFunc(out, func(a, b App) int {
		if c := strings.Compare(a.TenantID, b.TenantID); c != 0 {
			return c
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.ClientID, b.ClientID)
	})
	return out
}

// Admits reports whether tenant a's external access policy admits tenant
// b (both by id or domain): no domain of b is blocked by a, and a allows
// all external tenants or one of b's domains. A tenant always admits itself.
func (d *Directory) Admits(a, b string) bool { return d.cur.Load().admits(a, b) }

// Trusted reports whether tenants a and b trust each other (mutual trust,
// semantics §6): a admits b and b admits a. A reader in one may then see,
// and subscribe to, the presence of users in the other.
func (d *Directory) Trusted(a, b string) bool {
	s := d.cur.Load()
	return s.admits(a, b) && s.admits(b, a)
}

func (s *state) admits(a, b string) bool {
	ai, ok1 := s.tenantNum(a)
	bi, ok2 := s.tenantNum(b)
	if !ok1 || !ok2 {
		return false
	}
	if ai == bi {
		return true
	}
	ta, tb := s.tenants[ai], s.tenants[bi]
	allowed := ta.t.ExternalAccess.AllowAllExternal
	for _, dom := range tb.t.Domains {
		dom = strings.ToLower(dom)
		if ta.blocked[dom] {
			return false
		}
		if ta.allowed[dom] {
			allowed = true
		}
	}
	return allowed
}
