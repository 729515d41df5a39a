package presence

import "time"

// Calendar showAs values that presence looks at.
const (
	ShowAsFree             = "free"
	ShowAsTentative        = "tentative"
	ShowAsBusy             = "busy"
	ShowAsOOF              = "oof"
	ShowAsWorkingElsewhere = "workingElsewhere"
	ShowAsUnknown          = "unknown"
)

// SessionState is the effective pair of one session at t (semantics §2):
// false when the session has expired (t >= ExpiresAt). Only
// Available/Available fades: to Available/AvailableInactive after
// FadeInactive idle, to Away/Away after FadeAway.
func SessionState(s Session, t time.Time) (Pair, bool) {
	if !t.Before(s.ExpiresAt) {
		return Pair{}, false
	}
	if s.Pair != (Pair{Available, Available}) {
		return s.Pair, true
	}
	switch idle := t.Sub(s.RefreshedAt); {
	case idle < FadeInactive:
		return Pair{Available, Available}, true
	case idle < FadeAway:
		return Pair{Available, AvailableInactive}, true
	default:
		return Pair{Away, Away}, true
	}
}

// availabilityRank orders availabilities for rule 3: DoNotDisturb > Busy >
// Available > Away; anything else (never written by setPresence) ranks last.
func availabilityRank(a string) int {
	switch a {
	case DoNotDisturb:
		return 4
	case Busy:
		return 3
	case Available:
		return 2
	case Away:
		return 1
	}
	return 0
}

// activityRank orders activities that share an availability (rule 3):
// Presenting > DoNotDisturb; InAConferenceCall > InACall > Busy;
// Available > AvailableInactive. It is only compared within one availability.
func activityRank(a string) int {
	switch a {
	case Presenting, InAConferenceCall:
		return 3
	case InACall, Available:
		return 2
	case DoNotDisturb, Busy, AvailableInactive:
		return 1
	}
	return 0
}

// beats reports whether session a (effective pair pa) outranks session b
// (pb) under rule 3. The last resort, the smaller session ID, only makes the
// result independent of slice order.
func beats(a Session, pa Pair, b Session, pb Pair) bool {
	if ra, rb := availabilityRank(pa.Availability), availabilityRank(pb.Availability); ra != rb {
		return ra > rb
	}
	if ra, rb := activityRank(pa.Activity), activityRank(pb.Activity); ra != rb {
		return ra > rb
	}
	if !a.RefreshedAt.Equal(b.RefreshedAt) {
		return a.RefreshedAt.After(b.RefreshedAt)
	}
	return a.ID < b.ID
}

// bestSession is the live session rule 3 picks at now and its effective
// pair; nil when no session is live. Among sessions with equal effective
// pairs the choice is invisible in the view, but it is still made
// deterministically.
func bestSession(ss []Session, now time.Time) (*Session, Pair) {
	var best *Session
	var bestPair Pair
	for i := range ss {
		s := &ss[i]
		p, live := SessionState(*s, now)
		if !live {
			continue
		}
		if best == nil || beats(*s, p, *best, bestPair) {
			best, bestPair = s, p
		}
	}
	return best, bestPair
}

// meetingAt reports whether a meeting event (showAs busy or tentative, not
// all-day) covers t.
func meetingAt(events []Event, t time.Time) bool {
	for _, e := range events {
		if e.IsMeeting && !e.IsAllDay && (e.ShowAs == ShowAsBusy || e.ShowAs == ShowAsTentative) && covers(e, t) {
			return true
		}
	}
	return false
}

func covers(e Event, t time.Time) bool { return !t.Before(e.Start) && t.Before(e.End) }

// autoRepliesActive reports whether automatic replies are on at t.
func autoRepliesActive(a *AutoReplies, t time.Time) bool {
	if a == nil {
		return false
	}
	switch a.Status {
	case RepliesAlwaysEnabled:
		return true
	case RepliesScheduled:
		return !t.Before(a.ScheduledStart) && t.Before(a.ScheduledEnd)
	}
	return false
}

// oofEventAt reports whether an event with showAs oof covers t.
func oofEventAt(events []Event, t time.Time) bool {
	for _, e := range events {
		if e.ShowAs == ShowAsOOF && covers(e, t) {
			return true
		}
	}
	return false
}

// plainActivity lists the activities that rule 5 replaces by OutOfOffice.
func plainActivity(a string) bool {
	switch a {
	case Available, Away, BeRightBack, Offline, OffWork, AvailableInactive:
		return true
	}
	return false
}

// Aggregate is the presence a reader sees at now (semantics §2–§3). Rules
// 1–5 are Decide's; rule 6, the status message, is added here.
func Aggregate(f Facts, now time.Time) View {
	v := View{WorkLocation: workLocationAt(f.Location, now)}
	d := Decide(f, now)
	v.Pair = d.Pair
	// Rule 5's message is the automatic-reply text, shown only while
	// automatic replies are on: a stale text of a disabled setting says
	// nothing true about an oof event.
	if d.OutOfOffice.On() {
		v.OutOfOffice.IsOutOfOffice = true
		if d.OutOfOffice.AutomaticReplies && f.AutoReplies.InternalReplyMessage != "" {
			m := f.AutoReplies.InternalReplyMessage
			v.OutOfOffice.Message = &m
		}
	}

	// Rule 6: the status message, unless it has expired.
	if s := f.Status; s != nil && (s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt)) {
		v.Status = cloneStatus(s)
	}
	return v
}

func cloneStatus(s *StatusMessage) *StatusMessage {
	if s == nil {
		return nil
	}
	c := *s
	if s.Expiry != nil {
		e := *s.Expiry
		c.Expiry = &e
	}
	return &c
}

// Equal reports whether v and o look the same to every reader: pair, OOF
// flag and message, status message (content, contentType, expiry as given
// and resolved, published time) and work location.
func (v View) Equal(o View) bool {
	if v.Pair != o.Pair || v.OutOfOffice.IsOutOfOffice != o.OutOfOffice.IsOutOfOffice ||
		!equalStringPtr(v.OutOfOffice.Message, o.OutOfOffice.Message) {
		return false
	}
	if (v.Status == nil) != (o.Status == nil) {
		return false
	}
	if v.Status != nil {
		a, b := v.Status, o.Status
		if a.Content != b.Content || a.ContentType != b.ContentType ||
			!a.ExpiresAt.Equal(b.ExpiresAt) || !a.PublishedAt.Equal(b.PublishedAt) ||
			(a.Expiry == nil) != (b.Expiry == nil) || (a.Expiry != nil && *a.Expiry != *b.Expiry) {
			return false
		}
	}
	w, x := v.WorkLocation, o.WorkLocation
	return w.WorkLocationType == x.WorkLocationType && w.Source == x.Source && equalStringPtr(w.PlaceID, x.PlaceID)
}

func equalStringPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}
