package core

// copyCached copies the cached entries of us into sc.buf under their
// shards' read locks (a slot may be reused once its lock is released):
// user i's entry is sc.buf[sc.start[i]:sc.end[i]], and sc.end[i] is -1
// when it is not cached. It returns the indices of the users not cached,
// in order.
//
// The users are read shard by shard, each shard's lock taken once for all
// of its users, and within a shard the map lookups all come before the
// copies. At a million users each lookup and each copy is a cache (and
// TLB) miss; a lock's atomic operations order the memory accesses around
// them, so that one user's misses could not overlap with the next user's
// while each had a lock of its own. 650 ids fall in ~236 of the 256
// shards: ~2.8 users a lock instead of one, and their misses in flight
// together.
func (c *Core) copyCached(us []UserRef, sc *scratch) (missing []int) {
	n := len(us)
	sc.grow(n)
	start, end, shardOf, order := sc.start[:n], sc.end[:n], sc.shard[:n], sc.order[:n]
	keys, slots, found := sc.key[:n], sc.slot[:n], sc.found[:n]
	// The users' indices by shard: a counting sort.
	var count [len(c.shard) + 1]int32
	for i, u := range us {
		s := uint8(shardHash(u.UserID) % uint64(len(c.shard)))
		shardOf[i] = s
		count[int(s)+1]++
	}
	for s := 1; s < len(count); s++ {
		count[s] += count[s-1]
	}
	for i := range us {
		s := shardOf[i]
		order[count[s]] = int32(i)
		count[s]++
	}
	buf := sc.buf[:0]
	for g := 0; g < n; {
		s := shardOf[order[g]]
		h := g + 1
		for h < n && shardOf[order[h]] == s {
			h++
		}
		group := order[g:h]
		sh := &c.shard[s]
		sh.mu.RLock()
		for _, i := range group {
			keys[i], slots[i], found[i] = sh.find(us[i])
		}
		for _, i := range group {
			if !found[i] {
				start[i], end[i] = 0, -1
				continue
			}
			start[i] = len(buf)
			buf = sh.appendEntry(keys[i], slots[i], buf)
			end[i] = len(buf)
		}
		sh.mu.RUnlock()
		g = h
	}
	sc.buf = buf
	for i := range us {
		if end[i] < 0 {
			missing = append(missing, i)
		}
	}
	return missing
}

// grow makes sc's per-user slices hold n users.
func (sc *scratch) grow(n int) {
	if cap(sc.start) >= n {
		return
	}
	sc.start, sc.end = make([]int, n), make([]int, n)
	sc.shard, sc.order = make([]uint8, n), make([]int32, n)
	sc.key, sc.slot, sc.found = make([]userKey, n), make([]slot, n), make([]bool, n)
}
