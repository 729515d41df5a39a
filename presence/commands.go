package presence

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxStatusMessage is the longest status message accepted, in characters.
const MaxStatusMessage = 280

// Command is one write to a user's presence facts. Validate checks the
// command on its own (no stored facts needed), so the HTTP layer can reject
// bad input before touching storage; Apply validates again and applies it.
type Command interface {
	Validate(now time.Time) error
	apply(f *Facts, now time.Time) error
}

// SetPresence creates or refreshes the session SessionID (setPresence).
// Whether SessionID belongs to the caller is ValidateSessionID's business,
// which needs the token's client ID. A new session must fit under Limits.
type SetPresence struct {
	SessionID  string
	Pair       Pair
	Expiration time.Duration // 0 = SessionDefaultExpiration
	Limits     SessionLimits // zero fields = the defaults
}

// ClearPresence removes the session SessionID (clearPresence).
type ClearPresence struct {
	SessionID string
}

// SetPreferred sets the user-preferred presence (setUserPreferredPresence).
type SetPreferred struct {
	Pair       Pair
	Expiration time.Duration // 0 = DefaultPreferredExpiration(Pair)
}

// ClearPreferred removes the user-preferred presence, if any
// (clearUserPreferredPresence; clearing nothing succeeds, as in Graph).
type ClearPreferred struct{}

// SetStatus sets the status message (setStatusMessage); empty Content
// clears it.
type SetStatus struct {
	Content, ContentType string
	Expiry               *DateTimeTimeZone // nil = never expires
}

// Normalized returns c with its pair in canonical form and its expiration
// defaulted, or the reason c is invalid.
func (c SetPresence) Normalized(now time.Time) (SetPresence, error) {
	if c.SessionID == "" {
		return c, Errorf(Invalid, "sessionId", "sessionId is required; it must be the calling application's client ID, optionally followed by ':' and a label of 1-64 characters [A-Za-z0-9._-]")
	}
	p, err := NormalizeSetPresencePair(c.Pair)
	if err != nil {
		return c, err
	}
	c.Pair = p
	if c.Expiration == 0 {
		c.Expiration = SessionDefaultExpiration
	}
	if err := CheckRange("expirationDuration", c.Expiration, SessionMinExpiration, SessionMaxExpiration); err != nil {
		return c, err
	}
	return c, nil
}

// Validate implements Command. It does not read now (ValidationReadsNow).
func (c SetPresence) Validate(now time.Time) error { _, err := c.Normalized(now); return err }

// ValidationReadsNow reports whether cmd.Validate reads its now: a
// setPresence's does not, and a write of one is then spared a clock read
// before it takes the user's lock (~0.06 µs on this box,
// docs/performance.md, branch coresess). TestValidationReadsNow checks
// the answer.
func ValidationReadsNow(cmd Command) bool {
	switch cmd.(type) {
	case SetPresence, *SetPresence:
		return false
	}
	return true
}

func (c SetPresence) apply(f *Facts, now time.Time) error {
	c, err := c.Normalized(now)
	if err != nil {
		return err
	}
	return c.applyNormalized(f, now)
}

// applyNormalized is apply of c as Normalized returned it (ApplyView's:
// it normalizes once for its validation and the write).
func (c *SetPresence) applyNormalized(f *Facts, now time.Time) error {
	s := Session{ID: c.SessionID, Pair: c.Pair, RefreshedAt: now, ExpiresAt: now.Add(c.Expiration)}
	if i := findSession(f.Sessions, c.SessionID); i >= 0 {
		f.Sessions[i] = s
	} else {
		// Apply has dropped the expired sessions: only live ones count.
		if err := c.Limits.admit(f.Sessions, c.SessionID); err != nil {
			return err
		}
		f.Sessions = append(f.Sessions, s)
	}
	// Sorted by ID so that stored facts encode deterministically.
	slices.SortFunc(f.Sessions, func(a, b Session) int { return strings.Compare(a.ID, b.ID) })
	return nil
}

// findSession finds a session by ID; IDs compare case-insensitively, like
// the client IDs (GUIDs) they start with.
func findSession(ss []Session, id string) int {
	return slices.IndexFunc(ss, func(s Session) bool { return sameSessionID(s.ID, id) })
}

// sameSessionID is strings.EqualFold(a, b), with the two answers a write
// nearly always gets decided first: the same bytes, or last bytes that
// are ASCII and differ in more than case. One app's sessions share its
// client id and differ at the end ("…:s0", "…:s1"), where EqualFold,
// going byte by byte from the start, found the difference last: a write
// to a user of four sessions compared ~300 bytes that way, twice
// (docs/performance.md, branch coresess). The shortcut is exact: an
// ASCII byte is a whole rune in any string, so two strings EqualFold
// pairs rune by rune end with their last bytes paired, and two ASCII
// bytes fold together only as upper and lower case of one letter.
// TestSameSessionID compares it with EqualFold.
func sameSessionID(a, b string) bool {
	if a == b {
		return true
	}
	if len(a) > 0 && len(b) > 0 {
		x, y := a[len(a)-1], b[len(b)-1]
		if x < utf8.RuneSelf && y < utf8.RuneSelf && lowerASCII(x) != lowerASCII(y) {
			return false
		}
	}
	return strings.EqualFold(a, b)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// Validate implements Command.
func (c ClearPresence) Validate(now time.Time) error {
	if c.SessionID == "" {
		return Errorf(Invalid, "sessionId", "sessionId is required; it is the sessionId given to setPresence")
	}
	return nil
}

func (c ClearPresence) apply(f *Facts, now time.Time) error {
	if err := c.Validate(now); err != nil {
		return err
	}
	i := findSession(f.Sessions, c.SessionID)
	if i < 0 || !now.Before(f.Sessions[i].ExpiresAt) {
		return Errorf(NotFound, "sessionId", "no presence session '%s' exists for this user", c.SessionID)
	}
	f.Sessions = slices.Delete(f.Sessions, i, i+1)
	return nil
}

// Normalized returns c with its pair in canonical form and its expiration
// defaulted, or the reason c is invalid.
func (c SetPreferred) Normalized(now time.Time) (SetPreferred, error) {
	p, err := NormalizePreferredPair(c.Pair)
	if err != nil {
		return c, err
	}
	c.Pair = p
	if c.Expiration == 0 {
		c.Expiration = DefaultPreferredExpiration(p)
	}
	if err := CheckRange("expirationDuration", c.Expiration, PreferredMinExpiration, PreferredMaxExpiration); err != nil {
		return c, err
	}
	return c, nil
}

// Validate implements Command.
func (c SetPreferred) Validate(now time.Time) error { _, err := c.Normalized(now); return err }

func (c SetPreferred) apply(f *Facts, now time.Time) error {
	c, err := c.Normalized(now)
	if err != nil {
		return err
	}
	f.Preferred = &Preferred{Pair: c.Pair, SetAt: now, ExpiresAt: now.Add(c.Expiration)}
	return nil
}

// Validate implements Command.
func (ClearPreferred) Validate(time.Time) error { return nil }

func (ClearPreferred) apply(f *Facts, _ time.Time) error {
	f.Preferred = nil
	return nil
}

// Normalized returns the status message c sets (nil when c clears it), or
// the reason c is invalid. contentType defaults to "text".
func (c SetStatus) Normalized(now time.Time) (*StatusMessage, error) {
	if c.Content == "" {
		return nil, nil
	}
	ct := c.ContentType
	switch {
	case ct == "" || strings.EqualFold(ct, "text"):
		ct = "text"
	case strings.EqualFold(ct, "html"):
		return nil, Errorf(Invalid, "statusMessage.message.contentType", "contentType 'html' is not supported for presence status messages; accepted: text")
	default:
		return nil, Errorf(Invalid, "statusMessage.message.contentType", "contentType '%s' is not accepted; accepted: text", c.ContentType)
	}
	if n := utf8.RuneCountInString(c.Content); n > MaxStatusMessage {
		return nil, Errorf(Invalid, "statusMessage.message.content", "status message content is %d characters long; at most %d characters are accepted", n, MaxStatusMessage)
	}
	if !utf8.ValidString(c.Content) {
		return nil, Errorf(Invalid, "statusMessage.message.content", "status message content is not valid UTF-8")
	}
	m := &StatusMessage{Content: c.Content, ContentType: ct, PublishedAt: now}
	if c.Expiry != nil {
		t, err := ResolveDateTimeTimeZone(*c.Expiry)
		if err != nil {
			return nil, err
		}
		if !t.After(now) {
			return nil, Errorf(Invalid, "statusMessage.expiryDateTime", "expiryDateTime %s %s (%s) is not in the future; omit it for a message that does not expire",
				c.Expiry.DateTime, c.Expiry.TimeZone, t.UTC().Format(time.RFC3339Nano))
		}
		e := *c.Expiry
		m.Expiry, m.ExpiresAt = &e, t.UTC()
	}
	return m, nil
}

// Validate implements Command.
func (c SetStatus) Validate(now time.Time) error { _, err := c.Normalized(now); return err }

func (c SetStatus) apply(f *Facts, now time.Time) error {
	m, err := c.Normalized(now)
	if err != nil {
		return err
	}
	f.Status = m
	return nil
}

// Apply applies cmd to f at now and reports the new facts and whether the
// visible presence changed. The sequence stamp moves exactly when it did
// (semantics §4). Expired sessions, preferred presence and status message
// are dropped on the way, which changes nothing visible. f is never
// modified; on error f is returned as it was.
//
// If now is before f.LastWrite (the clock stepped back), the write is
// applied at f.LastWrite, so that the facts' history never runs backwards.
func Apply(f Facts, cmd Command, now time.Time) (next Facts, changed bool, err error) {
	var a Applied
	next, err = ApplyView(f, cmd, now, &a)
	return next, a.Changed, err
}

// Applied is what ApplyView computed on its way that a caller reporting
// the write needs again: the view after it and the sequenceNumber before,
// at the instant the command was applied at. A write's report (core's
// snapshot for its callbacks) took them from Aggregate and Sequence a
// second time.
type Applied struct {
	// Changed reports whether the visible presence changed (Apply's).
	Changed bool
	// At is the instant the command was applied at: now, or f.LastWrite
	// if the clock stepped back (Apply). The rest hold at At only.
	At time.Time
	// Before is Sequence(f, At): the sequenceNumber the write replaced.
	Before Stamp
	// View is Aggregate(next, At): what the user shows after the write.
	View View

	// Room is the caller's, not a result: if it has room for next's
	// sessions, ApplyView builds them in it instead of allocating them
	// (core's write reuses one buffer from write to write: the
	// allocation, its copy and its collection were ~0.2 µs of a
	// four-session write, docs/performance.md, branch coresess). next
	// then shares Room's memory.
	Room []Session
}

// ApplyView is Apply, with what it computed on the way in *a (valid when
// err is nil).
func ApplyView(f Facts, cmd Command, now time.Time, a *Applied) (next Facts, err error) {
	if cmd == nil {
		return f, Errorf(Internal, "", "presence.Apply: nil command")
	}
	if now.Before(f.LastWrite) {
		now = f.LastWrite
	}
	// A setPresence (nearly every write) is normalized once, for its
	// validation and its application both: three pair normalizations a
	// write were two too many.
	var sp SetPresence
	isSet := false
	switch c := cmd.(type) {
	case SetPresence:
		sp, isSet = c, true
	case *SetPresence:
		sp, isSet = *c, true
	}
	if isSet {
		n, err := sp.Normalized(now)
		if err != nil {
			return f, err
		}
		sp = n
	} else if err := cmd.Validate(now); err != nil {
		return f, err
	}
	before := Aggregate(f, now)
	seq := Sequence(f, now)

	// Room for the session a setPresence adds: a copy exactly as long as
	// f's would be copied again by the append (a user's second session:
	// two allocations a write where one does).
	if extra := addsSession(cmd, f.Sessions); len(f.Sessions)+extra > 0 && cap(a.Room) >= len(f.Sessions)+extra {
		next = f.cloneWithSessions(append(a.Room[:0], f.Sessions...))
	} else {
		next = f.cloneWith(extra)
	}
	next.collect(now)
	if isSet {
		err = sp.applyNormalized(&next, now)
	} else {
		err = applyTo(cmd, &next, now)
	}
	if err != nil {
		return f, err
	}
	a.View = Aggregate(next, now)
	a.Changed = !a.View.Equal(before)
	if a.Changed {
		next.Seq = Bump(seq, now)
	} else {
		next.Seq = seq
	}
	next.LastWrite = now
	a.At, a.Before = now, seq
	return next, nil
}

// applyTo is cmd.apply(next, now) for a command other than setPresence
// (ApplyView applies that one to next directly, without moving next to
// the heap: called through the interface the compiler cannot see what
// apply does with the pointer, so Apply's result was allocated, ~300
// bytes, on every write). Other commands apply to a copy that goes to the
// heap, as before.
func applyTo(cmd Command, next *Facts, now time.Time) error {
	n := *next
	err := cmd.apply(&n, now)
	*next = n
	return err
}

// collect drops what has expired at now. None of it is visible at now or
// later, so the view does not change.
func (f *Facts) collect(now time.Time) {
	f.Sessions = slices.DeleteFunc(f.Sessions, func(s Session) bool { return !now.Before(s.ExpiresAt) })
	if f.Preferred != nil && !now.Before(f.Preferred.ExpiresAt) {
		f.Preferred = nil
	}
	if f.Status != nil && !f.Status.ExpiresAt.IsZero() && !now.Before(f.Status.ExpiresAt) {
		f.Status = nil
	}
	// Events over by now: a window keeps only what is still to come.
	f.Events = slices.DeleteFunc(f.Events, func(e Event) bool { return !now.Before(e.End) })
	if len(f.Events) == 0 {
		f.Events = nil
	}
	f.Location = f.Location.collect(now)
}

// addsSession is 1 if cmd is a setPresence of a session f has not, else 0.
func addsSession(cmd Command, f []Session) int {
	var id string
	switch c := cmd.(type) {
	case SetPresence:
		id = c.SessionID
	case *SetPresence:
		id = c.SessionID
	default:
		return 0
	}
	if findSession(f, id) >= 0 {
		return 0
	}
	return 1
}

// Clone returns a deep copy of f: no slice or pointer is shared.
func (f Facts) Clone() Facts { return f.cloneWith(0) }

// cloneWith is Clone with room for extra more sessions.
func (f Facts) cloneWith(extra int) Facts {
	if extra > 0 {
		return f.cloneWithSessions(append(make([]Session, 0, len(f.Sessions)+extra), f.Sessions...))
	}
	return f.cloneWithSessions(slices.Clone(f.Sessions))
}

// cloneWithSessions is Clone with ss, a copy of f's sessions, as its
// sessions.
func (f Facts) cloneWithSessions(ss []Session) Facts {
	c := f
	c.Sessions = ss
	c.Events = slices.Clone(f.Events)
	if f.Preferred != nil {
		p := *f.Preferred
		c.Preferred = &p
	}
	c.Status = cloneStatus(f.Status)
	if f.AutoReplies != nil {
		a := *f.AutoReplies
		c.AutoReplies = &a
	}
	c.Location = f.Location.clone()
	return c
}

// SetCalendar replaces the calendar events presence looks at (written by the
// events API). Start and End are required and End must be after Start;
// ShowAs is matched case-insensitively against the Graph freeBusyStatus
// values and normalised.
type SetCalendar struct {
	Events []Event
}

var showAsValues = []string{ShowAsFree, ShowAsTentative, ShowAsBusy, ShowAsOOF, ShowAsWorkingElsewhere, ShowAsUnknown}

// Normalized returns a copy of c's events with showAs normalised, or the
// reason c is invalid.
func (c SetCalendar) Normalized(time.Time) ([]Event, error) {
	evs := slices.Clone(c.Events)
	for i := range evs {
		e := &evs[i]
		if e.Start.IsZero() || e.End.IsZero() {
			return nil, Errorf(Invalid, fmt.Sprintf("events[%d]", i), "events[%d] needs both start and end", i)
		}
		if !e.End.After(e.Start) {
			return nil, Errorf(Invalid, fmt.Sprintf("events[%d].end", i), "events[%d] ends at %s, not after its start %s", i,
				e.End.UTC().Format(time.RFC3339), e.Start.UTC().Format(time.RFC3339))
		}
		if e.ShowAs == "" {
			e.ShowAs = ShowAsBusy // Graph's default for a new event
		}
		v, ok := canonical(e.ShowAs, showAsValues)
		if !ok {
			return nil, Errorf(Invalid, fmt.Sprintf("events[%d].showAs", i), "events[%d].showAs '%s' is not accepted; accepted: %s", i, e.ShowAs, strings.Join(showAsValues, ", "))
		}
		e.ShowAs = v
	}
	return evs, nil
}

// Validate implements Command.
func (c SetCalendar) Validate(now time.Time) error { _, err := c.Normalized(now); return err }

func (c SetCalendar) apply(f *Facts, now time.Time) error {
	evs, err := c.Normalized(now)
	if err != nil {
		return err
	}
	f.Events = evs
	return nil
}

// SetAutoReplies replaces the mailbox's automatic-replies setting (written
// by the mailboxSettings API); nil Settings removes it (same as disabled).
type SetAutoReplies struct {
	Settings *AutoReplies
}

var repliesValues = []string{RepliesDisabled, RepliesAlwaysEnabled, RepliesScheduled}

// Normalized returns a copy of c's settings with status normalised, or the
// reason c is invalid.
func (c SetAutoReplies) Normalized(time.Time) (*AutoReplies, error) {
	if c.Settings == nil {
		return nil, nil
	}
	a := *c.Settings
	st, ok := canonical(a.Status, repliesValues)
	if !ok {
		return nil, Errorf(Invalid, "automaticRepliesSetting.status", "automaticRepliesSetting.status '%s' is not accepted; accepted: %s", a.Status, strings.Join(repliesValues, ", "))
	}
	a.Status = st
	if st == RepliesScheduled {
		if a.ScheduledStart.IsZero() || a.ScheduledEnd.IsZero() {
			return nil, Errorf(Invalid, "automaticRepliesSetting.scheduledStartDateTime", "automatic replies with status scheduled need both scheduledStartDateTime and scheduledEndDateTime")
		}
		if !a.ScheduledEnd.After(a.ScheduledStart) {
			return nil, Errorf(Invalid, "automaticRepliesSetting.scheduledEndDateTime", "automaticRepliesSetting.scheduledEndDateTime must be after scheduledStartDateTime")
		}
	}
	return &a, nil
}

// Validate implements Command.
func (c SetAutoReplies) Validate(now time.Time) error { _, err := c.Normalized(now); return err }

func (c SetAutoReplies) apply(f *Facts, now time.Time) error {
	a, err := c.Normalized(now)
	if err != nil {
		return err
	}
	f.AutoReplies = a
	return nil
}

// SetWindow replaces what the calendar tells presence — the events of a
// window and the automatic replies — with what the mailbox computed from
// its calendar at revision Rev (written by the events and mailboxSettings
// APIs, and by the refresher that extends the window before Until). A
// window from an older revision than the stored one is not applied: two
// writes racing, or two nodes refreshing one user, leave the newest.
type SetWindow struct {
	Events      []Event
	AutoReplies *AutoReplies
	// Scheduled is the scheduled work location layer: the work plan's
	// occurrences of the window (the calendar's working hours and location).
	Scheduled []ScheduledLocation
	Until     time.Time
	Rev       uint64
	// Reset applies the window whatever revision the stored one has: the
	// calendar's stream was lost and its revisions no longer compare
	// with the stored one (the rebuild after an accepted loss).
	Reset bool
}

// Validate implements Command.
func (c SetWindow) Validate(now time.Time) error {
	if _, err := (SetCalendar{Events: c.Events}).Normalized(now); err != nil {
		return err
	}
	if _, err := (SetScheduledLocations{Spans: c.Scheduled}).Normalized(now); err != nil {
		return err
	}
	_, err := SetAutoReplies{Settings: c.AutoReplies}.Normalized(now)
	return err
}

func (c SetWindow) apply(f *Facts, now time.Time) error {
	if c.Rev < f.CalendarRev && !c.Reset {
		return nil
	}
	evs, err := SetCalendar{Events: c.Events}.Normalized(now)
	if err != nil {
		return err
	}
	a, err := SetAutoReplies{Settings: c.AutoReplies}.Normalized(now)
	if err != nil {
		return err
	}
	// What is over by now is invisible from now on: not kept.
	evs = slices.DeleteFunc(evs, func(e Event) bool { return !now.Before(e.End) })
	if len(evs) == 0 {
		evs = nil
	}
	spans, err := SetScheduledLocations{Spans: c.Scheduled}.Normalized(now)
	if err != nil {
		return err
	}
	spans = slices.DeleteFunc(spans, func(s ScheduledLocation) bool { return !now.Before(s.End) })
	if len(spans) > 0 || f.Location != nil {
		if f.Location == nil {
			f.Location = &WorkLocations{}
		}
		f.Location.Scheduled = spans
		if len(spans) == 0 {
			f.Location.Scheduled = nil
		}
		f.Location = f.Location.orNil()
	}
	f.Events, f.AutoReplies, f.CalendarUntil, f.CalendarRev = evs, a, c.Until, c.Rev
	return nil
}
