package guid

import (
	"regexp"
	"testing"
)

func TestNewIsVersion4Canonical(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for _, tc := range []struct {
		name string
		gen  func() string
	}{{"New", New}, {"Unique", Unique}} {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[string]bool{}
			for range 10000 {
				g := tc.gen()
				if !re.MatchString(g) || seen[g] {
					t.Fatalf("bad or repeated GUID %q", g)
				}
				if _, ok := Parse(g); !ok {
					t.Fatalf("%q does not parse", g)
				}
				seen[g] = true
			}
		})
	}
}

// Unique's ids from many goroutines at once (threads of their own
// generator) never repeat.
func TestUniqueConcurrent(t *testing.T) {
	const workers, each = 8, 5000
	out := make(chan []string, workers)
	for range workers {
		go func() {
			ids := make([]string, each)
			for i := range ids {
				ids[i] = Unique()
			}
			out <- ids
		}()
	}
	seen := map[string]bool{}
	for range workers {
		for _, id := range <-out {
			if seen[id] {
				t.Fatalf("repeated id %q", id)
			}
			seen[id] = true
		}
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = New()
	}
}

func BenchmarkUnique(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Unique()
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
