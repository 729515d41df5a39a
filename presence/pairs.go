package presence

import (
	"strings"
	"time"
)

// The value sets of graph-presence.md §2.1–§2.2. Inputs are matched
// case-insensitively (the Graph docs themselves print some of these values
// lowerCamel) and normalised to the PascalCase that Graph puts on the wire.
var (
	knownAvailabilities = []string{
		Available, AvailableIdle, Away, BeRightBack, Busy, BusyIdle,
		DoNotDisturb, Offline, PresenceUnknown,
	}
	knownActivities = []string{
		Available, AvailableInactive, Away, BeRightBack, Busy, DoNotDisturb,
		Focusing, InACall, InAConferenceCall, Inactive, InAMeeting, Offline,
		OffWork, OutOfOffice, PresenceUnknown, Presenting, UrgentInterruptionsOnly,
	}

	// setPresencePairs is graph-presence.md §2.4, setPresence (exactly five).
	setPresencePairs = []Pair{
		{Available, Available},
		{Busy, InACall},
		{Busy, InAConferenceCall},
		{Away, Away},
		{DoNotDisturb, Presenting},
	}
	// preferredPairs is graph-presence.md §2.4, setUserPreferredPresence
	// (exactly six).
	preferredPairs = []Pair{
		{Available, Available},
		{Busy, Busy},
		{DoNotDisturb, DoNotDisturb},
		{BeRightBack, BeRightBack},
		{Away, Away},
		{Offline, OffWork},
	}
)

// canonical returns the PascalCase spelling of v among set, matching
// case-insensitively. The spelling itself is looked for first: nearly
// every request sends it, and a comparison of equal bytes is far cheaper
// than a case-folding one (strings.EqualFold goes byte by byte through
// each of the set's values until the match: ~0.05 µs a setPresence,
// docs/performance.md, branch coresess). Either way the result is the
// first of set that v folds to, as the set's values fold to no other.
func canonical(v string, set []string) (string, bool) {
	for _, c := range set {
		if v == c {
			return c, true
		}
	}
	for _, c := range set {
		if strings.EqualFold(v, c) {
			return c, true
		}
	}
	return "", false
}

func pairList(pairs []Pair) string {
	s := make([]string, len(pairs))
	for i, p := range pairs {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// NormalizeSetPresencePair checks p against the five pairs setPresence
// accepts and returns it in canonical PascalCase.
func NormalizeSetPresencePair(p Pair) (Pair, error) {
	return normalizePair(p, setPresencePairs, "setPresence")
}

// NormalizePreferredPair checks p against the six pairs
// setUserPreferredPresence accepts and returns it in canonical PascalCase.
func NormalizePreferredPair(p Pair) (Pair, error) {
	return normalizePair(p, preferredPairs, "setUserPreferredPresence")
}

func normalizePair(p Pair, accepted []Pair, method string) (Pair, error) {
	if p.Availability == "" {
		return p, Errorf(Invalid, "availability", "availability is required; accepted pairs for %s (availability/activity): %s", method, pairList(accepted))
	}
	if p.Activity == "" {
		return p, Errorf(Invalid, "activity", "activity is required; accepted pairs for %s (availability/activity): %s", method, pairList(accepted))
	}
	av, ok := canonical(p.Availability, knownAvailabilities)
	if !ok {
		return p, Errorf(Invalid, "availability", "availability '%s' is not a known availability value (known: %s); accepted pairs for %s: %s",
			p.Availability, strings.Join(knownAvailabilities, ", "), method, pairList(accepted))
	}
	ac, ok := canonical(p.Activity, knownActivities)
	if !ok {
		return p, Errorf(Invalid, "activity", "activity '%s' is not a known activity value (known: %s); accepted pairs for %s: %s",
			p.Activity, strings.Join(knownActivities, ", "), method, pairList(accepted))
	}
	n := Pair{av, ac}
	availabilityAccepted := false
	for _, a := range accepted {
		if a == n {
			return n, nil
		}
		if a.Availability == av {
			availabilityAccepted = true
		}
	}
	if !availabilityAccepted {
		return p, Errorf(Invalid, "availability", "availability '%s' is not accepted by %s; accepted pairs: %s", av, method, pairList(accepted))
	}
	return p, Errorf(Invalid, "activity", "availability '%s' with activity '%s' is not accepted by %s; accepted pairs: %s", av, ac, method, pairList(accepted))
}

// DefaultPreferredExpiration is the expiration setUserPreferredPresence uses
// when the caller gives none: 1 day for Busy and DoNotDisturb, 7 days
// otherwise (graph-presence.md §2.4).
func DefaultPreferredExpiration(p Pair) time.Duration {
	switch av, _ := canonical(p.Availability, knownAvailabilities); av {
	case Busy, DoNotDisturb:
		return 24 * time.Hour
	}
	return 7 * 24 * time.Hour
}
