package core

import (
	"encoding/binary"
	"strings"
	"sync"

	"github.com/presenced/presenced/internal/guid"
)

// Why by hand: the cache holds every user the server has read or written —
// a million at the scale the project targets — and a Go map of UserRef to
// string held a million small objects and three million pointers that
// every garbage collection had to trace (a 490 MB heap, marked once per
// ~1,000 getPresencesByUserId requests, was the tail of their latency),
// and cost 195 bytes a user. Here a shard keeps its users in a map whose
// keys and values hold no pointers (userKey → slot) and their entries in
// byte chunks (arena), so the collector skips both: it sees a few hundred
// chunks per shard instead of one object per user. No library does this
// for variable-sized values without pointers; the code is small and every
// path is tested (cache_test.go).

// userKey is a user as the cache knows it, without pointers: the tenant's
// number in the shard, and the user id's 16 bytes when it is a GUID in
// canonical form (as every directory user id is), else its number in the
// shard (oddID set in tenant).
type userKey struct {
	tenant uint32
	user   [16]byte
}

// oddID marks a userKey whose user id is not a canonical GUID.
const oddID = 1 << 31

// names numbers a shard's tenant ids and non-GUID user ids. Numbers are
// never reused; there are as many as distinct ids ever cached.
type names struct {
	tenants  []string          // by number: a server has few, and a scan of a few beats a map
	tenantNo map[string]uint32 // from maxScanned tenants on
	odd      map[string]uint32
}

// maxScanned is how many tenants are looked up by a scan.
const maxScanned = 8

// tenant is the number of tenant id s, if numbered.
func (n *names) tenant(s string) (uint32, bool) {
	if n.tenantNo != nil {
		t, ok := n.tenantNo[s]
		return t, ok
	}
	for t, id := range n.tenants {
		if id == s {
			return uint32(t), true
		}
	}
	return 0, false
}

// key returns u's key. With add, unknown ids are numbered (the shard's
// write lock held); without, an id never numbered means u was never cached.
func (n *names) key(u UserRef, add bool) (userKey, bool) {
	t, ok := n.tenant(u.TenantID)
	if !ok {
		if !add {
			return userKey{}, false
		}
		id := strings.Clone(u.TenantID) // not the caller's string: it may be part of a larger one
		t = uint32(len(n.tenants))
		n.tenants = append(n.tenants, id)
		if n.tenantNo != nil || len(n.tenants) > maxScanned {
			if n.tenantNo == nil {
				n.tenantNo = make(map[string]uint32)
				for no, id := range n.tenants {
					n.tenantNo[id] = uint32(no)
				}
			}
			n.tenantNo[id] = t
		}
	}
	k := userKey{tenant: t}
	if g, ok := guid.Parse(u.UserID); ok {
		k.user = g
		return k, true
	}
	o, ok := n.odd[u.UserID]
	if !ok {
		if !add {
			return userKey{}, false
		}
		if n.odd == nil {
			n.odd = make(map[string]uint32)
		}
		o = uint32(len(n.odd))
		n.odd[strings.Clone(u.UserID)] = o
	}
	k.tenant |= oddID
	binary.LittleEndian.PutUint32(k.user[:], o)
	return k, true
}

// slot locates an entry in a shard: its size class (top bits) and its
// number in that class, or one of the two values below.
type slot uint32

const (
	slotClassShift      = 27
	emptySlot      slot = 1<<32 - 1 // entry "": a user read but never written
	bigSlot        slot = 1<<32 - 2 // in shard.big: longer than the largest class
)

// classSizes are the arena's slot sizes in bytes. An entry takes the
// smallest slot that holds it and its length (a uvarint); two sessions
// need ~70 bytes. The steps follow Go's own size classes, so that the
// slack is what a heap allocation would have.
var classSizes = [...]uint32{16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256, 288, 320, 384, 448, 512, 640, 768, 1024, 1536, 2048, 3072, 4096}

// chunkBytes is the most a chunk of slots holds: a full chunk of the
// 80-byte class keeps 204 users.
const chunkBytes = 16 << 10

// arena stores a shard's entries in chunks of equal slots, one list of
// chunks per size class. A freed slot is reused by the next entry of its
// class. The arena is used under its shard's lock; what get returns is a
// copy, so a slot can be reused as soon as it is freed.
type arena struct {
	classes [len(classSizes)]slotClass
}

type slotClass struct {
	chunks [][]byte
	free   []uint32 // freed slot numbers, reused first
	n      uint32   // slot numbers handed out, freed or not
}

// classFor is the smallest class whose slots hold n bytes, or false.
func classFor(n int) (int, bool) {
	for c, size := range classSizes {
		if uint32(n) <= size {
			return c, true
		}
	}
	return 0, false
}

// put stores e and returns its slot, or false if e is too long for any
// class (the caller keeps it elsewhere).
func (a *arena) put(e entry) (slot, bool) {
	sl, b, ok := a.alloc(len(e))
	if ok {
		copy(b, e)
	}
	return sl, ok
}

// alloc takes a slot for an entry of n bytes, writes the length, and
// returns the slot and the n bytes to copy the entry into.
func (a *arena) alloc(n int) (slot, []byte, bool) {
	c, ok := classFor(uvarintLen(uint64(n)) + n)
	if !ok {
		return 0, nil, false
	}
	cl := &a.classes[c]
	var num uint32
	if k := len(cl.free); k > 0 {
		num, cl.free = cl.free[k-1], cl.free[:k-1]
	} else {
		if cl.n == 1<<slotClassShift {
			return 0, nil, false // 134 million entries of one class in one shard
		}
		num = cl.n
		cl.n++
	}
	b := binary.AppendUvarint(a.bytes(c, num, true)[:0], uint64(n))
	return slot(uint32(c)<<slotClassShift | num), b[len(b) : len(b)+n], true
}

// bytes is slot num of class c (its whole size). With grow, a slot past
// the end of the last chunk is made: chunks are filled in order, and a
// class's first chunk's memory grows with it (doubling, up to
// chunkBytes), so that a shard with few users does not hold a chunk per
// class it used; a class that filled a chunk gets its next ones whole at
// once (at 10 million users, growing each of ~50,000 chunks by doubling
// copied the whole cache once more during a start, and left as much
// garbage: ~1.5 s of a start's CPU).
func (a *arena) bytes(c int, num uint32, grow bool) []byte {
	cl, size := &a.classes[c], classSizes[c]
	per := max(1, chunkBytes/size)
	ch, off := num/per, num%per*size
	if grow {
		if int(ch) == len(cl.chunks) {
			cl.chunks = append(cl.chunks, nil)
		}
		chunk := cl.chunks[ch]
		if need := int(off + size); need > len(chunk) {
			if need > cap(chunk) {
				c := min(int(per*size), max(need, 2*cap(chunk), 4*int(size)))
				if ch > 0 {
					c = int(per * size)
				}
				grown := make([]byte, len(chunk), c)
				copy(grown, chunk)
				chunk = grown
			}
			cl.chunks[ch] = chunk[:need]
		}
	}
	return cl.chunks[ch][off : off+size : off+size]
}

// get appends the entry in s to buf.
func (a *arena) get(s slot, buf []byte) []byte { return append(buf, a.entry(s)...) }

// entry is the entry in s, in place.
func (a *arena) entry(s slot) []byte {
	b := a.bytes(int(s>>slotClassShift), uint32(s)&(1<<slotClassShift-1), false)
	n, k := binary.Uvarint(b)
	return b[k : k+int(n)]
}

// free makes s available to the next entry of its class.
func (a *arena) free(s slot) {
	c := int(s >> slotClassShift)
	a.classes[c].free = append(a.classes[c].free, uint32(s)&(1<<slotClassShift-1))
}

// sparse reports whether class c has so many free slots that its entries
// should move to fresh chunks: at least minSparse, and a quarter of the
// slots. Free slots are reused by the class's next entries, but entries
// change class as users gain and lose sessions (a million users writing
// their second session left a million free slots of the one-session
// class), so without this a class would keep its high-water mark forever.
func (a *arena) sparse(c int) bool {
	free := len(a.classes[c].free)
	return free >= minSparse && 4*free >= int(a.classes[c].n)
}

const minSparse = 64

// compact moves the entries of class c into fresh chunks, in the order
// of the shard's map, and drops the old chunks (mu held for writing).
// Moving one class's entries costs a pass over the shard's users; it
// happens after at least a quarter of the class's slots were freed, so
// each free pays for at most three moves.
func (s *shard) compact(c int) {
	old := arena{}
	old.classes[c] = s.arena.classes[c]
	s.arena.classes[c] = slotClass{}
	for k, sl := range s.users {
		if sl == emptySlot || sl == bigSlot || int(sl>>slotClassShift) != c {
			continue
		}
		e := old.entry(sl)
		moved, b, _ := s.arena.alloc(len(e)) // the same class, which now has room
		copy(b, e)
		s.users[k] = moved
	}
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// shard holds a slice of the users: their cached entries and a write lock
// that serialises read-modify-write per shard (a user's writes never race
// inside one node; the engine's revision check covers other nodes). mu
// guards everything below it.
type shard struct {
	mu    sync.RWMutex
	users map[userKey]slot
	names names
	arena arena
	big   map[userKey]entry // entries longer than the arena's largest class
}

// find is u's slot (mu held for reading or writing).
func (s *shard) find(u UserRef) (userKey, slot, bool) {
	k, ok := s.names.key(u, false)
	if !ok {
		return k, 0, false
	}
	sl, ok := s.users[k]
	return k, sl, ok
}

// appendEntry appends the entry in sl (of key k) to buf (mu held).
func (s *shard) appendEntry(k userKey, sl slot, buf []byte) []byte {
	switch sl {
	case emptySlot:
		return buf
	case bigSlot:
		return append(buf, s.big[k]...)
	}
	return s.arena.get(sl, buf)
}

// rev is the revision of the entry in sl (of key k) (mu held).
func (s *shard) rev(k userKey, sl slot) uint64 {
	var b []byte
	switch sl {
	case emptySlot:
		return 0
	case bigSlot:
		b = []byte(s.big[k][:min(len(s.big[k]), binary.MaxVarintLen64)])
	default:
		b = s.arena.entry(sl)
	}
	r, _ := binary.Uvarint(b)
	return r
}

// set caches e for u, replacing what was cached (mu held for writing).
// It keeps a copy of e, never e itself: e may be in a buffer the caller
// reuses.
func (s *shard) set(u UserRef, e entry) {
	k, _ := s.names.key(u, true)
	if old, ok := s.users[k]; ok {
		delete(s.users, k) // first: a compaction that release starts must not move it
		s.release(k, old)
	}
	sl := emptySlot
	if e != "" {
		var ok bool
		if sl, ok = s.arena.put(e); !ok {
			if s.big == nil {
				s.big = make(map[userKey]entry)
			}
			// A copy: e may be the caller's bytes (write's entry, in place).
			s.big[k], sl = entry(strings.Clone(string(e))), bigSlot
		}
	}
	if s.users == nil {
		s.users = make(map[userKey]slot)
	}
	s.users[k] = sl
}

// del forgets u (mu held for writing).
func (s *shard) del(u UserRef) {
	k, sl, ok := s.find(u)
	if !ok {
		return
	}
	delete(s.users, k) // first: a compaction that release starts must not move it
	s.release(k, sl)
}

func (s *shard) release(k userKey, sl slot) {
	switch sl {
	case emptySlot:
	case bigSlot:
		delete(s.big, k)
	default:
		s.arena.free(sl)
		if c := int(sl >> slotClassShift); s.arena.sparse(c) {
			s.compact(c)
		}
	}
}
