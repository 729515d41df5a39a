package dirstore

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/presence"
)

// PutTenant adds a tenant, or replaces the settings of the tenant with its
// id (its name, domains, external access, SCIM tokens, issuers).
func (s *Store) PutTenant(ctx context.Context, t directory.Tenant) error {
	return s.tx(ctx, func(x *txn) error { return x.putTenant(t) })
}

func (x *txn) putTenant(t directory.Tenant) error {
	if err := x.s.dir.CheckTenant(t); err != nil {
		return err
	}
	if err := x.ensureGeneration(); err != nil {
		return err
	}
	if err := x.markChanged(); err != nil {
		return err
	}
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return x.write(tenantKey(x.s.generation(), t.ID), b, false, func() {
		if err := x.s.dir.PutTenant(t); err != nil {
			x.s.log.Error("directory: a stored tenant does not apply", "err", err)
		}
	})
}

// UpdateTenant changes the tenant with id (or domain) with change.
func (s *Store) UpdateTenant(ctx context.Context, id string, change func(*directory.Tenant) error) (directory.Tenant, error) {
	var t directory.Tenant
	err := s.tx(ctx, func(x *txn) error {
		var ok bool
		if t, ok = s.dir.Tenant(id); !ok {
			return presence.Errorf(presence.NotFound, "tenant", "Tenant '%s' was not found.", clip(id))
		}
		orig := t.ID
		if err := change(&t); err != nil {
			return err
		}
		t.ID = orig
		return x.putTenant(t)
	})
	return t, err
}

// DeleteTenant removes a tenant with its applications and users: the
// tenant first (from then on none of it is found), then the rest.
func (s *Store) DeleteTenant(ctx context.Context, id string) error {
	return s.tx(ctx, func(x *txn) error {
		t, ok := s.dir.Tenant(id)
		if !ok {
			return presence.Errorf(presence.NotFound, "tenant", "Tenant '%s' was not found.", clip(id))
		}
		if err := x.markChanged(); err != nil {
			return err
		}
		g := s.generation()
		if err := x.write(tenantKey(g, t.ID), nil, true, func() {
			gone := UsersGone{TenantID: t.ID}
			s.dir.ScanUsers(t.ID, "", func(u directory.User) bool { gone.Removed = append(gone.Removed, u.ID); return true })
			s.dir.RemoveTenant(t.ID)
			x.gone = append(x.gone, gone)
		}); err != nil {
			return err
		}
		// The rest is unreachable already; it goes even if another writer
		// comes in between.
		x.free = true
		keys, err := s.kv.Keys(ctx, genPrefix(g))
		if err != nil {
			return unavailable(err)
		}
		for _, k := range keys {
			if strings.HasPrefix(k, genPrefix(g)+"u."+t.ID+".") || s.isAppOf(ctx, k, g, t.ID) {
				if err := x.write(k, nil, true, nil); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// isAppOf reports whether key is an application record of tenant: the
// directory no longer has it (the tenant is gone), so the record is read.
func (s *Store) isAppOf(ctx context.Context, key string, g uint64, tenant string) bool {
	if !strings.HasPrefix(key, genPrefix(g)+"a.") {
		return false
	}
	e, err := s.kv.Get(ctx, key)
	if err != nil {
		return false
	}
	var a directory.App
	return json.Unmarshal(e.Value, &a) == nil && a.TenantID == tenant
}

// PutApp adds an application, or replaces the one with its client id. A
// secret in clear is hashed into a new entry of Secrets.
func (s *Store) PutApp(ctx context.Context, a directory.App) (directory.App, error) {
	a, err := s.dir.CheckApp(a)
	if err != nil {
		return a, err
	}
	if err := s.sealApp(ctx, &a); err != nil {
		return a, err
	}
	return a, s.tx(ctx, func(x *txn) error { return x.putApp(a) })
}

func (x *txn) putApp(a directory.App) error {
	a, err := x.s.dir.CheckApp(a)
	if err != nil {
		return err
	}
	if err := x.ensureGeneration(); err != nil {
		return err
	}
	if err := x.markChanged(); err != nil {
		return err
	}
	a.Secret = ""
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return x.write(appKey(x.s.generation(), a.ClientID), b, false, func() {
		if err := x.s.dir.PutApp(a); err != nil {
			x.s.log.Error("directory: a stored application does not apply", "err", err)
		}
	})
}

// UpdateApp changes the application with clientID with change (a secret
// in clear it sets is hashed into Secrets). change may run more than once.
func (s *Store) UpdateApp(ctx context.Context, clientID string, change func(*directory.App) error) (directory.App, error) {
	var a directory.App
	err := s.tx(ctx, func(x *txn) error {
		var ok bool
		if a, ok = s.dir.App(clientID); !ok {
			return presence.Errorf(presence.NotFound, "clientId", "Application '%s' was not found.", clip(clientID))
		}
		if err := change(&a); err != nil {
			return err
		}
		a.ClientID = strings.ToLower(clientID)
		if err := s.sealApp(x.ctx, &a); err != nil {
			return err
		}
		return x.putApp(a)
	})
	return a, err
}

// DeleteApp removes an application.
func (s *Store) DeleteApp(ctx context.Context, clientID string) error {
	return s.tx(ctx, func(x *txn) error {
		a, ok := s.dir.App(clientID)
		if !ok {
			return presence.Errorf(presence.NotFound, "clientId", "Application '%s' was not found.", clip(clientID))
		}
		if err := x.markChanged(); err != nil {
			return err
		}
		return x.write(appKey(s.generation(), a.ClientID), nil, true, func() { s.dir.RemoveApp(a.ClientID) })
	})
}

// sealApp hashes a secret in clear into a new entry of a.Secrets.
func (s *Store) sealApp(ctx context.Context, a *directory.App) error {
	if a.Secret == "" {
		return nil
	}
	sec, err := directory.NewSecret(ctx, a.Secret, s.clock.Now())
	if err != nil {
		return err
	}
	a.Secrets = append(slices.Clone(a.Secrets), sec)
	a.Secret = ""
	return nil
}
