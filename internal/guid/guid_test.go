package guid

import (
	"regexp"
	"testing"
)

func TestNewIsVersion4Canonical(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		g := New()
		if !re.MatchString(g) || seen[g] {
			t.Fatalf("bad or repeated GUID %q", g)
		}
		seen[g] = true
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		s  string
		ok bool
	}{
		{"3c16299b-70fb-4ef1-ac29-a2c2738ae1e3", true},
		{"00000000-0000-0000-0000-000000000000", true},
		{"ffffffff-ffff-ffff-ffff-ffffffffffff", true},
		{"3C16299B-70FB-4EF1-AC29-A2C2738AE1E3", false}, // upper case is not canonical
		{"3c16299b70fb4ef1ac29a2c2738ae1e3", false},
		{"{3c16299b-70fb-4ef1-ac29-a2c2738ae1e3}", false},
		{"3c16299b-70fb-4ef1-ac29-a2c2738ae1e", false},
		{"3c16299b-70fb-4ef1-ac29-a2c2738ae1e3 ", false},
		{"3c16299b-70fb-4ef1-ac29+a2c2738ae1e3", false},
		{"3c16299b-70fb-4ef1-ac2g-a2c2738ae1e3", false},
		{"3c16299b-70f-b4ef1-ac29-a2c2738ae1e3", false},
		{"", false},
	} {
		b, ok := Parse(tc.s)
		if ok != tc.ok {
			t.Errorf("Parse(%q) ok = %v, want %v", tc.s, ok, tc.ok)
			continue
		}
		if ok && Format(b) != tc.s {
			t.Errorf("Format(Parse(%q)) = %q", tc.s, Format(b))
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("3c16299b-70fb-4ef1-ac29-a2c2738ae1e3")
	f.Add("3C16299B-70FB-4EF1-AC29-A2C2738AE1E3")
	f.Add("3c16299b70fb4ef1ac29a2c2738ae1e3xxxx")
	f.Fuzz(func(t *testing.T, s string) {
		b, ok := Parse(s)
		canonical := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(s)
		if ok != canonical {
			t.Fatalf("Parse(%q) ok = %v, but canonical = %v", s, ok, canonical)
		}
		if ok && Format(b) != s {
			t.Fatalf("Format(Parse(%q)) = %q", s, Format(b))
		}
	})
}
