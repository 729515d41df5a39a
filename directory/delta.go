package directory

import (
	"maps"
	"slices"
	"sort"
	"strings"
)

// layers are a state's users: an immutable compact base, and changes over
// it — frozen (being folded into a new base) and delta (since). A change
// copies the delta; the base is shared by every state until a fold
// replaces it.
type layers struct {
	base   *userTable
	spans  []span // per tenant number: its users' records in base
	frozen *delta // nil unless a fold runs
	delta  *delta
}

// span is a run of records in a base.
type span struct{ start, end int }

func (l *layers) spanOf(n uint32) span {
	if int(n) < len(l.spans) {
		return l.spans[n]
	}
	return span{}
}

// delta is users changed over a base: their newest version, or removed.
type delta struct {
	byID  map[string]*dentry   // id → newest version (never changed once here: a delta's clone shares them)
	byUPN map[string]string    // lowercase UPN → id, for the live users here
	order map[uint32][]userKey // per tenant number: the keys here, sorted
}

type dentry struct {
	u       User // TenantID left empty: the tenant is by number
	tenant  uint32
	removed bool
}

// clone copies the delta's maps; order's lists are shared (a change of a
// tenant's list replaces that list).
func (d *delta) clone() *delta {
	return &delta{byID: maps.Clone(d.byID), byUPN: maps.Clone(d.byUPN), order: maps.Clone(d.order)}
}

func (d *delta) len() int {
	if d == nil {
		return 0
	}
	return len(d.byID)
}

// set records u's newest version (or its removal).
func (d *delta) set(e dentry) {
	if d.byID == nil {
		d.byID, d.byUPN, d.order = map[string]*dentry{}, map[string]string{}, map[uint32][]userKey{}
	}
	if old, ok := d.byID[e.u.ID]; ok && !old.removed {
		if k := lowerUPN(old.u.UserPrincipalName); d.byUPN[k] == e.u.ID {
			delete(d.byUPN, k)
		}
	} else if !ok {
		k := keyOf(e.u.ID)
		list := d.order[e.tenant]
		i := sort.Search(len(list), func(i int) bool { return !list[i].less(k) })
		d.order[e.tenant] = slices.Insert(slices.Clone(list), i, k)
	}
	d.byID[e.u.ID] = &e
	if !e.removed {
		d.byUPN[lowerUPN(e.u.UserPrincipalName)] = e.u.ID
	}
}

func lowerUPN(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' || c >= 0x80 {
			return strings.ToLower(s)
		}
	}
	return s
}

// cursor walks one layer's keys of a tenant in order.
type cursor struct {
	keys func(i int) userKey
	n, i int
}

func (c *cursor) done() bool   { return c.i >= c.n }
func (c *cursor) key() userKey { return c.keys(c.i) }
func (c *cursor) seek(k userKey) {
	c.i = c.i + sort.Search(c.n-c.i, func(j int) bool { return k.less(c.keys(c.i + j)) })
}
func (c *cursor) seekAt(k userKey) {
	c.i = c.i + sort.Search(c.n-c.i, func(j int) bool { return !c.keys(c.i + j).less(k) })
}

// scan calls yield with tenant n's users in key order, from the first
// whose key is after the user with id after ("": from the start).
func (s *state) scan(n uint32, after string, yield func(User) bool) {
	var from userKey
	start := after == ""
	if !start {
		from = keyOf(after)
	}
	s.walk(n, from, start, userKey{page: Pages}, yield)
}

// pageUsers returns tenant n's users on page p.
func (s *state) pageUsers(n uint32, p int) []User {
	var out []User
	s.walk(n, userKey{page: p}, true, userKey{page: p + 1}, func(u User) bool { out = append(out, u); return true })
	return out
}

// walk merges the layers' keys of tenant n from from (inclusive when
// incl, else after it) up to end (exclusive); for a key in several
// layers the newest version wins, and a removed user is passed over.
func (s *state) walk(n uint32, from userKey, incl bool, end userKey, yield func(User) bool) {
	if !s.alive(n) {
		return
	}
	tid := s.tenants[n].t.ID
	l := s.users
	sp := l.spanOf(n)
	base := &cursor{n: sp.end - sp.start, keys: func(i int) userKey {
		r := sp.start + i
		return userKey{l.base.page(r), l.base.idOf(r)}
	}}
	var layers [2]*cursor // delta, frozen
	for k, d := range [2]*delta{l.delta, l.frozen} {
		var list []userKey
		if d != nil {
			list = d.order[n]
		}
		layers[k] = &cursor{n: len(list), keys: func(i int) userKey { return list[i] }}
	}
	all := [3]*cursor{layers[0], layers[1], base}
	for _, c := range all {
		if incl {
			c.seekAt(from)
		} else {
			c.seek(from)
		}
	}
	for {
		// The smallest key among the cursors.
		var min userKey
		found := false
		for _, c := range all {
			if !c.done() && (!found || c.key().less(min)) {
				min, found = c.key(), true
			}
		}
		if !found || !min.less(end) {
			return
		}
		// The newest layer holding the key decides, even a removal.
		var u User
		live, decided := false, false
		deltas := [2]*delta{l.delta, l.frozen}
		for k, c := range all {
			if c.done() || c.key() != min {
				continue
			}
			if !decided {
				decided = true
				if k < 2 {
					e := deltas[k].byID[min.id]
					u, live = e.u, !e.removed
				} else {
					u, live = l.base.user(sp.start+c.i), true
				}
			}
			c.i++
		}
		if live {
			u.TenantID = tid
			if !yield(u) {
				return
			}
		}
	}
}
