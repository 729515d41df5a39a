package directory

import "math/bits"

// fillRegionBits is the log2 of the slots a region of fill covers: 2^15
// four-byte slots, 128 KB, held in a core's cache while its users go in.
const fillRegionBits = 15

// fill puts users 0..n-1, user i's key being key(i), into x (new, empty)
// and returns the first user, in user order, whose key an earlier user
// has (same(i, j): users i and j have the same key), or -1.
//
// The users go in in the order of their slots, not their numbers: one
// pass hashes every key and counts the users of each region of slots, a
// second places each user's slot and value in its region's part of one
// buffer, and a third inserts region by region, so that the probes of a
// region stay in the processor's cache. Inserted in user order, every
// insert of ten million probed a random place in a 128 MB table, a cache
// and TLB miss each (half of a 10M start's directory build). Linear
// probing holds whatever the order (each key lies at the first free slot
// from its own on, past occupied ones only), and two users with one key
// share a slot and so a region, where they go in in user order: the
// later is found a duplicate of the earlier, as inserted one by one.
func (x *index) fill(n int, key func(i int) string, same func(i, j int) bool) int {
	if n == 0 {
		return -1
	}
	slotBits := uint(bits.Len64(x.mask))
	shift := min(slotBits, fillRegionBits)
	regions := make([]int, 1<<(slotBits-shift)+1)
	for i := range n {
		p, _ := x.start(key(i))
		regions[p>>shift+1]++
	}
	for r := 1; r < len(regions); r++ {
		regions[r] += regions[r-1]
	}
	// Each entry: the slot (high 32 bits) and the value to put in it.
	buf := make([]uint64, n)
	for i := range n {
		p, tag := x.start(key(i))
		at := &regions[p>>shift]
		buf[*at] = p<<32 | uint64(tag|uint32(i+1))
		*at++
	}
	dup := -1
	numMask := uint32(1)<<x.numBits - 1
	for _, e := range buf {
		p, v := e>>32, uint32(e)
		i, tag := int(v&numMask)-1, v&^numMask
		for ; ; p = x.next(p) {
			old := x.slots[p]
			if old == 0 {
				x.slots[p] = v
				break
			}
			if j, ok := x.user(old, tag); ok && same(i, j) {
				if dup < 0 || i < dup {
					dup = i
				}
				break
			}
		}
	}
	return dup
}
