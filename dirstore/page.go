package dirstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/guid"
)

// pageVersion is the first byte of a stored page. A new layout needs a new
// version, and this one stays readable.
const pageVersion = 1

// Flags of a user in a page.
const (
	pageDisabled = 1 << iota
	pageUserAdmin
)

// maxPageString bounds every string of a page: more than any field's limit
// (256 characters of up to 4 bytes) and than a PHC hash.
const maxPageString = 4096

// encodePage writes a page of users: the version byte, the number of users,
// then each user's id (16 bytes), flags, and userPrincipalName,
// displayName, mail, passwordHash, externalId, givenName, familyName, each
// a uvarint length and its bytes. The tenant is the key's, not repeated.
// A page of ~250 users (a million in one tenant) is ~20 KB.
func encodePage(users []directory.UserEntry) []byte {
	n := 1 + binary.MaxVarintLen64
	for i := range users {
		u := &users[i]
		n += 16 + 1 + 7*binary.MaxVarintLen16 + len(u.UserPrincipalName) + len(u.DisplayName) + len(u.Mail) + len(u.PasswordHash) + len(u.ExternalID) + len(u.GivenName) + len(u.FamilyName)
	}
	b := make([]byte, 0, n)
	b = append(b, pageVersion)
	b = binary.AppendUvarint(b, uint64(len(users)))
	for i := range users {
		u := &users[i]
		id, _ := guid.Parse(u.ID)
		b = append(b, id[:]...)
		var f byte
		if !u.Enabled() {
			f |= pageDisabled
		}
		if u.UserAdministrator {
			f |= pageUserAdmin
		}
		b = append(b, f)
		for _, s := range [...]string{u.UserPrincipalName, u.DisplayName, u.Mail, u.PasswordHash, u.ExternalID, u.GivenName, u.FamilyName} {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
	}
	return b
}

var errPage = errors.New("dirstore: malformed page")

// decodePage reads a page of tenant's users.
func decodePage(tenant string, b []byte) ([]directory.UserEntry, error) {
	if len(b) == 0 || b[0] != pageVersion {
		return nil, fmt.Errorf("%w: unknown version", errPage)
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b))/17 {
		return nil, fmt.Errorf("%w: user count", errPage)
	}
	b = b[k:]
	users := make([]directory.UserEntry, n)
	for i := range users {
		if len(b) < 17 {
			return nil, fmt.Errorf("%w: user %d cut short", errPage, i)
		}
		u := &users[i]
		u.ID, u.TenantID = guid.Format([16]byte(b[:16])), tenant
		f := b[16]
		b = b[17:]
		if f&^(pageDisabled|pageUserAdmin) != 0 {
			return nil, fmt.Errorf("%w: user %d flags %#x", errPage, i, f)
		}
		if f&pageDisabled != 0 {
			u.AccountEnabled = directory.Bool(false)
		}
		u.UserAdministrator = f&pageUserAdmin != 0
		for _, s := range [...]*string{&u.UserPrincipalName, &u.DisplayName, &u.Mail, &u.PasswordHash, &u.ExternalID, &u.GivenName, &u.FamilyName} {
			l, k := binary.Uvarint(b)
			if k <= 0 || l > maxPageString || l > uint64(len(b)-k) {
				return nil, fmt.Errorf("%w: user %d string length", errPage, i)
			}
			*s = string(b[k : k+int(l)])
			if !utf8.ValidString(*s) {
				return nil, fmt.Errorf("%w: user %d string not UTF-8", errPage, i)
			}
			b = b[k+int(l):]
		}
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last user", errPage, len(b))
	}
	return users, nil
}
