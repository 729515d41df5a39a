package graphapi

import (
	"slices"
	"strings"
	"testing"

	"github.com/presenced/presenced/directory"
)

// render writes a parsed filter back as a $filter.
func (f userFilter) render() string {
	var parts []string
	for _, c := range f {
		lit := "'" + strings.ReplaceAll(c.value, "'", "''") + "'"
		if c.prefix {
			parts = append(parts, "startswith("+c.prop+","+lit+")")
		} else {
			parts = append(parts, c.prop+" eq "+lit)
		}
	}
	return strings.Join(parts, " or ")
}

func TestUserFilter(t *testing.T) {
	adele := directory.User{ID: "3c16299b-70fb-4ef1-ac29-a2c2738ae1e3", DisplayName: "Adèle Vance", UserPrincipalName: "adele@contoso.dev"}
	for _, tc := range []struct {
		filter string
		match  bool
	}{
		{"startswith(displayName,'adè')", true},
		{"startswith(displayName,'ADÈ')", true},
		{"STARTSWITH( displayName , 'Ad' )", true},
		{"startswith(displayName,'ade')", false},
		{"startswith(userPrincipalName,'x') or startswith(userPrincipalName,'adele@')", true},
		{"id eq '3C16299B-70FB-4EF1-AC29-A2C2738AE1E3'", true},
		{"displayName eq 'Adèle'", false},
		{"startswith(displayName,'O''Brien')", false},
	} {
		f, err := parseUserFilter(tc.filter)
		if err != nil {
			t.Errorf("%s: %v", tc.filter, err)
			continue
		}
		if got := f.matches(adele); got != tc.match {
			t.Errorf("%s matches = %v", tc.filter, got)
		}
	}
	for _, bad := range []string{"", "startswith(displayName)", "startswith(displayName,'a') and id eq 'x'", "contains(displayName,'a')",
		"startswith(displayName,'a') or", "displayName ne 'a'", "startswith(displayName,'a')x", strings.Repeat("id eq 'x' or ", 17) + "id eq 'x'"} {
		if _, err := parseUserFilter(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzUserFilter: the parser never panics, and what it accepts reads the
// same when written back.
func FuzzUserFilter(f *testing.F) {
	for _, s := range []string{"startswith(displayName,'a')", "id eq 'x' or startswith(userPrincipalName,'O''B')", "startswith(", "'", "eq eq", "startswith(displayName,'\xff')"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseUserFilter(s)
		if err != nil {
			return
		}
		if len(got) == 0 || len(got) > maxFilterClauses {
			t.Fatalf("%q: %d clauses", s, len(got))
		}
		again, err := parseUserFilter(got.render())
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("%q → %q → %v, %v", s, got.render(), again, err)
		}
	})
}
