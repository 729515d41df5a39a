package calendar

import (
	"slices"
	"strings"
	"time"

	"github.com/presenced/presenced/presence"
)

// Event types, as Graph's event.type.
const (
	SingleInstance = "singleInstance"
	Occurrence     = "occurrence"
	Exception      = "exception"
	SeriesMaster   = "seriesMaster"
)

// Item is one event of a user's calendar as presence and calendarView
// need it: a single event, or a series with its exceptions. It is what
// the calendar index stores per event (the rest of the event — subject,
// body, attendees — is kept beside it).
type Item struct {
	ID    string    `json:"id"`
	Start time.Time `json:"start"` // a single event's start; a series' first occurrence as written
	End   time.Time `json:"end"`
	// Zone is start.timeZone as given: a series repeats at the same local
	// time in it, across daylight-saving changes.
	Zone       string      `json:"zone"`
	ShowAs     string      `json:"showAs"`
	IsAllDay   bool        `json:"isAllDay,omitempty"`
	Cancelled  bool        `json:"cancelled,omitempty"`
	Recurrence *Recurrence `json:"recurrence,omitempty"`
	// Exceptions are the occurrences deleted or edited, by original date.
	Exceptions []Change `json:"exceptions,omitempty"`
}

// Change is one occurrence of a series deleted or edited.
type Change struct {
	Date     string    `json:"date"` // the occurrence's original date, yyyy-mm-dd in the series' zone
	Deleted  bool      `json:"deleted,omitempty"`
	Start    time.Time `json:"start,omitzero"`
	End      time.Time `json:"end,omitzero"`
	ShowAs   string    `json:"showAs,omitempty"`
	IsAllDay bool      `json:"isAllDay,omitempty"`
}

// Instance is one occurrence of an item in time: a single event, an
// occurrence of a series, or an edited occurrence (an exception).
type Instance struct {
	ItemID   string
	Date     Date // the original date of an occurrence or exception; zero for a single event
	Type     string
	Start    time.Time
	End      time.Time
	ShowAs   string
	IsAllDay bool
}

// ID is the instance's event id: the item's id for a single event,
// OccurrenceID for the others.
func (in Instance) ID() string {
	if in.Type == SingleInstance {
		return in.ItemID
	}
	return OccurrenceID(in.ItemID, in.Date)
}

// OccurrenceID is the id of the occurrence of series seriesID originally
// on d: the series id, '_', and the date as yyyymmdd. Item ids never hold
// '_', so the two parts are found again by ParseOccurrenceID.
func OccurrenceID(seriesID string, d Date) string { return seriesID + "_" + d.Compact() }

// ParseOccurrenceID splits an occurrence id; false for an item id.
func ParseOccurrenceID(id string) (seriesID string, d Date, ok bool) {
	s, c, found := strings.Cut(id, "_")
	if !found || len(c) != 8 {
		return "", Date{}, false
	}
	t, err := time.Parse("20060102", c)
	if err != nil {
		return "", Date{}, false
	}
	return s, Date{t}, true
}

// series is an item's recurrence ready to expand: the rule, the zone, and
// each occurrence's local start time and length in days and end time.
type series struct {
	rule       Rule
	loc        *time.Location
	startClock time.Duration
	endClock   time.Duration
	days       int // end date minus start date, local
	changes    map[string]*Change
}

func (it *Item) series() (series, bool) {
	if it.Recurrence == nil {
		return series{}, false
	}
	rule, err := Compile(*it.Recurrence)
	if err != nil {
		return series{}, false
	}
	loc, ok := zoneOf(it.Zone)
	if !ok {
		return series{}, false
	}
	s, e := it.Start.In(loc), it.End.In(loc)
	sr := series{rule: rule, loc: loc, startClock: ClockOf(s), endClock: ClockOf(e), days: DateOf(e).Sub(DateOf(s))}
	if len(it.Exceptions) > 0 {
		sr.changes = make(map[string]*Change, len(it.Exceptions))
		for i := range it.Exceptions {
			sr.changes[it.Exceptions[i].Date] = &it.Exceptions[i]
		}
	}
	return sr, true
}

func zoneOf(name string) (*time.Location, bool) {
	loc, err := Zone(name, "")
	return loc, err == nil
}

// at is the regular occurrence of s on d.
func (s series) at(id string, d Date) Instance {
	return Instance{ItemID: id, Date: d, Type: Occurrence, Start: d.At(s.startClock, s.loc), End: d.AddDays(s.days).At(s.endClock, s.loc)}
}

// Instances returns the item's instances that overlap [from, to) (an
// instance of zero length counts at its start), sorted by start, at most
// limit of them (0: no limit). A cancelled item has none.
func (it *Item) Instances(from, to time.Time, limit int) []Instance {
	var out []Instance
	it.each(from, func(in Instance) bool {
		if !in.Start.Before(to) {
			return false
		}
		if overlaps(in, from, to) {
			out = append(out, in)
		}
		return limit == 0 || len(out) < limit
	}, to)
	slices.SortStableFunc(out, func(a, b Instance) int { return a.Start.Compare(b.Start) })
	return out
}

func overlaps(in Instance, from, to time.Time) bool {
	if in.End.Equal(in.Start) {
		return !in.Start.Before(from) && in.Start.Before(to)
	}
	return in.End.After(from) && in.Start.Before(to)
}

// each calls fn with the item's instances that may overlap [from, …):
// regular occurrences in date order from a little before from, until fn
// returns false; then every edited occurrence overlapping [from, to) (to
// zero: every one ending after from).
func (it *Item) each(from time.Time, fn func(Instance) bool, to time.Time) {
	if it.Cancelled {
		return
	}
	s, ok := it.series()
	if !ok {
		fn(Instance{ItemID: it.ID, Type: SingleInstance, Start: it.Start, End: it.End, ShowAs: it.ShowAs, IsAllDay: it.IsAllDay})
		return
	}
	first := DateOf(from.In(s.loc)).AddDays(-s.days - 1)
	s.rule.Dates(first, func(d Date) bool {
		c := s.changes[d.String()]
		if c != nil {
			return true // deleted, or edited: below
		}
		in := s.at(it.ID, d)
		in.ShowAs, in.IsAllDay = it.ShowAs, it.IsAllDay
		return fn(in)
	})
	for _, c := range it.Exceptions {
		if c.Deleted {
			continue
		}
		d, err := ParseDate(c.Date, "")
		if err != nil {
			continue
		}
		in := Instance{ItemID: it.ID, Date: d, Type: Exception, Start: c.Start, End: c.End, ShowAs: c.ShowAs, IsAllDay: c.IsAllDay}
		if in.End.After(from) && (to.IsZero() || in.Start.Before(to)) {
			fn(in)
		}
	}
}

// Instance returns the occurrence (or exception) of the series originally
// on d; false when the item is not a series, d is not one of its dates, or
// the occurrence was deleted.
func (it *Item) Instance(d Date) (Instance, bool) {
	s, ok := it.series()
	if !ok || !s.rule.Has(d) {
		return Instance{}, false
	}
	if c := s.changes[d.String()]; c != nil {
		if c.Deleted {
			return Instance{}, false
		}
		return Instance{ItemID: it.ID, Date: d, Type: Exception, Start: c.Start, End: c.End, ShowAs: c.ShowAs, IsAllDay: c.IsAllDay}, true
	}
	in := s.at(it.ID, d)
	in.ShowAs, in.IsAllDay = it.ShowAs, it.IsAllDay
	return in, true
}

// HasDate reports whether d is one of the series' dates (deleted or not).
func (it *Item) HasDate(d Date) bool {
	s, ok := it.series()
	return ok && s.rule.Has(d)
}

// Window is what presence keeps of items between from and to: every
// instance overlapping [from, to) whose showAs matters to presence (busy,
// tentative, oof), as presence events sorted by start. Every such event
// counts as a meeting (design.md: Teams shows a blocked slot as In a
// meeting too); cancelled items and deleted occurrences are left out.
func Window(items []Item, from, to time.Time) []presence.Event {
	var out []presence.Event
	for i := range items {
		if !matters(items[i].ShowAs) && !anyMatters(items[i].Exceptions) {
			continue
		}
		for _, in := range items[i].Instances(from, to, 0) {
			if matters(in.ShowAs) {
				out = append(out, presence.Event{Start: in.Start.UTC(), End: in.End.UTC(), ShowAs: in.ShowAs, IsMeeting: true, IsAllDay: in.IsAllDay})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b presence.Event) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return a.End.Compare(b.End)
	})
	return out
}

func matters(showAs string) bool {
	return showAs == presence.ShowAsBusy || showAs == presence.ShowAsTentative || showAs == presence.ShowAsOOF
}

func anyMatters(cs []Change) bool {
	return slices.ContainsFunc(cs, func(c Change) bool { return !c.Deleted && matters(c.ShowAs) })
}

// Covering returns the instances of items that cover t (start <= t < end).
func Covering(items []Item, t time.Time) []Instance {
	var out []Instance
	for i := range items {
		for _, in := range items[i].Instances(t, t.Add(1), 0) {
			if !t.Before(in.Start) && t.Before(in.End) {
				out = append(out, in)
			}
		}
	}
	return out
}

// NextBoundary is the earliest instant strictly after t at which an
// instance of items starts or ends; false when none does (every series
// has ended). It looks only as far as each series' next occurrence.
func NextBoundary(items []Item, t time.Time) (time.Time, bool) {
	var best time.Time
	consider := func(b time.Time) {
		if b.After(t) && (best.IsZero() || b.Before(best)) {
			best = b
		}
	}
	for i := range items {
		items[i].each(t, func(in Instance) bool {
			consider(in.Start)
			consider(in.End)
			// Regular occurrences come in date order, so their starts
			// increase: past the first that starts after t, none can
			// bring an earlier boundary.
			return in.Type == Exception || !in.Start.After(t)
		}, time.Time{})
	}
	return best, !best.IsZero()
}
