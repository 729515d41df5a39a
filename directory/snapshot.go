package directory

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// A directory's snapshot is its in-memory form written out, so that a
// restart rebuilds the directory from one read of a compact file instead
// of parsing JSON or decoding every page of the engine (issue #16 point
// 1). The users are the base's own layout — one arena of strings and a
// fixed-size record per user — so loading a million users allocates the
// arena, the records and the two indexes, nothing per user. Where the
// file is kept and when it can be trusted is dirstore's business; this is
// the form alone, with no I/O and no checksum (the file's).
//
// Layout, version 1. A length is a uvarint.
//
//	version   one byte: 1
//	tenants   length, JSON of the live tenants in number order
//	apps      length, JSON of the applications
//	users     count, arena length, the arena (each user's id,
//	          userPrincipalName, displayName and mail, back to back, in
//	          record order), then per user 12 bytes little endian:
//	          tenant number (4), lengths of userPrincipalName, displayName
//	          and mail (2 each), flags (2: userFlag bits, page in the top 12)
//
// Users are in (tenant, page, id) order; the decoder checks that, and
// every length, flag, id and string, and refuses duplicate ids or
// userPrincipalNames: whatever the bytes, it returns a valid directory or
// an error.
const snapshotVersion = 1

const snapRecLen = 12

// AppendSnapshot appends d's content as it is now to b.
func AppendSnapshot(b []byte, d *Directory) ([]byte, error) {
	s := d.cur.Load()
	// Live tenants, renumbered in order; their users re-laid out only
	// when the base is not already all of them (changes since the last
	// fold, or a removed tenant).
	var tenants []Tenant
	renum := make([]uint32, len(s.tenants))
	for n, t := range s.tenants {
		if t != nil {
			renum[n] = uint32(len(tenants))
			tenants = append(tenants, t.t)
		}
	}
	table := s.users.base
	if s.users.delta.len() != 0 || s.users.frozen.len() != 0 || len(tenants) != len(s.tenants) {
		table = layOut(s)
	}
	apps := make([]App, 0, len(s.apps))
	for _, a := range s.apps {
		apps = append(apps, *a)
	}
	tj, err := json.Marshal(tenants)
	if err != nil {
		return nil, err
	}
	aj, err := json.Marshal(apps)
	if err != nil {
		return nil, err
	}
	b = append(b, snapshotVersion)
	b = binary.AppendUvarint(b, uint64(len(tj)))
	b = append(b, tj...)
	b = binary.AppendUvarint(b, uint64(len(aj)))
	b = append(b, aj...)
	b = binary.AppendUvarint(b, uint64(len(table.recs)))
	b = binary.AppendUvarint(b, uint64(len(table.arena)))
	b = append(b, table.arena...)
	b = slicesGrow(b, snapRecLen*len(table.recs))
	for _, r := range table.recs {
		b = binary.LittleEndian.AppendUint32(b, renum[r.tenant])
		b = binary.LittleEndian.AppendUint16(b, r.upn)
		b = binary.LittleEndian.AppendUint16(b, r.name)
		b = binary.LittleEndian.AppendUint16(b, r.mail)
		b = binary.LittleEndian.AppendUint16(b, r.flags)
	}
	return b, nil
}

func slicesGrow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		return nb
	}
	return b
}

// layOut lays out every user of s's live tenants — base, frozen and
// delta merged, as a reader sees them — in one table (not indexed).
func layOut(s *state) *userTable {
	n, arena := 0, 0
	for t := range s.tenants {
		s.scan(uint32(t), "", func(u User) bool {
			n++
			arena += arenaBytes(&u)
			return true
		})
	}
	tb := newTableBuilder(0, arena)
	tb.t.recs = make([]userRec, 0, n)
	for t := range s.tenants {
		s.scan(uint32(t), "", func(u User) bool {
			tb.add(&u, uint32(t))
			return true
		})
	}
	return tb.finish()
}

var errSnapshot = errors.New("directory snapshot")

func snapErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errSnapshot, fmt.Sprintf(format, args...))
}

// DecodeSnapshot builds the directory a snapshot holds; b is not kept.
func DecodeSnapshot(b []byte) (*Directory, error) {
	if len(b) == 0 || b[0] != snapshotVersion {
		return nil, snapErr("unknown version")
	}
	b = b[1:]
	chunk := func(what string) ([]byte, error) {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, snapErr("%s cut short", what)
		}
		c := b[k : k+int(l)]
		b = b[k+int(l):]
		return c, nil
	}
	tj, err := chunk("tenants")
	if err != nil {
		return nil, err
	}
	aj, err := chunk("applications")
	if err != nil {
		return nil, err
	}
	var tenants []Tenant
	var apps []App
	if err := json.Unmarshal(tj, &tenants); err != nil {
		return nil, snapErr("tenants: %v", err)
	}
	if err := json.Unmarshal(aj, &apps); err != nil {
		return nil, snapErr("applications: %v", err)
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, snapErr("user count")
	}
	b = b[k:]
	arenaB, err := chunk("arena")
	if err != nil {
		return nil, err
	}
	if uint64(len(b)) != n*snapRecLen {
		return nil, snapErr("%d bytes of records for %d users", len(b), n)
	}
	s := &state{byID: make(map[string]uint32, len(tenants)), byDomain: map[string]uint32{},
		apps: make(map[string]*App, len(apps)), scim: map[string]uint32{}, issuers: map[string]uint32{}}
	// Tenants and applications are few: checked as an import checks them,
	// and made what an import makes of them.
	for i, t := range tenants {
		at := entryRef{"tenants", i, t.Name}
		if err := checkTenantFields(at, t); err != nil {
			return nil, snapErr("%v", err)
		}
		if _, dup := s.byID[t.ID]; dup {
			return nil, snapErr("tenant %q twice", t.ID)
		}
		if err := s.checkTenantAgainstOthers(at, t, uint32(i), func(j uint32) string { return fmt.Sprintf("tenants[%d]", j) }); err != nil {
			return nil, snapErr("%v", err)
		}
		s.addTenant(t, 0)
	}
	table := &userTable{arena: string(arenaB), recs: make([]userRec, n)}
	off := 0
	var prev userKey
	prevTenant := uint32(0)
	for i := range table.recs {
		p := b[i*snapRecLen:]
		r := userRec{off: uint32(off), tenant: binary.LittleEndian.Uint32(p), upn: binary.LittleEndian.Uint16(p[4:]),
			name: binary.LittleEndian.Uint16(p[6:]), mail: binary.LittleEndian.Uint16(p[8:]), flags: binary.LittleEndian.Uint16(p[10:])}
		end := off + guidLen + int(r.upn) + int(r.name) + int(r.mail)
		if end > len(table.arena) || uint64(end) > 1<<32-1 {
			return nil, snapErr("user %d past the arena", i)
		}
		if int(r.tenant) >= len(tenants) {
			return nil, snapErr("user %d of tenant %d", i, r.tenant)
		}
		if r.flags&(1<<flagPageShift-1)&^(flagDisabled|flagPassword|flagUserAdmin) != 0 {
			return nil, snapErr("user %d flags %#x", i, r.flags)
		}
		id := table.arena[off : off+guidLen]
		page, ok := guidPage(id)
		if !ok {
			return nil, snapErr("user %d id %q", i, id)
		}
		key := userKey{page: int(r.flags >> flagPageShift), id: id}
		if key.page != page {
			return nil, snapErr("user %d on page %d, not %d", i, key.page, page)
		}
		if i > 0 && (r.tenant < prevTenant || r.tenant == prevTenant && !prev.less(key)) {
			return nil, snapErr("user %d out of order", i)
		}
		// Each string on its own: a rune may not span two of them.
		upnEnd := off + guidLen + int(r.upn)
		nameEnd := upnEnd + int(r.name)
		if r.upn == 0 || !utf8.ValidString(table.arena[off+guidLen:upnEnd]) ||
			!utf8.ValidString(table.arena[upnEnd:nameEnd]) || !utf8.ValidString(table.arena[nameEnd:end]) {
			return nil, snapErr("user %d strings", i)
		}
		table.recs[i] = r
		prev, prevTenant, off = key, r.tenant, end
	}
	if off != len(table.arena) {
		return nil, snapErr("%d bytes of the arena after the last user", len(table.arena)-off)
	}
	if err := indexSnapshot(table, int(n)); err != nil {
		return nil, err
	}
	s.users = &layers{base: table, spans: spansOf(table, len(s.tenants)), delta: &delta{}}
	for t, sp := range s.users.spans {
		s.tenants[t].users = sp.end - sp.start
	}
	s.count = int(n)
	for i, a := range apps {
		at := entryRef{"applications", i, a.Name}
		a, err := checkAppFields(at, a)
		if err != nil {
			return nil, snapErr("%v", err)
		}
		if _, err := s.tenantRef(at, a.TenantID); err != nil {
			return nil, snapErr("%v", err)
		}
		if _, dup := s.apps[a.ClientID]; dup {
			return nil, snapErr("application %q twice", a.ClientID)
		}
		if err := s.checkClientIDFree(at, a.ClientID); err != nil {
			return nil, snapErr("%v", err)
		}
		s.apps[a.ClientID] = ptr(cloneApp(a))
	}
	d := &Directory{}
	d.cur.Store(s)
	return d, nil
}

// indexSnapshot fills a decoded table's two indexes, one on each of two
// goroutines (they share nothing but the records, read-only), in the
// order of their slots (index.fill), refusing a duplicate id or
// userPrincipalName.
func indexSnapshot(t *userTable, n int) error {
	t.byID, t.byUPN = newIndex(n), newIndex(n)
	var wg sync.WaitGroup
	var dupID int
	wg.Go(func() {
		dupID = t.byID.fill(n, t.idOf, func(i, j int) bool { return t.idOf(i) == t.idOf(j) })
	})
	lowerUPN := func(i int) string { return strings.ToLower(t.upnOf(i)) }
	dupUPN := t.byUPN.fill(n, lowerUPN, func(i, j int) bool { return lowerEquals(t.upnOf(j), lowerUPN(i)) })
	wg.Wait()
	switch {
	case dupID >= 0:
		return snapErr("user %d: id %s twice", dupID, t.idOf(dupID))
	case dupUPN >= 0:
		return snapErr("user %d: userPrincipalName %q twice", dupUPN, t.upnOf(dupUPN))
	}
	return nil
}
