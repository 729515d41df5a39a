package subscription

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/presenced/presenced/presence"
)

const (
	g1 = "fa8bf3dc-eca7-46b7-bad1-db199b62afc3"
	g2 = "66825e03-7ef5-42da-9069-724602c31f6b"
	g3 = "0a7b3c6d-1111-4222-8333-944455556666"
)

// wantInvalid fails unless err is a *presence.Error with Code Invalid,
// the given Field, and a message containing every fragment.
func wantInvalid(t *testing.T, err error, field string, fragments ...string) {
	t.Helper()
	var pe *presence.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want *presence.Error", err, err)
	}
	if pe.Code != presence.Invalid || pe.Field != field {
		t.Fatalf("err = {%s %q %q}, want code invalid, field %q", pe.Code, pe.Field, pe.Message, field)
	}
	for _, f := range fragments {
		if !strings.Contains(pe.Message, f) {
			t.Errorf("message %q does not contain %q", pe.Message, f)
		}
	}
}

func TestParseResourceAcceptsTheTwoForms(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"single id", "/communications/presences/" + g1, []string{g1}},
		{"single id without leading slash", "communications/presences/" + g1, []string{g1}},
		{"single upn", "/communications/presences/adele@contoso.dev", []string{"adele@contoso.dev"}},
		{"single upn percent-encoded @", "/communications/presences/adele%40contoso.dev", []string{"adele@contoso.dev"}},
		{"path is case-insensitive", "/Communications/Presences/" + g1, []string{g1}},
		{"filter, Graph's example", "/communications/presences?$filter=id in ('" + g1 + "','" + g2 + "')", []string{g1, g2}},
		{"filter without leading slash", "communications/presences?$filter=id in ('" + g1 + "')", []string{g1}},
		{"filter with one id", "/communications/presences?$filter=id in ('" + g1 + "')", []string{g1}},
		{"filter key case-insensitive", "/communications/presences?$FILTER=id in ('" + g1 + "')", []string{g1}},
		{"id and in case-insensitive", "/communications/presences?$filter=ID IN ('" + g1 + "')", []string{g1}},
		{"whitespace around in, commas and parens", "/communications/presences?$filter= id  in  ( '" + g1 + "' ,\t'" + g2 + "' ) ", []string{g1, g2}},
		{"no space before paren", "/communications/presences?$filter=id in('" + g1 + "')", []string{g1}},
		{"url-encoded with %20 and %27", "/communications/presences?$filter=id%20in%20(%27" + g1 + "%27,%27" + g2 + "%27)", []string{g1, g2}},
		{"url-encoded with + and %24", "/communications/presences?%24filter=id+in+(%27" + g1 + "%27,+%27" + g2 + "%27)", []string{g1, g2}},
		{"fully encoded, lowercase hex", "%2fcommunications%2fpresences%3f%24filter%3did%20in%20(%27" + g1 + "%27)", []string{g1}},
		{"upn in filter", "/communications/presences?$filter=id in ('adele@contoso.dev','" + g1 + "')", []string{"adele@contoso.dev", g1}},
		{"plus inside quotes is literal", "/communications/presences?$filter=id in ('adele+test@contoso.dev')", []string{"adele+test@contoso.dev"}},
		{"doubled quote escape", "/communications/presences?$filter=id in ('o''brien@contoso.dev')", []string{"o'brien@contoso.dev"}},
		{"uppercase guid", "/communications/presences/" + strings.ToUpper(g1), []string{strings.ToUpper(g1)}},
		{"duplicates removed preserving order", "/communications/presences?$filter=id in ('" + g2 + "','" + g1 + "','" + g2 + "','" + g3 + "','" + g1 + "')", []string{g2, g1, g3}},
		{"duplicates compared case-insensitively", "/communications/presences?$filter=id in ('" + g1 + "','" + strings.ToUpper(g1) + "','Adele@Contoso.dev','adele@contoso.dev')", []string{g1, "Adele@Contoso.dev"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseResource(tt.in)
			if err != nil {
				t.Fatalf("ParseResource(%q): %v", tt.in, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ParseResource(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseResourceRejectsEverythingElse(t *testing.T) {
	q := func(ids ...string) string { return "'" + strings.Join(ids, "','") + "'" }
	tests := []struct {
		name, in, why string
	}{
		{"empty", "", "resource is required"},
		{"user presence property", "/users/" + g1 + "/presence", "not on a user's presence property"},
		{"me presence", "/me/presence", "not on a user's presence property"},
		{"other resource", "/users/" + g1, "must start with /communications/presences"},
		{"whole collection", "/communications/presences", "whole presences collection"},
		{"collection with slash only", "/communications/presences/", "id after /communications/presences/ is empty"},
		{"key syntax", "/communications/presences('" + g1 + "')", "unexpected"},
		{"prefix of another word", "/communications/presencesX/" + g1, "unexpected"},
		{"segment after id", "/communications/presences/" + g1 + "/x", `unexpected "/x"`},
		{"query after id", "/communications/presences/" + g1 + "?$select=id", "unexpected"},
		{"id neither guid nor upn", "/communications/presences/adele", "neither a user object id"},
		{"guid too short", "/communications/presences/fa8bf3dc-eca7-46b7-bad1-db199b62afc", "neither a user object id"},
		{"other query option", "/communications/presences?$select=id", "only query accepted is $filter"},
		{"eq operator", "/communications/presences?$filter=id eq '" + g1 + "'", "'id eq' is not supported"},
		{"other property", "/communications/presences?$filter=availability in ('Busy')", "must be id in"},
		{"id glued to in", "/communications/presences?$filter=idin ('" + g1 + "')", "must be id in"},
		{"in glued to word", "/communications/presences?$filter=id inx ('" + g1 + "')", "only operator accepted is 'in'"},
		{"missing paren", "/communications/presences?$filter=id in '" + g1 + "'", "expected '(' after 'id in'"},
		{"missing quotes", "/communications/presences?$filter=id in (" + g1 + ")", "expected id number 1 in single quotes"},
		{"double quotes", `/communications/presences?$filter=id in ("` + g1 + `")`, "double quotes"},
		{"unterminated quote", "/communications/presences?$filter=id in ('" + g1 + ")", "no closing quote"},
		{"missing closing paren", "/communications/presences?$filter=id in (" + q(g1), "expected ',' or ')' after id number 1; found the end"},
		{"trailing comma", "/communications/presences?$filter=id in (" + q(g1) + ",)", "expected id number 2"},
		{"empty list", "/communications/presences?$filter=id in ()", "id list is empty"},
		{"empty id", "/communications/presences?$filter=id in ('')", "id number 1, '', is neither"},
		{"bad second id", "/communications/presences?$filter=id in (" + q(g1, "nobody") + ")", "id number 2, 'nobody', is neither"},
		{"trailing garbage", "/communications/presences?$filter=id in (" + q(g1) + ") and true", `unexpected "and true" after the closing ')'`},
		{"second query option", "/communications/presences?$filter=id in (" + q(g1) + ")&$top=1", "after the closing ')'"},
		{"boolean combination", "/communications/presences?$filter=id in (" + q(g1) + ") or id in (" + q(g2) + ")", "after the closing ')'"},
		{"malformed percent-encoding", "/communications/presences/%zz", "malformed percent-encoding"},
		{"truncated percent-encoding", "/communications/presences/" + g1 + "%2", "malformed percent-encoding"},
		{"upn with space", "/communications/presences?$filter=id in ('adele smith@contoso.dev')", "neither"},
		{"upn with single-label domain", "/communications/presences/adele@localhost", "neither"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, err := ParseResource(tt.in)
			if err == nil {
				t.Fatalf("ParseResource(%q) = %q, want an error", tt.in, ids)
			}
			frags := []string{tt.why}
			if tt.in != "" {
				frags = append(frags, formSingle, formFilter, "650")
			}
			wantInvalid(t, err, "resource", frags...)
		})
	}
}

// The limit counts every entry of the list, repeated ones too, as
// getPresencesByUserId and the stream count theirs (presence.CheckIDCount).
func TestParseResourceAtMost650Entries(t *testing.T) {
	ids := make([]string, MaxIDs+1)
	for i := range ids {
		ids[i] = fmt.Sprintf("u%d@contoso.dev", i)
	}
	got, err := ParseResource(FormatResource(ids[:MaxIDs]))
	if err != nil || len(got) != MaxIDs {
		t.Fatalf("650 ids: got %d ids, err %v", len(got), err)
	}
	_, err = ParseResource(FormatResource(ids))
	wantInvalid(t, err, "resource", "has 651 entries; at most 650 are accepted")
	// Repeated ids count: 640 users named 660 times are too many entries.
	withDups := append(slices.Clone(ids[:640]), ids[:20]...)
	_, err = ParseResource(FormatResource(withDups))
	wantInvalid(t, err, "resource", "has 660 entries; at most 650 are accepted")
	// 650 entries naming fewer users are accepted, each user once.
	if got, err := ParseResource(FormatResource(withDups[:MaxIDs])); err != nil || len(got) != 640 {
		t.Fatalf("650 entries, 640 users: got %d ids, err %v", len(got), err)
	}
}

func TestFormatResourceRoundTrips(t *testing.T) {
	tests := []struct {
		ids  []string
		want string
	}{
		{[]string{g1}, "/communications/presences/" + g1},
		{[]string{g1, g2}, "/communications/presences?$filter=id in ('" + g1 + "','" + g2 + "')"},
		{[]string{"o'brien@contoso.dev", g1}, "/communications/presences?$filter=id in ('o''brien@contoso.dev','" + g1 + "')"},
		{[]string{"o'brien@contoso.dev"}, "/communications/presences/o'brien@contoso.dev"},
	}
	for _, tt := range tests {
		got := FormatResource(tt.ids)
		if got != tt.want {
			t.Errorf("FormatResource(%q) = %q, want %q", tt.ids, got, tt.want)
		}
		back, err := ParseResource(got)
		if err != nil || !slices.Equal(back, tt.ids) {
			t.Errorf("ParseResource(%q) = %q, %v; want %q", got, back, err, tt.ids)
		}
	}
}

func TestResourceErrorsClipLongInput(t *testing.T) {
	long := "/communications/presences?$filter=id in ('" + strings.Repeat("é", 500) + "')"
	_, err := ParseResource(long)
	if err == nil || len(err.Error()) > 800 {
		t.Fatalf("error of %d bytes: %v", len(err.Error()), err)
	}
	if !strings.Contains(err.Error(), "...") {
		t.Errorf("long input not clipped: %v", err)
	}
}
