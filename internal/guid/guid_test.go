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
