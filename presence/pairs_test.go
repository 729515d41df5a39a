package presence

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// wantError checks that err is an *Error with code and field whose message
// contains every fragment.
func wantError(t *testing.T, err error, code Code, field string, fragments ...string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *Error %s", err, err, code)
	}
	if e.Code != code || e.Field != field {
		t.Errorf("error code/field = %s/%q, want %s/%q (message %q)", e.Code, e.Field, code, field, e.Message)
	}
	for _, f := range fragments {
		if !strings.Contains(e.Message, f) {
			t.Errorf("message %q does not contain %q", e.Message, f)
		}
	}
}

func TestNormalizeSetPresencePair(t *testing.T) {
	ok := []struct {
		name string
		in   Pair
		want Pair
	}{
		{"graph §2.4 Available/Available", Pair{"Available", "Available"}, Pair{Available, Available}},
		{"graph §2.4 Busy/InACall", Pair{"Busy", "InACall"}, Pair{Busy, InACall}},
		{"graph §2.4 Busy/InAConferenceCall", Pair{"Busy", "InAConferenceCall"}, Pair{Busy, InAConferenceCall}},
		{"graph §2.4 Away/Away", Pair{"Away", "Away"}, Pair{Away, Away}},
		{"graph §2.4 DoNotDisturb/Presenting", Pair{"DoNotDisturb", "Presenting"}, Pair{DoNotDisturb, Presenting}},
		{"lowerCamel is normalised to PascalCase", Pair{"doNotDisturb", "presenting"}, Pair{DoNotDisturb, Presenting}},
		{"upper case is normalised", Pair{"BUSY", "INACALL"}, Pair{Busy, InACall}},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeSetPresencePair(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("NormalizeSetPresencePair(%v) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
	bad := []struct {
		name      string
		in        Pair
		field     string
		fragments []string
	}{
		{"Busy/Busy is only for preferred presence", Pair{"Busy", "Busy"}, "activity",
			[]string{"availability 'Busy' with activity 'Busy' is not accepted by setPresence; accepted pairs: Available/Available, Busy/InACall, Busy/InAConferenceCall, Away/Away, DoNotDisturb/Presenting"}},
		{"a known availability outside every setPresence pair", Pair{"BeRightBack", "BeRightBack"}, "availability",
			[]string{"availability 'BeRightBack' is not accepted by setPresence", "DoNotDisturb/Presenting"}},
		{"OutOfOffice cannot be written (graph §2.5)", Pair{"Available", "OutOfOffice"}, "activity",
			[]string{"activity 'OutOfOffice' is not accepted"}},
		{"InAMeeting cannot be written (graph §2.5)", Pair{"Busy", "InAMeeting"}, "activity",
			[]string{"activity 'InAMeeting' is not accepted"}},
		{"unknown availability names the known values", Pair{"Sleeping", "Away"}, "availability",
			[]string{"availability 'Sleeping' is not a known availability value", "known: Available, AvailableIdle, Away, BeRightBack, Busy, BusyIdle, DoNotDisturb, Offline, PresenceUnknown"}},
		{"unknown activity names the known values", Pair{"Busy", "Napping"}, "activity",
			[]string{"activity 'Napping' is not a known activity value", "InAConferenceCall"}},
		{"empty availability", Pair{"", "Available"}, "availability", []string{"availability is required"}},
		{"empty activity", Pair{"Available", ""}, "activity", []string{"activity is required"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NormalizeSetPresencePair(tc.in)
			wantError(t, err, Invalid, tc.field, tc.fragments...)
		})
	}
}

func TestNormalizePreferredPair(t *testing.T) {
	for _, p := range []Pair{
		{Available, Available}, {Busy, Busy}, {DoNotDisturb, DoNotDisturb},
		{BeRightBack, BeRightBack}, {Away, Away}, {Offline, OffWork},
	} {
		t.Run("graph §2.4 "+p.String(), func(t *testing.T) {
			got, err := NormalizePreferredPair(Pair{strings.ToLower(p.Availability), strings.ToLower(p.Activity)})
			if err != nil || got != p {
				t.Fatalf("got %v, %v; want %v", got, err, p)
			}
		})
	}
	bad := []struct {
		name      string
		in        Pair
		field     string
		fragments []string
	}{
		{"a call is a session state, not a preference", Pair{Busy, InACall}, "activity",
			[]string{"availability 'Busy' with activity 'InACall' is not accepted by setUserPreferredPresence; accepted pairs: Available/Available, Busy/Busy, DoNotDisturb/DoNotDisturb, BeRightBack/BeRightBack, Away/Away, Offline/OffWork"}},
		{"Offline/Offline is not appear-offline", Pair{Offline, Offline}, "activity", []string{"Offline/OffWork"}},
		{"PresenceUnknown is known but never accepted", Pair{PresenceUnknown, PresenceUnknown}, "availability",
			[]string{"availability 'PresenceUnknown' is not accepted by setUserPreferredPresence"}},
		{"empty availability", Pair{}, "availability", []string{"availability is required"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NormalizePreferredPair(tc.in)
			wantError(t, err, Invalid, tc.field, tc.fragments...)
		})
	}
}

func TestDefaultPreferredExpiration(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		p    Pair
		want time.Duration
	}{
		{Pair{Available, Available}, 7 * day},
		{Pair{Busy, Busy}, day},
		{Pair{DoNotDisturb, DoNotDisturb}, day},
		{Pair{BeRightBack, BeRightBack}, 7 * day},
		{Pair{Away, Away}, 7 * day},
		{Pair{Offline, OffWork}, 7 * day},
	} {
		if got := DefaultPreferredExpiration(tc.p); got != tc.want {
			t.Errorf("graph §2.4 DefaultPreferredExpiration(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
}

// TestCanonicalSetsFoldApart: canonical looks for v's exact spelling
// before folding, which returns the same value only if no two values of
// a set fold together.
func TestCanonicalSetsFoldApart(t *testing.T) {
	for _, set := range [][]string{knownAvailabilities, knownActivities} {
		for i, a := range set {
			for _, b := range set[i+1:] {
				if strings.EqualFold(a, b) {
					t.Errorf("%q and %q fold together", a, b)
				}
			}
			if c, ok := canonical(strings.ToLower(a), set); !ok || c != a {
				t.Errorf("canonical(%q) = %q, %v", strings.ToLower(a), c, ok)
			}
		}
	}
}
