package directory

// Pages is how many pages a tenant's users are spread over, in memory
// (their order) and in the engine (one record each). It is frozen: stored
// directories are laid out by it.
const Pages = 4096

// Page is the page of the user with this id: FNV-1a (32 bits) of the id's
// lowercase text, modulo Pages. Any fixed hash would do; this one is the
// same in every process and every version, cheap, and spreads sequential
// ids (such as generated demo users') as evenly as random ones.
func Page(id string) int {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		c := id[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h ^= uint32(c)
		h *= 16777619
	}
	return int(h % Pages)
}

// userKey orders users within a tenant: by page, then id.
type userKey struct {
	page int
	id   string
}

func keyOf(id string) userKey { return userKey{Page(id), id} }

func (a userKey) less(b userKey) bool {
	if a.page != b.page {
		return a.page < b.page
	}
	return a.id < b.id
}

func (a userKey) cmp(b userKey) int {
	switch {
	case a.less(b):
		return -1
	case b.less(a):
		return 1
	}
	return 0
}
