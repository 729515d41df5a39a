package directory

import (
	"fmt"
	"maps"
	"strings"

	"github.com/presenced/presenced/presence"
)

// The changes of a live directory. Check* say whether a change would be
// valid now (the writer asks before it writes the engine), Put*/Remove*
// and ApplyPage make it (the engine acknowledged it, here or on another
// node). A refused change is a *presence.Error; its message names only
// what the change itself names, and the directory's own tenants by id
// (the operator's API), never another tenant's users.

// CheckTenant reports whether t may be added, or replace the tenant with
// its id.
func (d *Directory) CheckTenant(t Tenant) error {
	s := d.cur.Load()
	if err := checkTenantFields(single, t); err != nil {
		return err
	}
	self, ok := s.byID[t.ID]
	if !ok {
		self = ^uint32(0)
	}
	if err := s.checkTenantAgainstOthers(single, t, self, func(j uint32) string { return "tenant " + s.tenants[j].t.ID }); err != nil {
		return err
	}
	if ok && s.alive(self) {
		// Users keep their userPrincipalNames: a domain in use stays.
		for _, dom := range s.tenants[self].t.Domains {
			if !containsFold(t.Domains, dom) {
				if upn, used := s.domainInUse(self, dom); used {
					return presence.Errorf(presence.Invalid, "domains", "domain %q is still used by user %s; change or remove its users first.", dom, upn)
				}
			}
		}
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// domainInUse reports a user of tenant n whose userPrincipalName is in dom.
func (s *state) domainInUse(n uint32, dom string) (string, bool) {
	var upn string
	s.scan(n, "", func(u User) bool {
		if _, d, _ := strings.Cut(u.UserPrincipalName, "@"); strings.EqualFold(d, dom) {
			upn = u.UserPrincipalName
			return false
		}
		return true
	})
	return upn, upn != ""
}

// PutTenant adds t, or replaces the settings of the tenant with its id.
func (d *Directory) PutTenant(t Tenant) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.CheckTenant(t); err != nil {
		return err
	}
	s := d.cur.Load().clone()
	s.byDomain, s.issuers, s.scim = maps.Clone(s.byDomain), maps.Clone(s.issuers), maps.Clone(s.scim)
	s.byID = maps.Clone(s.byID)
	users := 0
	if n, ok := s.byID[t.ID]; ok && s.alive(n) {
		old := s.tenants[n]
		users = old.users
		s.unindexTenant(n)
	}
	s.addTenant(t, users)
	d.cur.Store(s)
	d.version.Add(1)
	return nil
}

// unindexTenant drops tenant n's domains, issuers and tokens from the
// (cloned) maps.
func (s *state) unindexTenant(n uint32) {
	t := s.tenants[n].t
	for _, dom := range t.Domains {
		if s.byDomain[strings.ToLower(dom)] == n {
			delete(s.byDomain, strings.ToLower(dom))
		}
	}
	for _, is := range t.Issuers {
		if s.issuers[is.Issuer] == n {
			delete(s.issuers, is.Issuer)
		}
	}
	for _, tok := range t.SCIMTokens {
		if s.scim[tok.Hash] == n {
			delete(s.scim, tok.Hash)
		}
	}
}

// RemoveTenant removes a tenant with its users and applications. It
// reports whether there was one.
func (d *Directory) RemoveTenant(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.cur.Load().clone()
	n, ok := s.byID[id]
	if !ok || !s.alive(n) {
		return false
	}
	s.byDomain, s.issuers, s.scim, s.byID = maps.Clone(s.byDomain), maps.Clone(s.issuers), maps.Clone(s.scim), maps.Clone(s.byID)
	s.unindexTenant(n)
	delete(s.byID, id)
	s.count -= s.tenants[n].users
	s.tenants[n] = nil // its users go with it; the next fold drops them
	s.apps = maps.Clone(s.apps)
	for k, a := range s.apps {
		if a.TenantID == id {
			delete(s.apps, k)
		}
	}
	d.cur.Store(s)
	d.version.Add(1)
	return true
}

// CheckApp reports whether a may be added, or replace the application with
// its client id; it returns a with its permissions in canonical case.
func (d *Directory) CheckApp(a App) (App, error) {
	s := d.cur.Load()
	a, err := checkAppFields(single, a)
	if err != nil {
		return a, err
	}
	if _, err := s.tenantRef(single, a.TenantID); err != nil {
		return a, err
	}
	if old, ok := s.apps[a.ClientID]; ok && old.TenantID != a.TenantID {
		return a, presence.Errorf(presence.Invalid, "tenantId", "application %s is registered in tenant %s; an application cannot move to another tenant.", a.ClientID, old.TenantID)
	}
	if err := s.checkClientIDFree(single, a.ClientID); err != nil {
		return a, err
	}
	return a, nil
}

// PutApp adds a, or replaces the application with its client id.
func (d *Directory) PutApp(a App) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, err := d.CheckApp(a)
	if err != nil {
		return err
	}
	s := d.cur.Load().clone()
	s.apps = maps.Clone(s.apps)
	a.Secret = ""
	s.apps[a.ClientID] = ptr(cloneApp(a))
	d.cur.Store(s)
	d.version.Add(1)
	return nil
}

// RemoveApp removes an application; it reports whether there was one.
func (d *Directory) RemoveApp(clientID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.cur.Load().clone()
	if _, ok := s.apps[clientID]; !ok {
		return false
	}
	s.apps = maps.Clone(s.apps)
	delete(s.apps, clientID)
	d.cur.Store(s)
	d.version.Add(1)
	return true
}

// CheckUser reports whether e may be added, or replace the user with its
// id: its fields, its tenant, a userPrincipalName in one of the tenant's
// domains and used by no other user, an id used by nothing else. The
// messages are Graph's where Graph has one.
func (d *Directory) CheckUser(e UserEntry) error {
	s := d.cur.Load()
	n, err := s.tenantRef(single, e.TenantID)
	if err != nil {
		return err
	}
	if err := checkUserFields(single, e, s.tenants[n].t); err != nil {
		return err
	}
	if u, m, ok := s.userByID(e.ID); ok && s.alive(m) && m != n {
		_ = u
		return presence.Errorf(presence.Conflict, "id", "Another object with the same value for property id already exists.")
	}
	if n2, ok := s.byID[e.ID]; ok && s.alive(n2) {
		return presence.Errorf(presence.Conflict, "id", "Another object with the same value for property id already exists.")
	}
	if _, ok := s.apps[e.ID]; ok {
		return presence.Errorf(presence.Conflict, "id", "Another object with the same value for property id already exists.")
	}
	if u, m, ok := s.userByUPN(strings.ToLower(e.UserPrincipalName)); ok && s.alive(m) && u.ID != e.ID {
		return presence.Errorf(presence.Conflict, "userPrincipalName", "Another object with the same value for property userPrincipalName already exists.")
	}
	return nil
}

// ApplyPage makes users the users of page p of the tenant (id): those of
// the page not among them are removed, the others added or replaced. It is
// how every change of users applies, a node's own and another's alike.
// Users whose page is not p, or whose id or userPrincipalName another
// page's user holds, are left out and reported in the error; the rest
// applies.
func (d *Directory) ApplyPage(tenant string, p int, users []User) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.cur.Load()
	n, ok := s.byID[tenant]
	if !ok || !s.alive(n) {
		return fmt.Errorf("directory: page %d of unknown tenant %q", p, tenant)
	}
	cur := map[string]User{}
	for _, u := range s.pageUsers(n, p) {
		cur[u.ID] = u
	}
	nd := s.users.delta.clone()
	ns := s.clone()
	ts := *ns.tenants[n]
	ns.tenants[n] = &ts
	access := false
	var errs []string
	seen := map[string]bool{}
	for _, u := range users {
		u.TenantID = ""
		if Page(u.ID) != p || seen[u.ID] {
			errs = append(errs, fmt.Sprintf("user %s is not on page %d or is there twice", u.ID, p))
			continue
		}
		seen[u.ID] = true
		old, had := cur[u.ID]
		if had {
			old.TenantID = ""
			if old == u {
				continue
			}
			access = access || (old.AccountEnabled && !u.AccountEnabled) || (old.UserAdministrator && !u.UserAdministrator)
		} else {
			if _, m, taken := s.userByID(u.ID); taken && s.alive(m) {
				errs = append(errs, fmt.Sprintf("user %s is already on another page", u.ID))
				continue
			}
		}
		if o, m, taken := s.userByUPN(strings.ToLower(u.UserPrincipalName)); taken && s.alive(m) && o.ID != u.ID && !pageHas(users, o.ID) {
			errs = append(errs, fmt.Sprintf("userPrincipalName %s of user %s is another user's", u.UserPrincipalName, u.ID))
			continue
		}
		nd.set(dentry{u: u, tenant: n})
		if !had {
			ts.users++
			ns.count++
		}
	}
	for id, old := range cur {
		if !seen[id] {
			old.TenantID = ""
			nd.set(dentry{u: old, tenant: n, removed: true})
			ts.users--
			ns.count--
			access = true
		}
	}
	ns.users = &layers{base: s.users.base, spans: s.users.spans, frozen: s.users.frozen, delta: nd}
	d.cur.Store(ns)
	if access {
		d.version.Add(1)
	}
	d.maybeFold()
	if errs != nil {
		return fmt.Errorf("directory: page %d of tenant %s: %s", p, tenant, strings.Join(errs, "; "))
	}
	return nil
}

func pageHas(users []User, id string) bool {
	for _, u := range users {
		if u.ID == id {
			return true
		}
	}
	return false
}
