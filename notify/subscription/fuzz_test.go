package subscription

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
)

// checkOnlyInvalid fails unless err is a *presence.Error with Code
// Invalid and the given Field: anything else would reach clients as a 500.
func checkOnlyInvalid(t *testing.T, err error, field string) {
	t.Helper()
	var pe *presence.Error
	if !errors.As(err, &pe) || pe.Code != presence.Invalid || pe.Field != field || pe.Message == "" {
		t.Fatalf("error %T %v, want *presence.Error{Invalid, %q}", err, err, field)
	}
}

// FuzzParseResource: no panics; failures are only Invalid "resource"
// errors; accepted output is 1–650 distinct valid ids that FormatResource
// turns back into a resource parsing to the same ids.
func FuzzParseResource(f *testing.F) {
	for _, s := range []string{
		"/communications/presences/" + g1,
		"communications/presences/adele@contoso.dev",
		"/communications/presences?$filter=id in ('" + g1 + "','" + g2 + "')",
		"/communications/presences?%24filter=id+in+(%27" + g1 + "%27,+%27" + g2 + "%27)",
		"/communications/presences?$filter=ID IN ( 'o''brien@contoso.dev' , '" + g1 + "' )",
		"/communications/presences?$filter=id in ('a+b@c.de','A+B@C.DE')",
		"/communications/presences?$filter=id eq '" + g1 + "'",
		"/communications/presences?$filter=id in ('''",
		"/communications/presences?$filter=id in ()",
		"/users/" + g1 + "/presence",
		"%", "%2", "", "/", "?",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := ParseResource(s)
		if err != nil {
			checkOnlyInvalid(t, err, "resource")
			if ids != nil {
				t.Fatalf("error with ids %q", ids)
			}
			return
		}
		if len(ids) == 0 || len(ids) > MaxIDs {
			t.Fatalf("accepted %d ids", len(ids))
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if checkID(id) != "" {
				t.Fatalf("accepted invalid id %q", id)
			}
			if k := strings.ToLower(id); seen[k] {
				t.Fatalf("duplicate id %q", id)
			} else {
				seen[k] = true
			}
		}
		back, err := ParseResource(FormatResource(ids))
		if err != nil || !slices.Equal(back, ids) {
			t.Fatalf("round trip of %q via %q: %q, %v", ids, FormatResource(ids), back, err)
		}
	})
}

// FuzzCreateRequestExpiry: expirationDateTime never panics; failures are
// only Invalid "expirationDateTime" errors; an accepted value is in UTC,
// after now and at most MaxLifetime later, agrees with time.Parse and
// survives re-formatting. Create and renew agree.
func FuzzCreateRequestExpiry(f *testing.F) {
	for _, s := range []string{
		"2026-09-14T10:00:00.0000000Z", "2026-09-14T10:00:00Z", "2026-09-14t10:29:59.999999999z",
		"2026-09-14T12:00:00+02:00", "2026-09-14T04:00:00-05:30", "2026-09-14T10:00:00",
		"2026-09-14T10:00:00+24:00", "2026-09-14T10:00:00,5Z", "2026-02-29T10:00:00Z",
		"2026-09-14T10:30:00.0000001Z", "", "2026-09-14",
	} {
		f.Add(s, int64(0))
	}
	f.Fuzz(func(t *testing.T, s string, shift int64) {
		now := now.Add(time.Duration(shift % int64(48*time.Hour)))
		got, err := ValidateRenewal(s, now)
		r := valid()
		r.ExpirationDateTime = s
		exp, _, cerr := r.Validate(now)
		if (err == nil) != (cerr == nil) || !got.Equal(exp) {
			t.Fatalf("renew (%v, %v) and create (%v, %v) disagree", got, err, exp, cerr)
		}
		if err != nil {
			checkOnlyInvalid(t, err, "expirationDateTime")
			checkOnlyInvalid(t, cerr, "expirationDateTime")
			return
		}
		if got.Location() != time.UTC || !got.After(now) || got.After(now.Add(MaxLifetime)) {
			t.Fatalf("accepted %q as %v (now %v)", s, got, now)
		}
		ref, perr := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
		if perr != nil || !ref.Equal(got) {
			t.Fatalf("accepted %q as %v; time.Parse says %v, %v", s, got, ref, perr)
		}
		// Go's format keeps every digit; Graph's 7-digit format keeps 100 ns.
		for again, want := range map[string]time.Time{
			got.Format(time.RFC3339Nano): got,
			presence.FormatDateTime(got): got.Truncate(100 * time.Nanosecond),
		} {
			back, err := ParseDateTime(again)
			if err != nil || !back.Equal(want) {
				t.Fatalf("%v re-formatted as %q parses as %v, %v; want %v", got, again, back, err, want)
			}
		}
	})
}
