// Package throttle limits what one client can try at the token endpoint:
// Entra-style smart lockout of a user per source address (Lockout), and a
// token-bucket rate of requests per source address (Rate). Both read the
// server's clock, so tests move a fake one instead of sleeping, and both
// hold bounded memory: each keeps at most a fixed number of entries and
// forgets the least recently used first (table).
//
// A source is the TCP peer's address (SourceOf). Headers such as
// X-Forwarded-For are not trusted: anyone can send them.
package throttle

import (
	"net"
	"net/netip"
)

// Source is what requests are counted under: an IPv4 address, or the /64
// network of an IPv6 address.
type Source = netip.Prefix

// SourceOf returns the source of a request from its RemoteAddr
// ("host:port"). An IPv6 address counts by its /64 network: one host
// usually holds a whole /64, and counting single addresses would give it
// 2^64 budgets. An address that cannot be parsed (not TCP) is the zero
// Source, shared by all such requests.
func SourceOf(remoteAddr string) Source {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return Source{}
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}

// table is a map bounded to max entries that forgets the least recently
// used ones first, approximately: entries live in two generations, and when
// the current one holds max/2 entries the older one is dropped whole. A get
// moves an entry from the old generation to the current one. Every
// operation is O(1), so an attacker who fills the table does not make each
// request slower. Not safe for concurrent use.
type table[K comparable, V any] struct {
	max      int
	cur, old map[K]*V
}

func newTable[K comparable, V any](max int) *table[K, V] {
	if max < 2 {
		max = 2
	}
	return &table[K, V]{max: max, cur: map[K]*V{}, old: map[K]*V{}}
}

// get returns the entry of k, or nil.
func (t *table[K, V]) get(k K) *V {
	if v, ok := t.cur[k]; ok {
		return v
	}
	v, ok := t.old[k]
	if !ok {
		return nil
	}
	delete(t.old, k)
	t.add(k, v)
	return v
}

// add stores v as the entry of k (k must not be in the table).
func (t *table[K, V]) add(k K, v *V) {
	if len(t.cur) >= t.max/2 {
		t.old, t.cur = t.cur, make(map[K]*V, t.max/2)
	}
	t.cur[k] = v
}

func (t *table[K, V]) del(k K) {
	delete(t.cur, k)
	delete(t.old, k)
}

func (t *table[K, V]) len() int { return len(t.cur) + len(t.old) }
