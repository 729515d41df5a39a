package directory

import "testing"

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
