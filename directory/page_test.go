package directory

import (
	"strings"
	"testing"
)

// guidPage is IsGUID and Page in one pass: the same answers for GUIDs and
// for every one-byte change of one, in every place, and other lengths.
func TestGuidPage(t *testing.T) {
	ids := []string{"00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"}
	for i := 1; i <= 50; i++ {
		ids = append(ids, DemoUserID(i))
	}
	check := func(s string) {
		t.Helper()
		page, ok := guidPage(s)
		if ok != IsGUID(s) {
			t.Fatalf("%q: guidPage says %v, IsGUID %v", s, ok, IsGUID(s))
		}
		if ok && page != Page(s) {
			t.Fatalf("%q: page %d, Page says %d", s, page, Page(s))
		}
	}
	pages := map[int]bool{}
	for _, id := range ids {
		check(id)
		p, _ := guidPage(id)
		pages[p] = true
		for i := 0; i < len(id); i++ {
			for c := 0; c < 256; c++ {
				check(id[:i] + string(rune(c))[:1] + id[i+1:])
				b := []byte(id)
				b[i] = byte(c)
				check(string(b))
			}
		}
		check(id[:35])
		check(id + "0")
		check(strings.ToUpper(id))
	}
	if len(pages) < 40 {
		t.Fatalf("%d GUIDs on %d pages", len(ids), len(pages))
	}
}

// The per-user check of a saved directory's load: one pass against two.
func BenchmarkGuidPage(b *testing.B) {
	ids := make([]string, 4096)
	for i := range ids {
		ids[i] = DemoUserID(i + 1)
	}
	b.Run("IsGUID+Page", func(b *testing.B) {
		n := 0
		for i := 0; b.Loop(); i++ {
			id := ids[i%len(ids)]
			if IsGUID(id) {
				n += Page(id)
			}
		}
		sink = n
	})
	b.Run("guidPage", func(b *testing.B) {
		n := 0
		for i := 0; b.Loop(); i++ {
			if p, ok := guidPage(ids[i%len(ids)]); ok {
				n += p
			}
		}
		sink = n
	})
}

var sink int
