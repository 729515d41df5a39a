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
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putTenant(ctx, t)
}

func (s *Store) putTenant(ctx context.Context, t directory.Tenant) error {
	if err := s.dir.CheckTenant(t); err != nil {
		return err
	}
	if err := s.ensureGeneration(ctx); err != nil {
		return err
	}
	if err := s.markChanged(ctx); err != nil {
		return err
	}
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if err := s.putAfter(ctx, tenantKey(s.cur.Generation, t.ID), b); err != nil {
		return err
	}
	return s.dir.PutTenant(t)
}

// UpdateTenant changes the tenant with id (or domain) with change.
func (s *Store) UpdateTenant(ctx context.Context, id string, change func(*directory.Tenant) error) (directory.Tenant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.dir.Tenant(id)
	if !ok {
		return t, presence.Errorf(presence.NotFound, "tenant", "Tenant '%s' was not found.", clip(id))
	}
	orig := t.ID
	if err := change(&t); err != nil {
		return t, err
	}
	t.ID = orig
	return t, s.putTenant(ctx, t)
}

// DeleteTenant removes a tenant with its applications and users: the
// tenant first (from then on none of it is found), then the rest.
func (s *Store) DeleteTenant(ctx context.Context, id string) error {
	t, ok := s.dir.Tenant(id)
	if !ok {
		return presence.Errorf(presence.NotFound, "tenant", "Tenant '%s' was not found.", clip(id))
	}
	var removed []string
	s.dir.ScanUsers(t.ID, "", func(u directory.User) bool { removed = append(removed, u.ID); return true })
	err := func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.markChanged(ctx); err != nil {
			return err
		}
		g := s.cur.Generation
		if err := s.deleteAfter(ctx, tenantKey(g, t.ID)); err != nil {
			return err
		}
		s.dir.RemoveTenant(t.ID)
		keys, err := s.kv.Keys(ctx, genPrefix(g))
		if err != nil {
			return unavailable(err)
		}
		for _, k := range keys {
			if strings.HasPrefix(k, genPrefix(g)+"u."+t.ID+".") || s.isAppOf(k, g, t.ID) {
				if err := s.deleteAfter(ctx, k); err != nil {
					return err
				}
			}
		}
		return nil
	}()
	if err != nil {
		return err
	}
	s.usersGone(UsersGone{TenantID: t.ID, Removed: removed})
	return nil
}

// isAppOf reports whether key is an application record of tenant: the
// directory no longer has it (the tenant is gone), so the record is read.
func (s *Store) isAppOf(key string, g uint64, tenant string) bool {
	if !strings.HasPrefix(key, genPrefix(g)+"a.") {
		return false
	}
	e, err := s.kv.Get(context.Background(), key)
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
	s.mu.Lock()
	defer s.mu.Unlock()
	return a, s.putApp(ctx, a)
}

func (s *Store) putApp(ctx context.Context, a directory.App) error {
	a, err := s.dir.CheckApp(a)
	if err != nil {
		return err
	}
	if err := s.ensureGeneration(ctx); err != nil {
		return err
	}
	if err := s.markChanged(ctx); err != nil {
		return err
	}
	a.Secret = ""
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if err := s.putAfter(ctx, appKey(s.cur.Generation, a.ClientID), b); err != nil {
		return err
	}
	return s.dir.PutApp(a)
}

// UpdateApp changes the application with clientID with change (a secret
// in clear it sets is hashed into Secrets).
func (s *Store) UpdateApp(ctx context.Context, clientID string, change func(*directory.App) error) (directory.App, error) {
	a, ok := s.dir.App(clientID)
	if !ok {
		return a, presence.Errorf(presence.NotFound, "clientId", "Application '%s' was not found.", clip(clientID))
	}
	if err := change(&a); err != nil {
		return a, err
	}
	a.ClientID = strings.ToLower(clientID)
	if err := s.sealApp(ctx, &a); err != nil {
		return a, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.dir.App(clientID); !ok {
		return a, presence.Errorf(presence.NotFound, "clientId", "Application '%s' was not found.", clip(clientID))
	}
	return a, s.putApp(ctx, a)
}

// DeleteApp removes an application.
func (s *Store) DeleteApp(ctx context.Context, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.dir.App(clientID)
	if !ok {
		return presence.Errorf(presence.NotFound, "clientId", "Application '%s' was not found.", clip(clientID))
	}
	if err := s.markChanged(ctx); err != nil {
		return err
	}
	if err := s.deleteAfter(ctx, appKey(s.cur.Generation, a.ClientID)); err != nil {
		return err
	}
	s.dir.RemoveApp(a.ClientID)
	return nil
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
