package presence

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

var (
	pAvailable   = Pair{Available, Available}
	pInactive    = Pair{Available, AvailableInactive}
	pAway        = Pair{Away, Away}
	pInACall     = Pair{Busy, InACall}
	pConference  = Pair{Busy, InAConferenceCall}
	pPresenting  = Pair{DoNotDisturb, Presenting}
	pBusyBusy    = Pair{Busy, Busy}
	pDND         = Pair{DoNotDisturb, DoNotDisturb}
	pBRB         = Pair{BeRightBack, BeRightBack}
	pOffline     = Pair{Offline, Offline}
	pOffWork     = Pair{Offline, OffWork}
	pInAMeeting  = Pair{Busy, InAMeeting}
	pAvailOOF    = Pair{Available, OutOfOffice}
	pOfflineOOF  = Pair{Offline, OutOfOffice}
	pAwayOOF     = Pair{Away, OutOfOffice}
	pBusyMeeting = pInAMeeting
)

// sess is a session refreshed at t0+refreshed that expires at t0+expires.
func sess(id string, p Pair, refreshed, expires time.Duration) Session {
	return Session{ID: id, Pair: p, RefreshedAt: at(refreshed), ExpiresAt: at(expires)}
}

func pref(p Pair, expires time.Duration) *Preferred {
	return &Preferred{Pair: p, SetAt: t0, ExpiresAt: at(expires)}
}

func meeting(start, end time.Duration) Event {
	return Event{Start: at(start), End: at(end), ShowAs: ShowAsBusy, IsMeeting: true}
}

func strp(s string) *string { return &s }

func TestSessionState(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Session
		at   time.Duration
		want Pair
		live bool
	}{
		{"§2 a session is live before expiresAt", sess("a", pInACall, 0, time.Hour), time.Hour - time.Nanosecond, pInACall, true},
		{"§2 a session does not exist at exactly expiresAt", sess("a", pInACall, 0, time.Hour), time.Hour, Pair{}, false},
		{"§2 Available stays Available under 5 idle minutes", sess("a", pAvailable, 0, 4*time.Hour), 5*time.Minute - time.Nanosecond, pAvailable, true},
		{"§2 Available fades to AvailableInactive after exactly 5 idle minutes", sess("a", pAvailable, 0, 4*time.Hour), 5 * time.Minute, pInactive, true},
		{"§2 AvailableInactive until just before 10 idle minutes", sess("a", pAvailable, 0, 4*time.Hour), 10*time.Minute - time.Nanosecond, pInactive, true},
		{"§2 Available fades to Away after exactly 10 idle minutes", sess("a", pAvailable, 0, 4*time.Hour), 10 * time.Minute, pAway, true},
		{"§2 a faded session still expires", sess("a", pAvailable, 0, time.Hour), time.Hour, Pair{}, false},
		{"§2 Busy/InACall does not fade", sess("a", pInACall, 0, 4*time.Hour), 3 * time.Hour, pInACall, true},
		{"§2 DoNotDisturb/Presenting does not fade", sess("a", pPresenting, 0, 4*time.Hour), 3 * time.Hour, pPresenting, true},
		{"§2 Away/Away stays Away", sess("a", pAway, 0, 4*time.Hour), 3 * time.Hour, pAway, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, live := SessionState(tc.s, at(tc.at))
			if got != tc.want || live != tc.live {
				t.Fatalf("SessionState = %v, %v; want %v, %v", got, live, tc.want, tc.live)
			}
		})
	}
}

func TestAggregatePair(t *testing.T) {
	type tcase struct {
		name    string
		f       Facts
		at      time.Duration
		want    Pair
		oof     bool
		message *string
	}
	oofReplies := &AutoReplies{Status: RepliesAlwaysEnabled, InternalReplyMessage: "On leave until Monday"}
	for _, tc := range []tcase{
		// §3.1
		{name: "§3.1 no session at all is Offline/Offline", f: Facts{}, want: pOffline},
		{name: "§3.1 only expired sessions is Offline/Offline", f: Facts{Sessions: []Session{sess("a", pInACall, 0, 5*time.Minute)}}, at: 5 * time.Minute, want: pOffline},
		{name: "§3.1 preferred is hidden when no session is live", f: Facts{Preferred: pref(pBusyBusy, 24*time.Hour)}, at: time.Minute, want: pOffline},
		{name: "§3.1 a meeting does not make a user without session busy", f: Facts{Events: []Event{meeting(0, time.Hour)}}, at: time.Minute, want: pOffline},

		// §3.2
		{name: "§3.2 preferred beats every session", f: Facts{Sessions: []Session{sess("a", pPresenting, 0, time.Hour)}, Preferred: pref(pAway, 24*time.Hour)}, at: time.Minute, want: pAway},
		{name: "§3.2 preferred Offline/OffWork is appear-offline", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Preferred: pref(pOffWork, 24*time.Hour)}, at: time.Minute, want: pOffWork},
		{name: "§3.2 preferred BeRightBack shows", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Preferred: pref(pBRB, 24*time.Hour)}, at: time.Minute, want: pBRB},
		{name: "§3.2 preferred is gone at exactly its expiresAt", f: Facts{Sessions: []Session{sess("a", pInACall, 0, 4*time.Hour)}, Preferred: pref(pBusyBusy, time.Hour)}, at: time.Hour, want: pInACall},
		{name: "§3.2 preferred shows just before its expiresAt", f: Facts{Sessions: []Session{sess("a", pInACall, 0, 4*time.Hour)}, Preferred: pref(pDND, time.Hour)}, at: time.Hour - time.Nanosecond, want: pDND},
		{name: "§3.2 preferred beats a meeting", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Preferred: pref(pAvailable, 24*time.Hour), Events: []Event{meeting(0, time.Hour)}}, at: time.Minute, want: pAvailable},
		{name: "§3.2 preferred Available does not fade", f: Facts{Sessions: []Session{sess("a", pInACall, 0, 4*time.Hour)}, Preferred: pref(pAvailable, 24*time.Hour)}, at: 2 * time.Hour, want: pAvailable},

		// §3.3
		{name: "§3.3 DoNotDisturb beats Busy", f: Facts{Sessions: []Session{sess("a", pConference, 0, time.Hour), sess("b", pPresenting, 0, time.Hour)}}, at: time.Minute, want: pPresenting},
		{name: "§3.3 Busy beats Available", f: Facts{Sessions: []Session{sess("a", pAvailable, time.Minute, time.Hour), sess("b", pInACall, 0, time.Hour)}}, at: 2 * time.Minute, want: pInACall},
		{name: "§3.3 Available beats Away", f: Facts{Sessions: []Session{sess("a", pAway, time.Minute, time.Hour), sess("b", pAvailable, 0, time.Hour)}}, at: 2 * time.Minute, want: pAvailable},
		{name: "§3.3 an app's Away cannot override a live Available", f: Facts{Sessions: []Session{sess("teams", pAvailable, 0, time.Hour), sess("app", pAway, 4*time.Minute, time.Hour)}}, at: 4 * time.Minute, want: pAvailable},
		{name: "§3.3 a faded session ranks as AvailableInactive", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour), sess("b", pAway, 0, time.Hour)}}, at: 6 * time.Minute, want: pInactive},
		{name: "§3.3 a session faded to Away ranks as Away", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour), sess("b", pAvailable, 9*time.Minute, time.Hour)}}, at: 10 * time.Minute, want: pAvailable},
		{name: "§3.3 InAConferenceCall beats InACall", f: Facts{Sessions: []Session{sess("a", pInACall, time.Minute, time.Hour), sess("b", pConference, 0, time.Hour)}}, at: 2 * time.Minute, want: pConference},
		{name: "§3.3 Available beats AvailableInactive", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour), sess("b", pAvailable, 3*time.Minute, time.Hour)}}, at: 6 * time.Minute, want: pAvailable},
		{name: "§3.3 an expired DoNotDisturb no longer ranks", f: Facts{Sessions: []Session{sess("a", pPresenting, 0, 5*time.Minute), sess("b", pAway, 0, time.Hour)}}, at: 5 * time.Minute, want: pAway},

		// §3.4
		{name: "§3.4 a meeting makes Available Busy/InAMeeting", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Events: []Event{meeting(0, time.Hour)}}, at: time.Minute, want: pInAMeeting},
		{name: "§3.4 a meeting makes AvailableInactive Busy/InAMeeting", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Events: []Event{meeting(0, time.Hour)}}, at: 6 * time.Minute, want: pInAMeeting},
		{name: "§3.4 a meeting makes Away Busy/InAMeeting", f: Facts{Sessions: []Session{sess("a", pAway, 0, time.Hour)}, Events: []Event{meeting(0, time.Hour)}}, at: time.Minute, want: pInAMeeting},
		{name: "§3.4 a tentative meeting counts", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Events: []Event{{Start: t0, End: at(time.Hour), ShowAs: ShowAsTentative, IsMeeting: true}}}, at: time.Minute, want: pInAMeeting},
		{name: "§3.4 a call beats a meeting", f: Facts{Sessions: []Session{sess("a", pInACall, 0, time.Hour)}, Events: []Event{meeting(0, time.Hour)}}, at: time.Minute, want: pInACall},
		{name: "§3.4 a conference call beats a meeting", f: Facts{Sessions: []Session{sess("a", pConference, 0, time.Hour)}, Events: []Event{meeting(0, time.Hour)}}, at: time.Minute, want: pConference},
		{name: "§3.4 Presenting beats a meeting", f: Facts{Sessions: []Session{sess("a", pPresenting, 0, time.Hour)}, Events: []Event{meeting(0, time.Hour)}}, at: time.Minute, want: pPresenting},
		{name: "§3.4 a meeting starts at exactly its start", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Events: []Event{meeting(time.Minute, time.Hour)}}, at: time.Minute, want: pInAMeeting},
		{name: "§3.4 a meeting is over at exactly its end", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Events: []Event{meeting(0, 2*time.Minute)}}, at: 2 * time.Minute, want: pAvailable},
		{name: "§3.4 a meeting not yet started does nothing", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Events: []Event{meeting(2*time.Minute, time.Hour)}}, at: time.Minute, want: pAvailable},
		{name: "§3.4 an all-day meeting does not count", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Events: []Event{{Start: t0, End: at(24 * time.Hour), ShowAs: ShowAsBusy, IsMeeting: true, IsAllDay: true}}}, at: time.Minute, want: pAvailable},
		{name: "§3.4 a busy appointment that is not a meeting does not count", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Events: []Event{{Start: t0, End: at(time.Hour), ShowAs: ShowAsBusy}}}, at: time.Minute, want: pAvailable},
		{name: "§3.4 DoNotDisturb beats a meeting", f: Facts{Sessions: []Session{sess("a", pDND, 0, time.Hour)}, Events: []Event{meeting(0, time.Hour)}}, at: time.Minute, want: pDND},
		{name: "§3.4 Busy/Busy stays Busy/Busy in a meeting", f: Facts{Sessions: []Session{sess("a", pBusyBusy, 0, time.Hour)}, Events: []Event{meeting(0, time.Hour)}}, at: time.Minute, want: pBusyBusy},
		{name: "§3.4 BeRightBack is not made InAMeeting", f: Facts{Sessions: []Session{sess("a", pBRB, 0, time.Hour)}, Events: []Event{meeting(0, time.Hour)}}, at: time.Minute, want: pBRB},
		{name: "§3.4+§3.5 a meeting during an OOF window is Busy/InAMeeting with the flag", f: Facts{Sessions: []Session{sess("a", pAway, 0, time.Hour)}, Events: []Event{meeting(0, time.Hour), {Start: t0, End: at(24 * time.Hour), ShowAs: ShowAsOOF, IsAllDay: true}}}, at: time.Minute, want: pInAMeeting, oof: true},
		{name: "§3.4 a free meeting does not count", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Events: []Event{{Start: t0, End: at(time.Hour), ShowAs: ShowAsFree, IsMeeting: true}}}, at: time.Minute, want: pAvailable},

		// §3.5
		{name: "§3.5 alwaysEnabled replies make Available Available/OutOfOffice", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, AutoReplies: oofReplies}, at: time.Minute, want: pAvailOOF, oof: true, message: strp("On leave until Monday")},
		{name: "§3.5 offline and OOF is Offline/OutOfOffice", f: Facts{AutoReplies: oofReplies}, at: time.Minute, want: pOfflineOOF, oof: true, message: strp("On leave until Monday")},
		{name: "§3.5 a call keeps its activity, with the flag set", f: Facts{Sessions: []Session{sess("a", pInACall, 0, time.Hour)}, AutoReplies: oofReplies}, at: time.Minute, want: pInACall, oof: true, message: strp("On leave until Monday")},
		{name: "§3.5 Presenting keeps its activity", f: Facts{Sessions: []Session{sess("a", pPresenting, 0, time.Hour)}, AutoReplies: oofReplies}, at: time.Minute, want: pPresenting, oof: true, message: strp("On leave until Monday")},
		{name: "§3.5 InAMeeting keeps its activity", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Events: []Event{meeting(0, time.Hour)}, AutoReplies: oofReplies}, at: time.Minute, want: pBusyMeeting, oof: true, message: strp("On leave until Monday")},
		{name: "§3.5 preferred Busy keeps its activity", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Preferred: pref(pBusyBusy, time.Hour), AutoReplies: oofReplies}, at: time.Minute, want: pBusyBusy, oof: true, message: strp("On leave until Monday")},
		{name: "§3.5 preferred DoNotDisturb keeps its activity", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Preferred: pref(pDND, time.Hour), AutoReplies: oofReplies}, at: time.Minute, want: pDND, oof: true, message: strp("On leave until Monday")},
		{name: "§3.5 preferred OffWork becomes OutOfOffice", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Preferred: pref(pOffWork, time.Hour), AutoReplies: oofReplies}, at: time.Minute, want: pOfflineOOF, oof: true, message: strp("On leave until Monday")},
		{name: "§3.5 preferred BeRightBack becomes OutOfOffice", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Preferred: pref(pBRB, time.Hour), AutoReplies: oofReplies}, at: time.Minute, want: Pair{BeRightBack, OutOfOffice}, oof: true, message: strp("On leave until Monday")},
		{name: "§3.5 AvailableInactive becomes OutOfOffice", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, AutoReplies: oofReplies}, at: 6 * time.Minute, want: pAvailOOF, oof: true, message: strp("On leave until Monday")},
		{name: "§3.5 faded Away becomes Away/OutOfOffice", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, AutoReplies: oofReplies}, at: 10 * time.Minute, want: pAwayOOF, oof: true, message: strp("On leave until Monday")},
		{name: "§3.5 alwaysEnabled without a message has a null message", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, AutoReplies: &AutoReplies{Status: RepliesAlwaysEnabled}}, at: time.Minute, want: pAvailOOF, oof: true},
		{name: "§3.5 disabled replies are not OOF", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, AutoReplies: &AutoReplies{Status: RepliesDisabled, InternalReplyMessage: "old"}}, at: time.Minute, want: pAvailable},
		{name: "§3.5 scheduled replies are OOF from exactly scheduledStart", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, AutoReplies: &AutoReplies{Status: RepliesScheduled, ScheduledStart: at(time.Minute), ScheduledEnd: at(2 * time.Minute), InternalReplyMessage: "x"}}, at: time.Minute, want: pAvailOOF, oof: true, message: strp("x")},
		{name: "§3.5 scheduled replies are not OOF before scheduledStart", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, AutoReplies: &AutoReplies{Status: RepliesScheduled, ScheduledStart: at(time.Minute), ScheduledEnd: at(2 * time.Minute)}}, at: time.Minute - time.Nanosecond, want: pAvailable},
		{name: "§3.5 scheduled replies are not OOF at exactly scheduledEnd", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, AutoReplies: &AutoReplies{Status: RepliesScheduled, ScheduledStart: at(time.Minute), ScheduledEnd: at(2 * time.Minute)}}, at: 2 * time.Minute, want: pAvailable},
		{name: "§3.5 an oof event makes the user OOF", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Events: []Event{{Start: t0, End: at(time.Hour), ShowAs: ShowAsOOF}}}, at: time.Minute, want: pAvailOOF, oof: true},
		{name: "§3.5 an all-day oof event counts too", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Events: []Event{{Start: t0, End: at(24 * time.Hour), ShowAs: ShowAsOOF, IsAllDay: true}}}, at: time.Minute, want: pAvailOOF, oof: true},
		{name: "§3.5 an oof event ignores the text of disabled replies", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Events: []Event{{Start: t0, End: at(time.Hour), ShowAs: ShowAsOOF}}, AutoReplies: &AutoReplies{Status: RepliesDisabled, InternalReplyMessage: "stale"}}, at: time.Minute, want: pAvailOOF, oof: true},
		{name: "§3.5 an oof event is over at exactly its end", f: Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}, Events: []Event{{Start: t0, End: at(time.Minute), ShowAs: ShowAsOOF}}}, at: time.Minute, want: pAvailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Aggregate(tc.f, at(tc.at))
			if v.Pair != tc.want {
				t.Errorf("pair = %v, want %v", v.Pair, tc.want)
			}
			if v.OutOfOffice.IsOutOfOffice != tc.oof || !equalStringPtr(v.OutOfOffice.Message, tc.message) {
				t.Errorf("outOfOffice = %v %v, want %v %v", v.OutOfOffice.IsOutOfOffice, deref(v.OutOfOffice.Message), tc.oof, deref(tc.message))
			}
			if v.WorkLocation != (WorkLocation{WorkLocationType: WorkLocationUnspecified, Source: WorkLocationSourceNone}) {
				t.Errorf("work location = %+v, want unspecified/none/nil", v.WorkLocation)
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestAggregateTieBreaks(t *testing.T) {
	for _, tc := range []struct {
		name string
		ss   []Session
		at   time.Duration
		want string
	}{
		{"§3.3 DoNotDisturb outranks Busy", []Session{sess("a", pConference, 0, time.Hour), sess("b", pPresenting, 0, time.Hour)}, time.Minute, "b"},
		{"§3.3 Presenting is more specific than DoNotDisturb", []Session{sess("a", pDND, 0, time.Hour), sess("b", pPresenting, 0, time.Hour)}, time.Minute, "b"},
		{"§3.3 InACall is more specific than Busy", []Session{sess("a", pBusyBusy, time.Minute, time.Hour), sess("b", pInACall, 0, time.Hour)}, 2 * time.Minute, "b"},
		{"§3.3 InAConferenceCall is more specific than InACall", []Session{sess("a", pInACall, time.Minute, time.Hour), sess("b", pConference, 0, time.Hour)}, 2 * time.Minute, "b"},
		{"§3.3 Available is more specific than AvailableInactive", []Session{sess("a", pAvailable, 0, time.Hour), sess("b", pAvailable, 2*time.Minute, time.Hour)}, 6 * time.Minute, "b"},
		{"§3.3 equal pairs: the most recently refreshed session wins", []Session{sess("a", pInACall, time.Minute, time.Hour), sess("b", pInACall, 0, time.Hour)}, 2 * time.Minute, "a"},
		{"§3.3 equal pairs and refresh: the smallest session ID, whatever the order", []Session{sess("c", pInACall, 0, time.Hour), sess("b", pInACall, 0, time.Hour), sess("d", pInACall, 0, time.Hour)}, time.Minute, "b"},
		{"§3.3 expired sessions take no part", []Session{sess("a", pPresenting, 0, time.Minute), sess("b", pAway, 0, time.Hour)}, time.Minute, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for r := range tc.ss { // every rotation of the slice
				ss := append(slices.Clone(tc.ss[r:]), tc.ss[:r]...)
				best, _ := bestSession(ss, at(tc.at))
				if best == nil || best.ID != tc.want {
					t.Fatalf("order %d: winner %v, want %s", r, best, tc.want)
				}
				slices.Reverse(ss)
				if best, _ := bestSession(ss, at(tc.at)); best == nil || best.ID != tc.want {
					t.Fatalf("reversed order %d: winner %v, want %s", r, best, tc.want)
				}
			}
		})
	}
}

func TestAggregateStatusMessage(t *testing.T) {
	msg := &StatusMessage{Content: "Working from the lake", ContentType: "text", PublishedAt: t0, ExpiresAt: at(time.Hour),
		Expiry: &DateTimeTimeZone{"2025-03-10T10:00:00", "UTC"}}
	forever := &StatusMessage{Content: "Hi", ContentType: "text", PublishedAt: t0}
	for _, tc := range []struct {
		name string
		s    *StatusMessage
		at   time.Duration
		want *StatusMessage
	}{
		{"§3.6 a status message shows before it expires", msg, time.Hour - time.Nanosecond, msg},
		{"§3.6 a status message is gone at exactly its expiry", msg, time.Hour, nil},
		{"§3.6 a status message without expiry shows forever", forever, 10000 * time.Hour, forever},
		{"§3.6 a status message shows even with no session", msg, time.Minute, msg},
		{"§3.6 no status message", nil, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Aggregate(Facts{Status: tc.s}, at(tc.at))
			if (v.Status == nil) != (tc.want == nil) || (v.Status != nil && !(View{Status: v.Status}).Equal(View{Status: tc.want})) {
				t.Fatalf("status = %+v, want %+v", v.Status, tc.want)
			}
			if v.Status != nil && v.Status == tc.s {
				t.Fatal("the view shares the stored status message")
			}
		})
	}
}

func TestViewEqual(t *testing.T) {
	base := View{
		Pair:         pAvailable,
		OutOfOffice:  OutOfOfficeSettings{IsOutOfOffice: true, Message: strp("away")},
		Status:       &StatusMessage{Content: "x", ContentType: "text", PublishedAt: t0, ExpiresAt: at(time.Hour), Expiry: &DateTimeTimeZone{"2025-03-10T10:00:00", "UTC"}},
		WorkLocation: WorkLocation{WorkLocationType: "office", Source: "manual", PlaceID: strp("b1")},
	}
	clone := func(mod func(*View)) View {
		v := base
		v.OutOfOffice.Message = strp(*base.OutOfOffice.Message)
		v.Status = cloneStatus(base.Status)
		v.WorkLocation.PlaceID = strp(*base.WorkLocation.PlaceID)
		if mod != nil {
			mod(&v)
		}
		return v
	}
	if !base.Equal(clone(nil)) {
		t.Fatal("a deep copy is not Equal")
	}
	// Same instant in another zone is the same view.
	if !base.Equal(clone(func(v *View) { v.Status.PublishedAt = t0.In(time.FixedZone("x", 3600)) })) {
		t.Error("the same instant in another zone is a different view")
	}
	for name, mod := range map[string]func(*View){
		"activity":        func(v *View) { v.Pair.Activity = AvailableInactive },
		"availability":    func(v *View) { v.Pair.Availability = Away },
		"OOF flag":        func(v *View) { v.OutOfOffice.IsOutOfOffice = false },
		"OOF message":     func(v *View) { v.OutOfOffice.Message = strp("other") },
		"OOF message nil": func(v *View) { v.OutOfOffice.Message = nil },
		"status nil":      func(v *View) { v.Status = nil },
		"content":         func(v *View) { v.Status.Content = "y" },
		"contentType":     func(v *View) { v.Status.ContentType = "html" },
		"expiresAt":       func(v *View) { v.Status.ExpiresAt = at(2 * time.Hour) },
		"expiry":          func(v *View) { v.Status.Expiry = &DateTimeTimeZone{"2025-03-10T10:00:00", "Europe/London"} },
		"expiry nil":      func(v *View) { v.Status.Expiry = nil },
		"publishedAt":     func(v *View) { v.Status.PublishedAt = at(time.Second) },
		"work location":   func(v *View) { v.WorkLocation.WorkLocationType = "remote" },
		"source":          func(v *View) { v.WorkLocation.Source = "automatic" },
		"placeId":         func(v *View) { v.WorkLocation.PlaceID = strp("b2") },
		"placeId nil":     func(v *View) { v.WorkLocation.PlaceID = nil },
	} {
		o := clone(mod)
		if base.Equal(o) || o.Equal(base) {
			t.Errorf("§4 a change of %s is not a visible change", name)
		}
	}
}
