package core

// shardHash picks a user's shard from the user id: the same in every
// process (no per-process seed), so that a saved cache, written shard by
// shard (SaveSnapshot), is loaded shard by shard by the next process: a
// load worker fills one shard's map after another while it is in the
// processor's cache, where with a seed of its own each process took the
// file's records in an order that visited a random shard's map each time
// (at 10 million users the map's lookups were 3.4 s of a start's CPU, a
// cache miss each). The ids are the directory's (GUIDs, random), and a
// shard is a lock and a map, not a defence: ids chosen to share a shard
// make that shard's map larger and its lock busier, nothing else.
//
// A multiply and a shift per 8-byte word of the id, splitmix64's
// finisher at the end: 15-20 ns for a 36-byte id on this box, as
// maphash.String (14-16 ns side by side; a full mix per word was 13-40).
func shardHash(s string) uint64 {
	h := uint64(len(s)) * 0x9e3779b97f4a7c15
	for ; len(s) >= 8; s = s[8:] {
		w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		h = (h ^ w) * 0xbf58476d1ce4e5b9
		h ^= h >> 29
	}
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 0x100000001b3
	}
	return mix64(h)
}

func mix64(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	return h ^ h>>31
}
