package scim

import (
	"strings"
	"testing"
)

func TestParseFilter(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // "attr=value;…", or "!" and part of the error
	}{
		{`userName eq "bjensen@example.com"`, "username=bjensen@example.com"},
		{`USERNAME EQ "a"`, "username=a"},
		{`externalId eq "00ujl29u0le5T6Aj10h7"`, "externalid=00ujl29u0le5T6Aj10h7"},
		{`emails[type eq "work"].value eq "a@b.c"`, "emails=a@b.c"},
		{`userName eq "a \"quoted\" name" and externalId eq "x"`, `username=a "quoted" name;externalid=x`},
		{`userName eq "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1"`, "username=Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1"},
		{`userName sw "a"`, "!only eq"},
		{`title eq "x"`, "!cannot be filtered on"},
		{`userName eq a`, "!no quoted value"},
		{`userName eq "a" or id eq "b"`, "!joined by and"},
		{`userName eq "unterminated`, "!no quoted value"},
		{``, "!cannot be filtered on"},
	} {
		f, err := parseFilter(c.in)
		if strings.HasPrefix(c.want, "!") {
			if err == nil || !strings.Contains(err.detail, c.want[1:]) || err.scimType != "invalidFilter" {
				t.Errorf("%q: %v, want an error with %q", c.in, err, c.want[1:])
			}
			continue
		}
		var got []string
		for _, cl := range f {
			got = append(got, cl.attr+"="+cl.value)
		}
		if err != nil || strings.Join(got, ";") != c.want {
			t.Errorf("%q: %v %v, want %s", c.in, got, err, c.want)
		}
	}
}

// FuzzParseFilter: any input is parsed or refused as invalidFilter, never
// a panic, and what parses has no clause without an attribute.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{`userName eq "a"`, `emails[type eq "work"].value eq "x" and id eq "y"`, `userName eq "\u00e9\""`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fl, err := parseFilter(s)
		if err != nil {
			if err.scimType != "invalidFilter" {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		for _, c := range fl {
			if c.attr == "" {
				t.Fatalf("%q: a clause without an attribute", s)
			}
		}
	})
}
