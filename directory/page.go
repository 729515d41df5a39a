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

// guidPage is IsGUID(id) and, when it is, Page(id), in one pass: a saved
// directory checks and pages every user's id as it loads (10 M at ten
// million users), and the hash's chain of multiplications leaves room
// for the check beside it. A GUID is lowercase, so no folding.
func guidPage(id string) (int, bool) {
	if len(id) != guidLen {
		return 0, false
	}
	h := uint32(2166136261)
	bad := byte(0)
	for i := 0; i < guidLen; i++ {
		c := id[i]
		bad |= guidClass[c] ^ guidWant[i]
		h ^= uint32(c)
		h *= 16777619
	}
	return int(h % Pages), bad == 0
}

// guidClass is 1 for a lowercase hex digit, 2 for a hyphen; guidWant is
// what each of a GUID's 36 places holds.
var guidClass, guidWant = func() (c [256]byte, w [guidLen]byte) {
	for _, d := range "0123456789abcdef" {
		c[d] = 1
	}
	c['-'] = 2
	for i := range w {
		w[i] = 1
		if i == 8 || i == 13 || i == 18 || i == 23 {
			w[i] = 2
		}
	}
	return
}()
