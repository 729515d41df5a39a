package directory

import (
	"strings"
	"testing"
)

func TestIsUserID(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"3c16299b-70fb-4ef1-ac29-a2c2738ae1e3", true},
		{"3C16299B-70FB-4EF1-AC29-A2C2738AE1E3", true},
		{"adele@contoso.dev", true},
		{"o'brien+test@contoso.dev", true},
		{"not-a-user", false},
		{"x y@contoso.dev", false},
		{"adele@localhost", false},
		{"a/b@contoso.dev", false},
		{"", false},
	} {
		if got := IsUserID(c.in); got != c.want {
			t.Errorf("IsUserID(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

// FuzzGUIDAnyCase holds IsUserID's case-folding GUID check to what it
// replaced, IsGUID(strings.ToLower(s)), on any input (the seeds run in
// every test run).
func FuzzGUIDAnyCase(f *testing.F) {
	for _, s := range []string{
		"3c16299b-70fb-4ef1-ac29-a2c2738ae1e3", "3C16299B-70FB-4EF1-AC29-A2C2738AE1E3", "3c16299B-70Fb-4eF1-Ac29-a2C2738aE1e3",
		"3c16299g-70fb-4ef1-ac29-a2c2738ae1e3", "3c16299b_70fb-4ef1-ac29-a2c2738ae1e3", "3c16299b-70fb-4ef1-ac29-a2c2738ae1e",
		"3c16299b-70fb-4ef1-ac29-a2c2738ae1\u212a", "3c16299b-70fb-4ef1-ac29-a2c2738ae\u0130", "", "adele@contoso.dev",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := IsGUID(s) || isGUIDAnyCase(s), IsGUID(strings.ToLower(s)); got != want {
			t.Fatalf("%q: %v, want %v", s, got, want)
		}
	})
}
