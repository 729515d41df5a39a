package core

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
)

// A shard behaves like a map from UserRef to entry under any sequence of
// sets and deletes: entries of every size (empty, every class, longer than
// the largest), users whose ids are GUIDs or not, the same user id in two
// tenants; freed slots are reused.
func TestShardIsAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var users []UserRef
	for i := range 300 {
		tenant := "a5036a1a-166f-4ed5-bf5a-e0ccc1602604"
		switch {
		case i >= 200:
			// More tenants than a shard scans: it moves them to a map.
			tenant = fmt.Sprintf("%08d-0000-4000-8000-000000000000", i%12)
		case i%3 == 0:
			tenant = "b8a2c0d4-6f1e-4a3b-9c5d-7e8f90a1b2c3"
		}
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i/2) // users i and i+1 share an id, often in two tenants
		switch i % 10 {
		case 7:
			id = strings.ToUpper(id) // not canonical: numbered, not parsed
		case 8:
			id = fmt.Sprintf("user-%d", i)
		}
		users = append(users, UserRef{TenantID: tenant, UserID: id})
	}
	sizes := []int{0, 1, 14, 15, 16, 70, 79, 80, 300, 4000, 4096, 5000, 70_000}
	var s shard
	want := map[UserRef]entry{}
	check := func(step int) {
		t.Helper()
		for _, u := range users {
			k, sl, ok := s.find(u)
			w, wok := want[u]
			if ok != wok {
				t.Fatalf("step %d: %+v cached %v, want %v", step, u, ok, wok)
			}
			if ok {
				if got := entry(s.appendEntry(k, sl, nil)); got != w {
					t.Fatalf("step %d: %+v holds %d bytes %.20q, want %d bytes %.20q", step, u, len(got), got, len(w), w)
				}
			}
		}
	}
	for step := range 20_000 {
		u := users[r.IntN(len(users))]
		if r.IntN(4) == 0 {
			s.del(u)
			delete(want, u)
		} else {
			n := sizes[r.IntN(len(sizes))]
			e := entry(strings.Repeat(string(rune('a'+step%26)), n))
			s.set(u, e)
			want[u] = e
		}
		if step%997 == 0 {
			check(step)
			checkSlots(t, &s)
		}
	}
	check(-1)
	if len(s.names.tenants) != 14 || len(s.names.tenantNo) != 14 {
		t.Errorf("%d tenants numbered, %d in the map; want 14", len(s.names.tenants), len(s.names.tenantNo))
	}
	checkSlots(t, &s)
	if len(s.big) > len(users) {
		t.Errorf("%d big entries", len(s.big))
	}
}

// The classes are in increasing order, and an entry goes to the smallest
// that holds it with its length.
func TestClassFor(t *testing.T) {
	for c := 1; c < len(classSizes); c++ {
		if classSizes[c] <= classSizes[c-1] {
			t.Fatalf("classSizes not increasing at %d", c)
		}
	}
	for n := 1; n <= int(classSizes[len(classSizes)-1])+1; n++ {
		c, ok := classFor(n)
		if last := classSizes[len(classSizes)-1]; uint32(n) > last {
			if ok {
				t.Fatalf("classFor(%d) = %d, want none", n, c)
			}
			continue
		}
		if !ok || classSizes[c] < uint32(n) || c > 0 && classSizes[c-1] >= uint32(n) {
			t.Fatalf("classFor(%d) = %d, %v", n, c, ok)
		}
	}
}

// A chunk grows with its slots (a shard with few users holds little) up
// to chunkBytes, and slots handed out before a chunk grew read the same.
func TestArenaChunkGrowth(t *testing.T) {
	var a arena
	c, _ := classFor(80)
	per := int(chunkBytes / classSizes[c])
	var slots []slot
	for i := range 2*per + 3 {
		sl, ok := a.put(entry(fmt.Sprintf("%078d", i)))
		if !ok {
			t.Fatal("put failed")
		}
		slots = append(slots, sl)
		if i == 0 && cap(a.classes[c].chunks[0]) > 4*int(classSizes[c]) {
			t.Fatalf("one entry holds a chunk of %d bytes", cap(a.classes[c].chunks[0]))
		}
	}
	for i, sl := range slots {
		if got := string(a.get(sl, nil)); got != fmt.Sprintf("%078d", i) {
			t.Fatalf("slot %d reads %q", i, got)
		}
	}
	if got := len(a.classes[c].chunks); got != 3 {
		t.Fatalf("%d chunks for %d slots of %d per chunk", got, len(slots), per)
	}
	for _, ch := range a.classes[c].chunks[:2] {
		if cap(ch) > chunkBytes {
			t.Fatalf("a chunk of %d bytes", cap(ch))
		}
	}
	// A class that filled a chunk gets the next whole at once: growing it
	// by doubling copies its slots each time (a start's load at 10
	// million users made ~50,000 chunks).
	if got, want := cap(a.classes[c].chunks[2]), per*int(classSizes[c]); got != want {
		t.Fatalf("the third chunk, 3 slots used, holds %d bytes, want %d at once", got, want)
	}
}

// Decoding copies what it keeps: facts decoded from a buffer stay the
// same when the buffer is overwritten (ReadEach decodes entries in place
// in a buffer it reuses).
func TestDecodeKeepsNoInput(t *testing.T) {
	var tab sessionIDTable
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	f := presence.Facts{
		Sessions: []presence.Session{
			{ID: "6dcddc99-5a7f-430c-a555-551d652a37b1:a", Pair: presence.Pair{Availability: presence.Busy, Activity: presence.InACall}, RefreshedAt: now, ExpiresAt: now.Add(time.Hour)},
			{ID: "x", Pair: presence.Pair{Availability: "Sleepy", Activity: "Napping"}, RefreshedAt: now, ExpiresAt: now.Add(time.Hour)},
		},
		Status:      &presence.StatusMessage{Content: "on leave", ContentType: "text", Expiry: &presence.DateTimeTimeZone{DateTime: "2026-12-01T10:00:00", TimeZone: "UTC"}, PublishedAt: now, ExpiresAt: now.Add(time.Hour)},
		Events:      []presence.Event{{Start: now, End: now.Add(time.Hour), ShowAs: "workingElsewhere2"}},
		AutoReplies: &presence.AutoReplies{Status: presence.RepliesScheduled, InternalReplyMessage: "back soon", ScheduledStart: now, ScheduledEnd: now.Add(time.Hour)},
		LastWrite:   now,
	}
	buf := []byte(string(tab.newEntry(7, f)))
	e := inPlace(buf)
	got, err := tab.cache().decode(e.data())
	if err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'X'
	}
	if !reflect.DeepEqual(got, f) {
		t.Fatalf("after overwriting the input, decoded facts are\n%+v\nwant\n%+v", got, f)
	}
}

// checkSlots checks that every slot of every class is either a cached
// user's or free (none lost, none shared), and that no class is sparse
// (compaction ran when it had to).
func checkSlots(t *testing.T, s *shard) {
	t.Helper()
	live := make(map[slot]bool)
	for _, sl := range s.users {
		if sl == emptySlot || sl == bigSlot {
			continue
		}
		if live[sl] {
			t.Fatalf("slot %#x held by two users", sl)
		}
		live[sl] = true
	}
	for c, cl := range s.arena.classes {
		free := make(map[uint32]bool)
		for _, num := range cl.free {
			if free[num] || live[slot(uint32(c)<<slotClassShift|num)] {
				t.Fatalf("class %d: slot %d free twice, or free and held", c, num)
			}
			free[num] = true
		}
		used := 0
		for sl := range live {
			if int(sl>>slotClassShift) == c {
				used++
			}
		}
		if used+len(free) != int(cl.n) {
			t.Fatalf("class %d: %d slots handed out, %d held and %d free", c, cl.n, used, len(free))
		}
		if s.arena.sparse(c) {
			t.Fatalf("class %d is sparse: %d free of %d", c, len(cl.free), cl.n)
		}
	}
}

// Users whose entries all move to another class (every user gains a
// session) leave at most a few free slots behind in the old class, not
// one per user.
func TestArenaGivesBackAClassUsersLeft(t *testing.T) {
	var s shard
	const n = 4000
	us := make([]UserRef, n)
	for i := range us {
		us[i] = UserRef{TenantID: "a5036a1a-166f-4ed5-bf5a-e0ccc1602604", UserID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)}
		s.set(us[i], entry(strings.Repeat("a", 40)))
	}
	small, _ := classFor(41)
	if got := s.arena.classes[small].n; got != n {
		t.Fatalf("%d slots in the 40-byte class, want %d", got, n)
	}
	for _, u := range us {
		s.set(u, entry(strings.Repeat("b", 70)))
	}
	checkSlots(t, &s)
	cl := s.arena.classes[small]
	if cl.n > 4*minSparse || len(cl.chunks) > 2 {
		t.Fatalf("the class users left keeps %d slots (%d free) in %d chunks", cl.n, len(cl.free), len(cl.chunks))
	}
	for _, u := range us {
		k, sl, ok := s.find(u)
		if !ok || string(s.appendEntry(k, sl, nil)) != strings.Repeat("b", 70) {
			t.Fatalf("%s lost its entry", u.UserID)
		}
	}
}

// set keeps a copy of the entry it is given, never the caller's bytes
// (write builds the entry in a buffer it reuses): an entry of the arena
// and one too long for it both read as they were set after the caller's
// bytes changed.
func TestSetKeepsACopy(t *testing.T) {
	var s shard
	for i, n := range []int{70, 70_000} {
		u := UserRef{TenantID: "a5036a1a-166f-4ed5-bf5a-e0ccc1602604", UserID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)}
		b := []byte(strings.Repeat("e", n))
		s.set(u, inPlace(b))
		for j := range b {
			b[j] = 'x'
		}
		k, sl, ok := s.find(u)
		if !ok {
			t.Fatalf("%d bytes: not cached", n)
		}
		if got := string(s.appendEntry(k, sl, nil)); got != strings.Repeat("e", n) {
			t.Fatalf("%d bytes: the cached entry changed with the caller's bytes (%.20q…)", n, got)
		}
	}
}
