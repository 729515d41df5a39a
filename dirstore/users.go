package dirstore

import (
	"context"
	"errors"
	"slices"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/guid"
	"github.com/presenced/presenced/internal/kdf"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// readPage reads a page of the live generation as stored.
func (s *Store) readPage(ctx context.Context, tenant string, page int) ([]directory.UserEntry, error) {
	e, err := s.kv.Get(ctx, pageKey(s.generation(), tenant, page))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return decodePage(tenant, e.Value)
}

// writePage stores a page and applies it to the directory; who lost their
// access by it goes to the transaction's hooks.
func (t *txn) writePage(tenant string, page int, users []directory.UserEntry) error {
	if err := t.markChanged(); err != nil {
		return err
	}
	key := pageKey(t.s.generation(), tenant, page)
	views := make([]directory.User, len(users))
	for i := range users {
		views[i] = users[i].View()
	}
	apply := func() {
		before := t.s.dir.PageUsers(tenant, page)
		if err := t.s.dir.ApplyPage(tenant, page, views); err != nil {
			// Stored and checked before: a disagreement is a bug, and the
			// engine's page is the truth from the next start on.
			t.s.log.Error("directory: a stored page does not apply", "err", err)
		}
		// Reported by whoever applies the page: this change, or the watch
		// if it delivered the write first.
		t.gone = append(t.gone, goneBetween(tenant, before, views))
	}
	if len(users) == 0 {
		return t.write(key, nil, true, apply)
	}
	return t.write(key, encodePage(users), false, apply)
}

// User returns a user's entry as stored (with its password hash and
// provisioning data), by id or userPrincipalName within a tenant.
func (s *Store) User(ctx context.Context, tenant, idOrUPN string) (directory.UserEntry, error) {
	u, ok := s.dir.UserInTenant(tenant, idOrUPN)
	if !ok {
		return directory.UserEntry{}, notFound(idOrUPN)
	}
	page, err := s.readPage(ctx, u.TenantID, directory.Page(u.ID))
	if err != nil {
		return directory.UserEntry{}, err
	}
	if i := slices.IndexFunc(page, func(e directory.UserEntry) bool { return e.ID == u.ID }); i >= 0 {
		return page[i], nil
	}
	return directory.UserEntry{}, notFound(idOrUPN)
}

func notFound(idOrUPN string) error {
	return presence.Errorf(presence.NotFound, "id", "Resource '%s' does not exist or one of its queried reference-property objects are not present.", clip(idOrUPN))
}

func clip(s string) string {
	return presence.Clip(s, 80)
}

// idTaken is CreateUser's refusal of an id in use.
func idTaken() error {
	return presence.Errorf(presence.Conflict, "id", "Another object with the same value for property id already exists.")
}

// CreateUser adds a user. An empty ID gets a new GUID; a password in clear
// is hashed. It returns the entry as stored.
func (s *Store) CreateUser(ctx context.Context, e directory.UserEntry) (directory.UserEntry, error) {
	if e.ID == "" {
		e.ID = guid.New()
	}
	if err := s.dir.CheckUser(e); err != nil {
		return e, err
	}
	if _, ok := s.dir.User(e.ID); ok {
		return e, idTaken()
	}
	// Hashing takes ~50 ms: before the change, not while others wait.
	if err := hashPassword(ctx, &e); err != nil {
		return e, err
	}
	err := s.tx(ctx, func(t *txn) error {
		if err := s.dir.CheckUser(e); err != nil {
			return err
		}
		if _, ok := s.dir.User(e.ID); ok {
			return idTaken()
		}
		if err := t.ensureGeneration(); err != nil {
			return err
		}
		p := directory.Page(e.ID)
		page, err := s.readPage(ctx, e.TenantID, p)
		if err != nil {
			return err
		}
		return t.writePage(e.TenantID, p, append(slices.Clone(page), e))
	})
	return e, err
}

// hashPassword replaces a password in clear by its hash.
func hashPassword(ctx context.Context, e *directory.UserEntry) error {
	if e.Password == "" {
		return nil
	}
	h, err := kdf.Hash(ctx, e.Password)
	if err != nil {
		return err
	}
	e.Password, e.PasswordHash = "", h
	return nil
}

// UpdateUser changes a user of a tenant (id or userPrincipalName) with
// change, which may set a new password in clear; the id and tenant cannot
// change. It returns the entry as stored. change may run more than once
// (a change that met another starts over), on a fresh copy each time.
func (s *Store) UpdateUser(ctx context.Context, tenant, idOrUPN string, change func(*directory.UserEntry) error) (directory.UserEntry, error) {
	u, ok := s.dir.UserInTenant(tenant, idOrUPN)
	if !ok {
		return directory.UserEntry{}, notFound(idOrUPN)
	}
	var e directory.UserEntry
	err := s.tx(ctx, func(t *txn) error {
		p := directory.Page(u.ID)
		page, i, err := s.userOnPage(ctx, u, p, idOrUPN)
		if err != nil {
			return err
		}
		e = page[i]
		if err := change(&e); err != nil {
			return err
		}
		e.ID, e.TenantID = page[i].ID, page[i].TenantID
		if err := s.dir.CheckUser(e); err != nil {
			return err
		}
		// A new password is hashed here, holding up other changes for
		// ~50 ms: password changes are rare, and a read-modify-write
		// that hashes outside would have to check again.
		if err := hashPassword(ctx, &e); err != nil {
			return err
		}
		next := slices.Clone(page)
		next[i] = e
		return t.writePage(u.TenantID, p, next)
	})
	return e, err
}

// userOnPage reads the page of user u (p, by its id) as the engine has it
// and finds u on it; not found (naming idOrUPN, as the caller did) when
// another writer removed u meanwhile.
func (s *Store) userOnPage(ctx context.Context, u directory.User, p int, idOrUPN string) ([]directory.UserEntry, int, error) {
	page, err := s.readPage(ctx, u.TenantID, p)
	if err != nil {
		return nil, -1, err
	}
	i := slices.IndexFunc(page, func(e directory.UserEntry) bool { return e.ID == u.ID })
	if i < 0 {
		return nil, -1, notFound(idOrUPN)
	}
	return page, i, nil
}

// DeleteUser removes a user of a tenant (id or userPrincipalName); once
// it is gone from the directory, the OnUsersGone hooks end what was
// theirs, before DeleteUser returns.
func (s *Store) DeleteUser(ctx context.Context, tenant, idOrUPN string) error {
	u, ok := s.dir.UserInTenant(tenant, idOrUPN)
	if !ok {
		return notFound(idOrUPN)
	}
	return s.tx(ctx, func(t *txn) error {
		p := directory.Page(u.ID)
		page, i, err := s.userOnPage(ctx, u, p, idOrUPN)
		if err != nil {
			return err
		}
		return t.writePage(u.TenantID, p, slices.Delete(slices.Clone(page), i, i+1))
	})
}

// Authenticate checks a user's password: the user (id or
// userPrincipalName) must be in the tenant and have a password equal to
// password. It takes the same time whatever the outcome (an unknown user,
// one without a password, a wrong password: one argon2id each). A disabled
// account is returned as it is, for the caller to refuse.
func (s *Store) Authenticate(ctx context.Context, tenant, username, password string) (directory.User, bool, error) {
	u, ok := s.dir.UserInTenant(tenant, username)
	if !ok || !u.HasPassword {
		return directory.User{}, false, kdf.VerifyNone(ctx, password)
	}
	e, err := s.User(ctx, u.TenantID, u.ID)
	var pe *presence.Error
	if err == nil && e.PasswordHash == "" || errors.As(err, &pe) && pe.Code == presence.NotFound {
		// Changed since the lookup: as if it had no password.
		return directory.User{}, false, kdf.VerifyNone(ctx, password)
	}
	if err != nil {
		return directory.User{}, false, err
	}
	match, err := kdf.Verify(ctx, e.PasswordHash, password)
	if err != nil || !match {
		return directory.User{}, false, err
	}
	return u, true, nil
}
