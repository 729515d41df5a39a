package presence

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestDecide checks, for every rule of semantics §3, at chosen instants,
// which rule Decide reports and what it gives.
func TestDecide(t *testing.T) {
	oofEvent := Event{Start: at(0), End: at(8 * time.Hour), ShowAs: ShowAsOOF}
	replies := &AutoReplies{Status: RepliesAlwaysEnabled, InternalReplyMessage: "On leave"}
	scheduled := &AutoReplies{Status: RepliesScheduled, ScheduledStart: at(time.Hour), ScheduledEnd: at(2 * time.Hour)}
	for _, tc := range []struct {
		name    string
		f       Facts
		at      time.Duration
		rule    Rule
		pair    Pair
		session int // -1: none live
		meeting bool
		oof     OutOfOfficeDecision
	}{
		{"§3.1 no session at all: Offline", Facts{}, 0, RuleNoSession, pOffline, -1, false, OutOfOfficeDecision{}},
		{"§3.1 every session expired: Offline", Facts{Sessions: []Session{sess("a", pInACall, 0, time.Hour)}}, time.Hour, RuleNoSession, pOffline, -1, false, OutOfOfficeDecision{}},
		{"§3.1 a preferred presence without a session is not shown", Facts{Preferred: pref(pDND, 4*time.Hour)}, time.Minute, RuleNoSession, pOffline, -1, false, OutOfOfficeDecision{}},
		{"§3.1 a meeting without a session is not shown", Facts{Events: []Event{meeting(0, time.Hour)}}, time.Minute, RuleNoSession, pOffline, -1, true, OutOfOfficeDecision{}},
		{"§3.2 a live preferred presence beats every session", Facts{Sessions: []Session{sess("a", pInACall, 0, time.Hour)}, Preferred: pref(pBRB, 4*time.Hour)}, time.Minute, RulePreferred, pBRB, 0, false, OutOfOfficeDecision{}},
		{"§3.2 a preferred presence beats a meeting", Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Preferred: pref(pAvailable, 4*time.Hour), Events: []Event{meeting(0, time.Hour)}}, time.Minute, RulePreferred, pAvailable, 0, true, OutOfOfficeDecision{}},
		{"§3.2 an expired preferred presence no longer decides", Facts{Sessions: []Session{sess("a", pInACall, 0, 4*time.Hour)}, Preferred: pref(pBRB, time.Hour)}, time.Hour, RuleSession, pInACall, 0, false, OutOfOfficeDecision{}},
		{"§3.3 the highest availability wins", Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour), sess("b", pInACall, 0, time.Hour)}}, time.Minute, RuleSession, pInACall, 1, false, OutOfOfficeDecision{}},
		{"§3.3 a faded session ranks by its pair now", Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour), sess("b", pAway, 0, time.Hour)}}, 10 * time.Minute, RuleSession, pAway, 0, false, OutOfOfficeDecision{}},
		{"§3.3 on a tie the more specific activity wins", Facts{Sessions: []Session{sess("a", pPresenting, 0, time.Hour), sess("b", pDND, time.Minute, time.Hour)}}, 2 * time.Minute, RuleSession, pPresenting, 0, false, OutOfOfficeDecision{}},
		{"§3.4 a meeting turns Available into InAMeeting", Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Events: []Event{meeting(0, time.Hour)}}, time.Minute, RuleMeeting, pInAMeeting, 0, true, OutOfOfficeDecision{}},
		{"§3.4 a meeting turns Away into InAMeeting", Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Events: []Event{meeting(0, time.Hour)}}, 11 * time.Minute, RuleMeeting, pInAMeeting, 0, true, OutOfOfficeDecision{}},
		{"§3.4 a call beats a meeting", Facts{Sessions: []Session{sess("a", pInACall, 0, time.Hour)}, Events: []Event{meeting(0, time.Hour)}}, time.Minute, RuleSession, pInACall, 0, true, OutOfOfficeDecision{}},
		{"§3.4 a meeting ends at its end", Facts{Sessions: []Session{sess("a", pAvailable, 0, 4*time.Hour)}, Events: []Event{meeting(0, time.Minute)}}, time.Minute, RuleSession, pAvailable, 0, false, OutOfOfficeDecision{}},
		{"§3.5 automatic replies make a plain activity OutOfOffice", Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, AutoReplies: replies}, time.Minute, RuleSession, pAvailOOF, 0, false, OutOfOfficeDecision{AutomaticReplies: true, ReplacedActivity: true}},
		{"§3.5 offline and out of office", Facts{AutoReplies: replies}, time.Minute, RuleNoSession, pOfflineOOF, -1, false, OutOfOfficeDecision{AutomaticReplies: true, ReplacedActivity: true}},
		{"§3.5 an oof event: a meeting keeps its activity", Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Events: []Event{meeting(0, time.Hour), oofEvent}}, time.Minute, RuleMeeting, pInAMeeting, 0, true, OutOfOfficeDecision{Event: true}},
		{"§3.5 scheduled replies before their window", Facts{Sessions: []Session{sess("a", pAway, 0, 4*time.Hour)}, AutoReplies: scheduled}, time.Hour - time.Nanosecond, RuleSession, pAway, 0, false, OutOfOfficeDecision{}},
		{"§3.5 scheduled replies in their window", Facts{Sessions: []Session{sess("a", pAway, 0, 4*time.Hour)}, AutoReplies: scheduled}, time.Hour, RuleSession, pAwayOOF, 0, false, OutOfOfficeDecision{AutomaticReplies: true, ReplacedActivity: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.f, at(tc.at))
			if d.Rule != tc.rule || d.Pair != tc.pair || d.Session != tc.session || d.Meeting != tc.meeting || d.OutOfOffice != tc.oof {
				t.Fatalf("Decide = %+v; want rule %v, pair %v, session %d, meeting %v, oof %+v", d, tc.rule, tc.pair, tc.session, tc.meeting, tc.oof)
			}
			if v := Aggregate(tc.f, at(tc.at)); v.Pair != d.Pair || v.OutOfOffice.IsOutOfOffice != d.OutOfOffice.On() {
				t.Fatalf("Aggregate = %+v, Decide = %+v", v, d)
			}
		})
	}
}

// aggregateReference is semantics §3 rules 1–5 written out as one switch,
// as Aggregate was before it took them from Decide: the reference Decide
// is held to.
func aggregateReference(f Facts, now time.Time) (Pair, bool) {
	best, bestPair := bestSession(f.Sessions, now)
	var p Pair
	switch {
	case best == nil:
		p = Pair{Offline, Offline}
	case f.Preferred != nil && now.Before(f.Preferred.ExpiresAt):
		p = f.Preferred.Pair
	default:
		p = bestPair
		if (bestPair.Availability == Available || bestPair == Pair{Away, Away}) && meetingAt(f.Events, now) {
			p = Pair{Busy, InAMeeting}
		}
	}
	oof := autoRepliesActive(f.AutoReplies, now) || oofEventAt(f.Events, now)
	if oof && plainActivity(p.Activity) {
		p.Activity = OutOfOffice
	}
	return p, oof
}

// TestDecideAgreesWithAggregate holds Decide, Aggregate and the reference
// to the same answer on random facts at random instants, and checks that
// the rule Decide names is the one that applies: no live session for
// rule 1, the preferred pair for rule 2, the named session's own pair
// for rule 3, and a meeting over an Available or Away session for rule 4
// (which, without the calendar, would have been rule 3 with that session).
func TestDecideAgreesWithAggregate(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 15))
	for i := range 20000 {
		f := randomFacts(r)
		now := at(time.Duration(r.Int64N(int64(12 * time.Hour))))
		d := Decide(f, now)
		v := Aggregate(f, now)
		refPair, refOOF := aggregateReference(f, now)
		if d.Pair != refPair || v.Pair != refPair || d.OutOfOffice.On() != refOOF || v.OutOfOffice.IsOutOfOffice != refOOF {
			t.Fatalf("case %d at %v: Decide %+v, Aggregate %+v, reference %v %v; facts %+v", i, now.Sub(t0), d, v, refPair, refOOF, f)
		}
		before := d.Pair // the pair the deciding rule gave, before rule 5
		if d.OutOfOffice.ReplacedActivity {
			if !d.OutOfOffice.On() || d.Pair.Activity != OutOfOffice {
				t.Fatalf("case %d: activity replaced without out of office: %+v", i, d)
			}
			before = Pair{}
		}
		live := false
		for _, s := range f.Sessions {
			if now.Before(s.ExpiresAt) {
				live = true
			}
		}
		if (d.Rule == RuleNoSession) == live || (d.Session >= 0) != live {
			t.Fatalf("case %d: rule %v with live sessions %v: %+v", i, d.Rule, live, d)
		}
		if d.Session >= 0 {
			if p, ok := SessionState(f.Sessions[d.Session], now); !ok || p != d.SessionPair {
				t.Fatalf("case %d: session %d is %v %v, Decide says %v", i, d.Session, p, ok, d.SessionPair)
			}
		}
		switch d.Rule {
		case RuleNoSession:
			if before != (Pair{}) && before != pOffline {
				t.Fatalf("case %d: rule 1 gave %v", i, d.Pair)
			}
		case RulePreferred:
			if f.Preferred == nil || !now.Before(f.Preferred.ExpiresAt) || (before != Pair{} && before != f.Preferred.Pair) {
				t.Fatalf("case %d: rule 2 without a live preferred presence: %+v", i, d)
			}
		case RuleSession:
			if before != (Pair{}) && before != d.SessionPair {
				t.Fatalf("case %d: rule 3 gave %v, not its session's %v", i, d.Pair, d.SessionPair)
			}
		case RuleMeeting:
			noCal := f
			noCal.Events, noCal.AutoReplies = nil, nil
			if w := Decide(noCal, now); !d.Meeting || w.Rule != RuleSession || w.Session != d.Session || d.Pair.Availability != Busy {
				t.Fatalf("case %d: rule 4 %+v, without the calendar %+v", i, d, w)
			}
		default:
			t.Fatalf("case %d: unknown rule %v", i, d.Rule)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	f := Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour), sess("b", pInACall, 0, time.Hour)},
		Events: []Event{meeting(0, time.Hour)}, AutoReplies: &AutoReplies{Status: RepliesAlwaysEnabled}}
	for b.Loop() {
		Decide(f, at(time.Minute))
	}
}
