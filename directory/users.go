package directory

import (
	"hash/maphash"
	"math/bits"
	"strings"
	"unicode/utf8"
)

// userTable holds the users of a directory's base in four flat allocations
// instead of five strings and two map entries per user. Measured at
// 1,000,000 users the maps-and-strings form kept 336 B per user on the
// heap; this one keeps about 100 (the strings' bytes, a 16-byte record and
// two 4-byte index slots at half load), and only the arena is a pointer the
// garbage collector follows. The index is a small open-addressing hash
// table written here because a Go map keyed by string costs a 16-byte
// header per key plus the map's own slack, which is most of what this table
// saves.
//
// A table never changes once built (changes go to the directory's delta
// and are folded into a new table). Its users are in (tenant, page, id)
// order, so that a tenant's users, and a page's, are one run of records.
type userTable struct {
	// arena is every user's id, userPrincipalName, displayName and mail,
	// back to back. The strings handed out are substrings of it, so a
	// looked-up User allocates nothing.
	arena string
	recs  []userRec
	byID  index // id (lowercase) → user
	byUPN index // lowercase userPrincipalName → user
}

// userRec places one user in the arena: the id (36 bytes), then the
// userPrincipalName, displayName and mail with the given lengths.
type userRec struct {
	off             uint32
	tenant          uint32 // the tenant's number in the directory
	upn, name, mail uint16
	flags           uint16 // userFlag bits, and the page in the top 12
}

// Flags of a userRec.
const (
	flagDisabled uint16 = 1 << iota
	flagPassword
	flagUserAdmin
	flagPageShift = 4
)

const guidLen = 36

// tableBuilder lays out users, given in (tenant, page, id) order, in a new
// table.
type tableBuilder struct {
	t   *userTable
	b   strings.Builder
	end int
}

func newTableBuilder(n, arenaBytes int) *tableBuilder {
	tb := &tableBuilder{t: &userTable{recs: make([]userRec, 0, n), byID: newIndex(n), byUPN: newIndex(n)}}
	tb.b.Grow(arenaBytes)
	return tb
}

// arenaBytes is what u takes in the arena.
func arenaBytes(u *User) int {
	return len(u.ID) + len(u.UserPrincipalName) + len(u.DisplayName) + len(u.Mail)
}

// add appends u (of tenant number tenant) and returns its record number.
// The caller adds users in order and has checked that ids and UPNs are
// unique; see indexAll.
func (tb *tableBuilder) add(u *User, tenant uint32) int {
	r := userRec{off: uint32(tb.end), tenant: tenant, upn: uint16(len(u.UserPrincipalName)), name: uint16(len(u.DisplayName)), mail: uint16(len(u.Mail)),
		flags: flagsOf(u)}
	tb.b.WriteString(u.ID)
	tb.b.WriteString(u.UserPrincipalName)
	tb.b.WriteString(u.DisplayName)
	tb.b.WriteString(u.Mail)
	tb.end += arenaBytes(u)
	tb.t.recs = append(tb.t.recs, r)
	return len(tb.t.recs) - 1
}

func flagsOf(u *User) uint16 {
	f := uint16(Page(u.ID)) << flagPageShift
	if !u.AccountEnabled {
		f |= flagDisabled
	}
	if u.HasPassword {
		f |= flagPassword
	}
	if u.UserAdministrator {
		f |= flagUserAdmin
	}
	return f
}

// finish ends the layout; the table's records can be read and indexed.
func (tb *tableBuilder) finish() *userTable {
	tb.t.arena = tb.b.String()
	return tb.t
}

// index puts record i in both indexes. If its id or lowercase UPN is
// already there, nothing is indexed and dupID or dupUPN is the record
// holding it (else -1).
func (t *userTable) index(i int) (dupID, dupUPN int) {
	id, upn := t.idOf(i), t.upnOf(i)
	dupID, dupUPN = -1, -1
	slotID, tagID, foundID := t.findID(id)
	if foundID >= 0 {
		dupID = foundID
	}
	upnKey := strings.ToLower(upn)
	slotUPN, tagUPN, foundUPN := t.findUPN(upnKey)
	if foundUPN >= 0 {
		dupUPN = foundUPN
	}
	if dupID >= 0 || dupUPN >= 0 {
		return dupID, dupUPN
	}
	t.byID.set(slotID, i, tagID)
	t.byUPN.set(slotUPN, i, tagUPN)
	return -1, -1
}

func (t *userTable) len() int { return len(t.recs) }

func (t *userTable) idOf(i int) string {
	off := int(t.recs[i].off)
	return t.arena[off : off+guidLen]
}

func (t *userTable) upnOf(i int) string {
	r := t.recs[i]
	off := int(r.off) + guidLen
	return t.arena[off : off+int(r.upn)]
}

func (t *userTable) page(i int) int { return int(t.recs[i].flags >> flagPageShift) }

// user returns user i; its strings are the arena's. TenantID is left for
// the directory to fill in (it owns the tenants).
func (t *userTable) user(i int) User {
	r := t.recs[i]
	off := int(r.off)
	id := t.arena[off : off+guidLen]
	off += guidLen
	upn := t.arena[off : off+int(r.upn)]
	off += int(r.upn)
	name := t.arena[off : off+int(r.name)]
	off += int(r.name)
	mail := t.arena[off : off+int(r.mail)]
	return User{ID: id, UserPrincipalName: upn, DisplayName: name, Mail: mail,
		AccountEnabled: r.flags&flagDisabled == 0, HasPassword: r.flags&flagPassword != 0, UserAdministrator: r.flags&flagUserAdmin != 0}
}

// lookupID returns the user whose id is id (exactly: ids are stored in
// lowercase), or -1.
func (t *userTable) lookupID(id string) int {
	_, _, i := t.findID(id)
	return i
}

// lookupUPN returns the user whose lowercase UPN is key, or -1.
func (t *userTable) lookupUPN(key string) int {
	_, _, i := t.findUPN(key)
	return i
}

// findID is the user with id, or -1 and the slot (and tag) to add it at.
func (t *userTable) findID(id string) (slot uint64, tag uint32, found int) {
	return t.byID.find(id, func(i int) bool { return t.idOf(i) == id })
}

// findUPN is findID for a lowercase userPrincipalName.
func (t *userTable) findUPN(key string) (slot uint64, tag uint32, found int) {
	return t.byUPN.find(key, func(i int) bool { return lowerEquals(t.upnOf(i), key) })
}

// lowerEquals reports whether strings.ToLower(s) == lower without
// allocating when s is ASCII.
func lowerEquals(s, lower string) bool {
	if len(s) != len(lower) {
		return strings.ToLower(s) == lower // non-ASCII case mappings may change the length
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return strings.ToLower(s) == lower
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// index is an open-addressing hash table (linear probing, at most half
// full) of user numbers plus one; 0 marks an empty slot. The keys live in
// the table's arena, so a slot is 4 bytes. The bits of a slot that the
// number does not need hold a tag, more bits of the key's hash: a probe
// that meets another key's slot almost never reads that user's record and
// id (two more memory accesses, at a million users each a cache miss) —
// with 1,000,000 users, 12 bits, so one such read in 4,096.
type index struct {
	seed    maphash.Seed
	slots   []uint32
	mask    uint64
	numBits uint // low bits of a slot holding the user number plus one
}

func newIndex(n int) index {
	size := 8
	for size < 2*n {
		size <<= 1
	}
	return index{seed: maphash.MakeSeed(), slots: make([]uint32, size), mask: uint64(size - 1), numBits: uint(bits.Len(uint(n)))}
}

// start is the first slot to probe for key, and key's tag in place.
func (x *index) start(key string) (p uint64, tag uint32) {
	h := maphash.String(x.seed, key)
	return h & x.mask, uint32(h>>32) << x.numBits
}

// user is the user in slot value v, if v's tag is tag.
func (x *index) user(v, tag uint32) (int, bool) {
	num := v & (1<<x.numBits - 1)
	return int(num) - 1, v^num == tag
}

// find probes for key: the user in the first slot with key's tag for
// which is(user) holds, or -1 and the empty slot (and tag) where key
// would go.
func (x *index) find(key string, is func(i int) bool) (slot uint64, tag uint32, found int) {
	p, tag := x.start(key)
	for ; ; p = x.next(p) {
		v := x.slots[p]
		if v == 0 {
			return p, tag, -1
		}
		if i, ok := x.user(v, tag); ok && is(i) {
			return p, tag, i
		}
	}
}

// set puts user i in slot p with the tag of the key start found p for.
func (x *index) set(p uint64, i int, tag uint32) { x.slots[p] = tag | uint32(i+1) }

func (x *index) next(p uint64) uint64 { return (p + 1) & x.mask }
