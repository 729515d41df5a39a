package core

import (
	"testing"

	"github.com/presenced/presenced/store"
)

// A change another node made is reported to OnWrite with what it replaced
// when NeedsBefore says its user needs it (or nothing said), and without
// it (HasBefore false) otherwise: the copy and decoding of the entry it
// replaced are left out for the users no one on the node logs.
func TestFollowedChangeCarriesBeforeWhenNeeded(t *testing.T) {
	c, u, f := followFixture(t)
	value := encodeStored(f)
	var got []Snapshot
	c.OnWrite(func(s Snapshot) { got = append(got, s) })
	key := u.Key()
	needed := true
	rev := uint64(1)
	follow := func() Snapshot {
		t.Helper()
		rev++
		got = got[:0]
		c.follow(store.Change{Key: key, Value: value, Revision: rev})
		if len(got) != 1 {
			t.Fatalf("revision %d: %d reports, want 1", rev, len(got))
		}
		return got[0]
	}
	if s := follow(); !s.HasBefore || s.Before != s.Seq {
		t.Fatalf("without NeedsBefore: HasBefore %v, Before %v; want the sequence it replaced, %v", s.HasBefore, s.Before, s.Seq)
	}
	c.NeedsBefore(func(v UserRef) bool {
		if v != u {
			t.Errorf("asked for %v", v)
		}
		return needed
	})
	if s := follow(); !s.HasBefore || s.Before != s.Seq {
		t.Fatalf("needed: HasBefore %v, Before %v; want %v", s.HasBefore, s.Before, s.Seq)
	}
	needed = false
	if s := follow(); s.HasBefore || s.Facts.Seq != f.Seq {
		t.Fatalf("not needed: HasBefore %v (want false), facts %v", s.HasBefore, s.Facts.Seq)
	}
	if r, _ := c.cachedRev(u); r != rev {
		t.Fatalf("cached revision %d, want %d", r, rev)
	}
}
