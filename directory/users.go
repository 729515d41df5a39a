package directory

import (
	"hash/maphash"
	"math/bits"
	"strings"
	"unicode/utf8"
)

// Limits on the free-text fields of a user, which the compact table stores
// with 16-bit lengths. Entra's own limit for both is 256 characters.
const (
	maxDisplayName = 256 * utf8.UTFMax
	maxPassword    = 256 * utf8.UTFMax
)

// userTable holds every user of a snapshot in four flat allocations instead
// of five strings and two map entries per user. Measured at 1,000,000 users
// the maps-and-strings form kept 336 B per user on the heap; this one keeps
// about 100 (the strings' bytes, a 16-byte record and two 4-byte index
// slots at half load), and only the arena is a pointer the garbage
// collector follows. The index is a small open-addressing hash table written
// here because a Go map keyed by string costs a 16-byte header per key plus
// the map's own slack, which is most of what this table saves.
type userTable struct {
	// arena is every user's id, userPrincipalName, displayName and password,
	// back to back. The strings handed out are substrings of it, so a
	// looked-up User allocates nothing.
	arena string
	end   int // where the next added user starts in the arena
	recs  []userRec
	byID  index // id (lowercase) → user
	byUPN index // lowercase userPrincipalName → user
}

// userRec places one user in the arena: the id (36 bytes), then the
// userPrincipalName, displayName and password with the given lengths.
type userRec struct {
	off            uint32
	tenant         uint32 // index in snapshot.tenants
	upn, name, pwd uint16
}

// newUserTable lays out users in an arena sized for them; add then indexes
// them one by one, in the same order, once each is validated (its id a
// GUID, so exactly guidLen bytes).
func newUserTable(users []User) *userTable {
	total := 0
	for _, u := range users {
		total += len(u.ID) + len(u.UserPrincipalName) + len(u.DisplayName) + len(u.Password)
	}
	t := &userTable{
		recs:  make([]userRec, 0, len(users)),
		byID:  newIndex(len(users)),
		byUPN: newIndex(len(users)),
	}
	var b strings.Builder
	b.Grow(total)
	for _, u := range users {
		b.WriteString(u.ID)
		b.WriteString(u.UserPrincipalName)
		b.WriteString(u.DisplayName)
		b.WriteString(u.Password)
	}
	t.arena = b.String()
	return t
}

// add appends the next user (in the order given to newUserTable) and
// indexes it. If its id or lowercase UPN is already taken, nothing is added
// and dupID or dupUPN is the index of the user holding it (else -1).
func (t *userTable) add(u User, tenant int) (dupID, dupUPN int) {
	i := len(t.recs)
	r := userRec{off: uint32(t.end), tenant: uint32(tenant), upn: uint16(len(u.UserPrincipalName)), name: uint16(len(u.DisplayName)), pwd: uint16(len(u.Password))}
	t.recs = append(t.recs, r)
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
		t.recs = t.recs[:i]
		return dupID, dupUPN
	}
	t.end += len(u.ID) + len(u.UserPrincipalName) + len(u.DisplayName) + len(u.Password)
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

const guidLen = 36

// user returns user i; its strings are the arena's. TenantID is left for
// the snapshot to fill in (it owns the tenants).
func (t *userTable) user(i int) User {
	r := t.recs[i]
	off := int(r.off)
	id := t.arena[off : off+guidLen]
	off += guidLen
	upn := t.arena[off : off+int(r.upn)]
	off += int(r.upn)
	name := t.arena[off : off+int(r.name)]
	off += int(r.name)
	pwd := t.arena[off : off+int(r.pwd)]
	return User{ID: id, UserPrincipalName: upn, DisplayName: name, Password: pwd}
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
