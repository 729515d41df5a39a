package mailbox

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/presenced/presenced/calendar"
	"github.com/presenced/presenced/presence"
)

// ItemBody is Graph's itemBody.
type ItemBody struct {
	ContentType string `json:"contentType"`
	Content     string `json:"content"`
}

// EmailAddress is Graph's emailAddress.
type EmailAddress struct {
	Name    string `json:"name"`
	Address string `json:"address"`
}

// Attendee is Graph's attendee (its status is not tracked: presenced sends
// no invitations).
type Attendee struct {
	Type         string       `json:"type"`
	EmailAddress EmailAddress `json:"emailAddress"`
}

// Event is an event as stored and as Graph shows it (before its times are
// rendered in the reader's zone).
type Event struct {
	ID                   string                     `json:"id"`
	CreatedDateTime      time.Time                  `json:"createdDateTime"`
	LastModifiedDateTime time.Time                  `json:"lastModifiedDateTime"`
	Subject              string                     `json:"subject"`
	Body                 ItemBody                   `json:"body"`
	Start                calendar.DateTimeTimeZone  `json:"start"`
	End                  calendar.DateTimeTimeZone  `json:"end"`
	IsAllDay             bool                       `json:"isAllDay"`
	ShowAs               string                     `json:"showAs"`
	Attendees            []Attendee                 `json:"attendees"`
	IsOnlineMeeting      bool                       `json:"isOnlineMeeting"`
	IsCancelled          bool                       `json:"isCancelled"`
	Recurrence           *calendar.Recurrence       `json:"recurrence,omitempty"`
	Exceptions           map[string]*OccurrenceEdit `json:"exceptions,omitempty"` // by original date
}

// OccurrenceEdit is what was changed on one occurrence of a series
// (Deleted: the occurrence was deleted).
type OccurrenceEdit struct {
	Deleted bool                       `json:"deleted,omitempty"`
	Subject *string                    `json:"subject,omitempty"`
	Body    *ItemBody                  `json:"body,omitempty"`
	Start   *calendar.DateTimeTimeZone `json:"start,omitempty"`
	End     *calendar.DateTimeTimeZone `json:"end,omitempty"`
	ShowAs  *string                    `json:"showAs,omitempty"`
}

// Input is the properties of a POST or PATCH of an event; nil: not given.
type Input struct {
	Subject         *string
	Body            *ItemBody
	Start, End      *calendar.DateTimeTimeZone
	IsAllDay        *bool
	ShowAs          *string
	Attendees       *[]Attendee
	IsOnlineMeeting *bool
	IsCancelled     *bool
	Recurrence      *calendar.Recurrence
}

// Limits bound what one user's calendar holds (docs/security.md).
type Limits struct {
	EventsPerUser       int // default 500
	ExceptionsPerSeries int // default 100
	Attendees           int // per event, default 500
	SubjectChars        int // default 255
	BodyBytes           int // an event's body.content, default 64 KiB
	ReplyBytes          int // each automatic-reply message, default 8 KiB
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.EventsPerUser, 500)
	def(&l.ExceptionsPerSeries, 100)
	def(&l.Attendees, 500)
	def(&l.SubjectChars, 255)
	def(&l.BodyBytes, 64<<10)
	def(&l.ReplyBytes, 8<<10)
	return l
}

var (
	showAsValues    = []string{presence.ShowAsFree, presence.ShowAsTentative, presence.ShowAsBusy, presence.ShowAsOOF, presence.ShowAsWorkingElsewhere, presence.ShowAsUnknown}
	attendeeTypes   = []string{"required", "optional", "resource"}
	bodyContentType = []string{"text", "html"}
)

func invalid(field, format string, args ...any) error {
	return presence.Errorf(presence.Invalid, field, format, args...)
}

func canonical(v string, accepted []string) (string, bool) { return calendar.Canonical(v, accepted) }

// apply merges in into e (a new event when e is zero) and checks the
// result whole: the event that would be stored is valid, or nothing is.
func (l Limits) apply(e Event, in Input) (Event, error) {
	if in.Subject != nil {
		e.Subject = *in.Subject
	}
	if in.Body != nil {
		e.Body = *in.Body
	}
	if in.Start != nil {
		e.Start = *in.Start
	}
	if in.End != nil {
		e.End = *in.End
	}
	if in.IsAllDay != nil {
		e.IsAllDay = *in.IsAllDay
	}
	if in.ShowAs != nil {
		e.ShowAs = *in.ShowAs
	}
	if in.Attendees != nil {
		e.Attendees = slices.Clone(*in.Attendees)
	}
	if in.IsOnlineMeeting != nil {
		e.IsOnlineMeeting = *in.IsOnlineMeeting
	}
	if in.IsCancelled != nil {
		e.IsCancelled = *in.IsCancelled
	}
	if in.Recurrence != nil {
		r := *in.Recurrence
		e.Recurrence = &r
	}
	if e.ShowAs == "" {
		e.ShowAs = presence.ShowAsBusy // Graph's default for a new event
	}
	if err := l.check(&e); err != nil {
		return Event{}, err
	}
	return e, nil
}

// check validates e and puts its names in canonical form.
func (l Limits) check(e *Event) error {
	if n := utf8.RuneCountInString(e.Subject); n > l.SubjectChars {
		return invalid("subject", "subject is %d characters long; at most %d are accepted.", n, l.SubjectChars)
	}
	if err := l.checkBody("body", &e.Body); err != nil {
		return err
	}
	v, ok := canonical(e.ShowAs, showAsValues)
	if !ok {
		return invalid("showAs", "showAs '%s' is not accepted; accepted: %s.", clip(e.ShowAs), strings.Join(showAsValues, ", "))
	}
	e.ShowAs = v
	if len(e.Attendees) > l.Attendees {
		return invalid("attendees", "an event has at most %d attendees; this one has %d.", l.Attendees, len(e.Attendees))
	}
	for i := range e.Attendees {
		a := &e.Attendees[i]
		if a.Type == "" {
			a.Type = "required"
		}
		t, ok := canonical(a.Type, attendeeTypes)
		if !ok {
			return invalid(fmt.Sprintf("attendees[%d].type", i), "attendees[%d].type '%s' is not accepted; accepted: %s.", i, clip(a.Type), strings.Join(attendeeTypes, ", "))
		}
		a.Type = t
		if a.EmailAddress.Address == "" || !strings.Contains(a.EmailAddress.Address, "@") || len(a.EmailAddress.Address) > 320 {
			return invalid(fmt.Sprintf("attendees[%d].emailAddress.address", i), "attendees[%d].emailAddress.address must be an email address (at most 320 characters).", i)
		}
		if len(a.EmailAddress.Name) > 256 {
			return invalid(fmt.Sprintf("attendees[%d].emailAddress.name", i), "attendees[%d].emailAddress.name is longer than 256 bytes.", i)
		}
	}
	if e.Start.DateTime == "" && e.Start.TimeZone == "" {
		return invalid("start", "start is required: a dateTimeTimeZone such as {\"dateTime\": \"2026-03-02T09:00:00\", \"timeZone\": \"Pacific Standard Time\"}.")
	}
	if e.End.DateTime == "" && e.End.TimeZone == "" {
		return invalid("end", "end is required: a dateTimeTimeZone such as {\"dateTime\": \"2026-03-02T09:30:00\", \"timeZone\": \"Pacific Standard Time\"}.")
	}
	start, sloc, err := calendar.ParseDateTime(e.Start, "start")
	if err != nil {
		return err
	}
	end, eloc, err := calendar.ParseDateTime(e.End, "end")
	if err != nil {
		return err
	}
	if end.Before(start) {
		return invalid("end", "end (%s %s) is before start (%s %s).", e.End.DateTime, e.End.TimeZone, e.Start.DateTime, e.Start.TimeZone)
	}
	if e.IsAllDay {
		if calendar.ClockOf(start) != 0 || calendar.ClockOf(end) != 0 || !end.After(start) || sloc.String() != eloc.String() {
			return invalid("isAllDay", "an all-day event starts and ends at midnight, in the same time zone, at least a day apart; got start %s %s and end %s %s.",
				e.Start.DateTime, e.Start.TimeZone, e.End.DateTime, e.End.TimeZone)
		}
	}
	if e.Recurrence != nil {
		if _, err := calendar.Compile(*e.Recurrence); err != nil {
			return err
		}
		n := e.Recurrence.Normalized()
		e.Recurrence = &n
		if len(e.Exceptions) > l.ExceptionsPerSeries {
			return invalid("recurrence", "a series holds at most %d deleted or edited occurrences.", l.ExceptionsPerSeries)
		}
	}
	return nil
}

func (l Limits) checkBody(field string, b *ItemBody) error {
	if b.ContentType == "" {
		b.ContentType = "text"
	}
	ct, ok := canonical(b.ContentType, bodyContentType)
	if !ok {
		return invalid(field+".contentType", "%s.contentType '%s' is not accepted; accepted: text, html.", field, clip(b.ContentType))
	}
	b.ContentType = ct
	if len(b.Content) > l.BodyBytes {
		return invalid(field+".content", "%s.content is %d bytes long; at most %d are accepted.", field, len(b.Content), l.BodyBytes)
	}
	return nil
}

// item is what the calendar index keeps of e (calendar.Item).
func item(e *Event) calendar.Item {
	start, _, _ := calendar.ParseDateTime(e.Start, "start")
	end, _, _ := calendar.ParseDateTime(e.End, "end")
	it := calendar.Item{ID: e.ID, Start: start.UTC(), End: end.UTC(), Zone: e.Start.TimeZone, ShowAs: e.ShowAs, IsAllDay: e.IsAllDay, Cancelled: e.IsCancelled, Recurrence: e.Recurrence}
	if e.Recurrence == nil {
		return it
	}
	dates := make([]string, 0, len(e.Exceptions))
	for d := range e.Exceptions {
		dates = append(dates, d)
	}
	slices.Sort(dates)
	for _, d := range dates {
		x := e.Exceptions[d]
		c := calendar.Change{Date: d, Deleted: x.Deleted}
		if !x.Deleted {
			in, _ := occurrenceOf(e, d)
			c.Start, c.End, c.ShowAs, c.IsAllDay = in.start, in.end, in.showAs, e.IsAllDay
		}
		it.Exceptions = append(it.Exceptions, c)
	}
	return it
}

// occurrence is one occurrence of a series with its edits applied.
type occurrence struct {
	start, end time.Time
	showAs     string
	edited     bool
}

// occurrenceOf is the occurrence of series e originally on date d
// (yyyy-mm-dd), with its edits; false when d is not one of its dates or
// the occurrence was deleted.
func occurrenceOf(e *Event, d string) (occurrence, bool) {
	date, err := calendar.ParseDate(d, "")
	if err != nil {
		return occurrence{}, false
	}
	base := *e
	base.Exceptions = nil
	it := item(&base)
	in, ok := it.Instance(date)
	if !ok {
		return occurrence{}, false
	}
	o := occurrence{start: in.Start, end: in.End, showAs: e.ShowAs}
	x := e.Exceptions[d]
	if x == nil {
		return o, true
	}
	if x.Deleted {
		return occurrence{}, false
	}
	o.edited = true
	if x.Start != nil {
		o.start, _, _ = calendar.ParseDateTime(*x.Start, "start")
	}
	if x.End != nil {
		o.end, _, _ = calendar.ParseDateTime(*x.End, "end")
	}
	if x.ShowAs != nil {
		o.showAs = *x.ShowAs
	}
	return o, true
}

func clip(s string) string {
	return presence.Clip(s, 80)
}
