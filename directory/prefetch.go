package directory

// Prefetch reads, for a batch of user ids about to be looked up one by one
// (getPresencesByUserId's 650), the memory those lookups will read: each
// id's first index slot, then its user's record, then the record's id in
// the arena. It changes nothing and answers nothing; it only makes the
// lookups that follow find their memory in the processor's caches.
//
// Why: at a million users every lookup by id is three dependent cache
// (and TLB) misses — the slot gives the record, the record the id's place
// in the arena — and a lookup's misses cannot overlap with the next
// lookup's while each runs on its own. Here each wave is one load per id,
// none depending on another id's, so the processor has many misses in
// flight at once instead of one: the waits overlap. Ids that are not a
// lowercase object id (userPrincipalNames, ids in the delta layers) are
// skipped: the lookup finds them as before.
//
// The result means nothing; it is returned so that the loads are not
// optimised away.
//
//go:noinline
func (d *Directory) Prefetch(ids []string) uint32 {
	s := d.cur.Load()
	t := s.users.base
	if t == nil || len(t.recs) == 0 {
		return 0
	}
	x := &t.byID
	const batch = 64 // enough loads in flight for the processor's buffers
	var slot [batch]uint64
	var sink uint32
	for len(ids) > 0 {
		n := min(len(ids), batch)
		part := ids[:n]
		ids = ids[n:]
		// Wave 1: the first index slot of each id.
		for j, id := range part {
			if len(id) != guidLen {
				slot[j] = 0
				continue
			}
			p, tag := x.start(id)
			v := x.slots[p]
			if v == 0 || v&^(1<<x.numBits-1) != tag {
				v = 0 // empty, or another user's: the lookup probes on by itself
			}
			slot[j] = uint64(v)
		}
		// Wave 2: the records the slots name.
		for j := range part {
			if v := uint32(slot[j]); v != 0 {
				i, _ := x.user(v, v&^(1<<x.numBits-1))
				if i >= 0 && i < len(t.recs) {
					slot[j] = uint64(t.recs[i].off) + 1
					continue
				}
			}
			slot[j] = 0
		}
		// Wave 3: the ids in the arena (both ends of the 36 bytes, which
		// may straddle two cache lines).
		for j := range part {
			if off := int(slot[j]); off != 0 && off-1+guidLen <= len(t.arena) {
				sink += uint32(t.arena[off-1]) + uint32(t.arena[off-1+guidLen-1])
			}
		}
	}
	return sink
}
