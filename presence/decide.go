package presence

import "time"

// Rule names the rule of semantics §3 that decided a user's availability
// and activity at an instant.
type Rule int

// The rules of semantics §3 that can decide the pair. Rule 5 (out of
// office) and rule 6 (status message) never decide it alone: rule 5
// changes what the deciding rule gave (Decision.OutOfOffice), rule 6 is
// beside the pair.
const (
	RuleNoSession Rule = 1 // §3.1: no live session → Offline/Offline
	RulePreferred Rule = 2 // §3.2: a live preferred presence
	RuleSession   Rule = 3 // §3.3: the highest-ranked live session
	RuleMeeting   Rule = 4 // §3.4: a meeting over Available/* or Away/Away
)

// String names the rule as the explain endpoint does.
func (r Rule) String() string {
	switch r {
	case RuleNoSession:
		return "noSession"
	case RulePreferred:
		return "preferredPresence"
	case RuleSession:
		return "session"
	case RuleMeeting:
		return "meeting"
	}
	return "unknown"
}

// Decision is how the rules of semantics §3 arrived at a user's presence
// at one instant: what Aggregate shows, and why.
type Decision struct {
	// Rule is the rule that decided the pair before out of office.
	Rule Rule
	// Pair is the pair readers see (after rule 5).
	Pair Pair
	// Session is the index in Facts.Sessions of the session rule 3 ranks
	// highest, -1 when no session is live. It is set whatever rule won:
	// under rule 2 it is the session that keeps the preferred presence
	// shown, under rule 4 the one the meeting overrode.
	Session int
	// SessionPair is that session's pair at the instant (after fading).
	SessionPair Pair
	// Meeting is true when a meeting covers the instant, whether or not
	// it decided (a call, Presenting, DoNotDisturb or a preferred presence
	// beat it).
	Meeting bool
	// OutOfOffice is rule 5 at the instant.
	OutOfOffice OutOfOfficeDecision
}

// OutOfOfficeDecision is rule 5 at one instant.
type OutOfOfficeDecision struct {
	// AutomaticReplies: automatic replies are on (always, or in their
	// scheduled window).
	AutomaticReplies bool
	// Event: an event shown as oof covers the instant.
	Event bool
	// ReplacedActivity: the deciding rule gave a plain activity, which
	// became OutOfOffice; a specific one (a call, a meeting…) stays.
	ReplacedActivity bool
}

// On reports whether the user is out of office.
func (o OutOfOfficeDecision) On() bool { return o.AutomaticReplies || o.Event }

// Decide applies semantics §3 rules 1–5 to f at now and says which rule
// decided. Aggregate takes its pair and out-of-office flag from it: one
// copy of the rules, which the explain endpoint reports.
func Decide(f Facts, now time.Time) Decision {
	d := Decision{Session: -1}
	// Rule 3's candidate first: rule 1 needs to know whether any session
	// is live.
	best, bestPair := bestSession(f.Sessions, now)
	if best != nil {
		d.Session, d.SessionPair = sessionIndex(f.Sessions, best), bestPair
	}
	d.Meeting = meetingAt(f.Events, now)
	switch {
	case best == nil:
		d.Rule, d.Pair = RuleNoSession, Pair{Offline, Offline}
	case f.Preferred != nil && now.Before(f.Preferred.ExpiresAt):
		d.Rule, d.Pair = RulePreferred, f.Preferred.Pair
	case d.Meeting && (bestPair.Availability == Available || bestPair == Pair{Away, Away}):
		// A meeting turns Available/* and Away/Away into Busy/InAMeeting;
		// calls, Presenting and DoNotDisturb beat it.
		d.Rule, d.Pair = RuleMeeting, Pair{Busy, InAMeeting}
	default:
		d.Rule, d.Pair = RuleSession, bestPair
	}
	d.OutOfOffice.AutomaticReplies = autoRepliesActive(f.AutoReplies, now)
	d.OutOfOffice.Event = oofEventAt(f.Events, now)
	if d.OutOfOffice.On() && plainActivity(d.Pair.Activity) {
		d.Pair.Activity = OutOfOffice
		d.OutOfOffice.ReplacedActivity = true
	}
	return d
}

// sessionIndex is the index of s, an element of ss.
func sessionIndex(ss []Session, s *Session) int {
	for i := range ss {
		if &ss[i] == s {
			return i
		}
	}
	return -1
}
