// Package presence is the domain of presenced: the values Graph accepts, the
// facts stored per user, and the pure rules that turn facts and an instant
// into the presence a reader sees (../shared/spec/semantics.md §1–§4).
//
// Nothing here does I/O or reads a clock: every function takes "now".
package presence

import (
	"time"
)

// Availability values (base state), PascalCase as on the wire.
const (
	Available       = "Available"
	AvailableIdle   = "AvailableIdle"
	Away            = "Away"
	BeRightBack     = "BeRightBack"
	Busy            = "Busy"
	BusyIdle        = "BusyIdle"
	DoNotDisturb    = "DoNotDisturb"
	Offline         = "Offline"
	PresenceUnknown = "PresenceUnknown"
)

// Activity values (supplemental state) that are not also availability values.
const (
	AvailableInactive       = "AvailableInactive"
	InACall                 = "InACall"
	InAConferenceCall       = "InAConferenceCall"
	Inactive                = "Inactive"
	InAMeeting              = "InAMeeting"
	OffWork                 = "OffWork"
	OutOfOffice             = "OutOfOffice"
	Presenting              = "Presenting"
	UrgentInterruptionsOnly = "UrgentInterruptionsOnly"
	Focusing                = "Focusing"
)

// Pair is an availability with its activity.
type Pair struct {
	Availability string `json:"availability"`
	Activity     string `json:"activity"`
}

func (p Pair) String() string { return p.Availability + "/" + p.Activity }

// Session is one presence session of a user: one app on one device.
type Session struct {
	ID          string    `json:"id"`
	Pair        Pair      `json:"pair"`
	RefreshedAt time.Time `json:"refreshedAt"`
	ExpiresAt   time.Time `json:"expiresAt"`
}

// Preferred is the user's own chosen presence; it beats every session.
type Preferred struct {
	Pair      Pair      `json:"pair"`
	SetAt     time.Time `json:"setAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// DateTimeTimeZone is Graph's dateTimeTimeZone: a local date-time with no
// offset and the name of its zone (Windows or IANA name).
type DateTimeTimeZone struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone"`
}

// StatusMessage is a user's custom note.
type StatusMessage struct {
	Content     string            `json:"content"`
	ContentType string            `json:"contentType"`
	Expiry      *DateTimeTimeZone `json:"expiry,omitempty"`   // as the caller gave it; nil = never expires
	ExpiresAt   time.Time         `json:"expiresAt,omitzero"` // Expiry resolved to an instant; zero = never
	PublishedAt time.Time         `json:"publishedAt"`
}

// Event is a calendar event as far as presence cares (semantics §3.4–3.5).
type Event struct {
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	ShowAs    string    `json:"showAs"` // free, tentative, busy, oof, workingElsewhere, unknown
	IsMeeting bool      `json:"isMeeting"`
	IsAllDay  bool      `json:"isAllDay"`
}

// Automatic-replies status values.
const (
	RepliesDisabled      = "disabled"
	RepliesAlwaysEnabled = "alwaysEnabled"
	RepliesScheduled     = "scheduled"
)

// AutoReplies is the mailbox's automatic-replies setting.
type AutoReplies struct {
	Status               string    `json:"status"`
	ScheduledStart       time.Time `json:"scheduledStart,omitzero"`
	ScheduledEnd         time.Time `json:"scheduledEnd,omitzero"`
	InternalReplyMessage string    `json:"internalReplyMessage,omitempty"`
}

// Stamp orders visible changes of one user's presence. Its String form is
// the Graph sequenceNumber: fixed width, so lexicographic order is the order
// of changes.
type Stamp struct {
	At int64  `json:"at"` // unix nanoseconds of the change
	N  uint32 `json:"n"`  // tie-breaker for several changes at one instant
}

// String renders the stamp as a fixed-width hex sequenceNumber: At in 16
// lowercase hex digits (two's complement), then N in 8.
func (s Stamp) String() string { return string(s.Append(make([]byte, 0, 24))) }

// Append appends String's form to b without allocating (responses write
// one per presence).
func (s Stamp) Append(b []byte) []byte {
	const hex = "0123456789abcdef"
	at := uint64(s.At)
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, hex[at>>shift&0xf])
	}
	for shift := 28; shift >= 0; shift -= 4 {
		b = append(b, hex[s.N>>shift&0xf])
	}
	return b
}

// Less reports whether s is older than o.
func (s Stamp) Less(o Stamp) bool { return s.At < o.At || (s.At == o.At && s.N < o.N) }

// Facts is everything stored about one user's presence. It is the unit the
// engine stores (one record per user) and the only input, with an instant,
// of Aggregate.
type Facts struct {
	Sessions    []Session      `json:"sessions,omitempty"`
	Preferred   *Preferred     `json:"preferred,omitempty"`
	Status      *StatusMessage `json:"status,omitempty"`
	Events      []Event        `json:"events,omitempty"`
	AutoReplies *AutoReplies   `json:"autoReplies,omitempty"`
	Location    *WorkLocations `json:"workLocation,omitempty"`

	// CalendarUntil is the end of the window Events were taken for: the
	// calendar's occurrences that touch [window start, CalendarUntil).
	// Zero for a user whose events are not kept as a window.
	CalendarUntil time.Time `json:"calendarUntil,omitzero"`
	// CalendarRev is the revision of the calendar the window (and
	// AutoReplies) were built from; an older one is never applied over it.
	CalendarRev uint64 `json:"calendarRev,omitempty"`

	// Seq is the stamp of the last visible change at or before LastWrite.
	// Changes caused by time alone after LastWrite are derived by Sequence.
	Seq       Stamp     `json:"seq"`
	LastWrite time.Time `json:"lastWrite,omitzero"`
}

// OutOfOfficeSettings is Graph's outOfOfficeSettings.
type OutOfOfficeSettings struct {
	IsOutOfOffice bool    `json:"isOutOfOffice"`
	Message       *string `json:"message"`
}

// Work location values (Graph enums, lowerCamel on the wire).
const (
	WorkLocationUnspecified = "unspecified"
	WorkLocationSourceNone  = "none"
)

// WorkLocation is Graph's userWorkLocation.
type WorkLocation struct {
	WorkLocationType string  `json:"workLocationType"`
	Source           string  `json:"source"`
	PlaceID          *string `json:"placeId"`
}

// View is the presence a reader sees at one instant.
type View struct {
	Pair         Pair
	OutOfOffice  OutOfOfficeSettings
	Status       *StatusMessage // nil when none is set or it has expired
	WorkLocation WorkLocation
}

// FormatDateTime writes an instant as Graph writes Edm.DateTimeOffset
// values: UTC with seven fractional digits ("2026-11-25T09:00:00.0000000Z").
func FormatDateTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }
