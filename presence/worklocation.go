package presence

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Work location (semantics §1, graph-presence.md §3.4): where the user
// works today, from three layers — manual (the user's own choice),
// automatic (detected by a client: Wi-Fi, a badge reader) and scheduled
// (the working hours and location of the calendar). Manual beats
// automatic beats scheduled; inside a layer the more precise signal wins
// (office with a place beats office). A manual or automatic signal lasts
// until the end of the day it was set, in the user's time zone.

// Work location types and sources (Graph enums, lowerCamel on the wire).
const (
	WorkLocationOffice  = "office"
	WorkLocationRemote  = "remote"
	WorkLocationTimeOff = "timeOff"

	WorkLocationSourceManual    = "manual"
	WorkLocationSourceAutomatic = "automatic"
	WorkLocationSourceScheduled = "scheduled"
)

// MaxPlaceID is the longest placeId accepted, in characters.
const MaxPlaceID = 256

var workLocationTypes = []string{WorkLocationOffice, WorkLocationRemote, WorkLocationTimeOff}

// LocationSignal is one work location signal of a layer: a type, maybe a
// place, and until when it holds (the end of the day it was set).
type LocationSignal struct {
	Type    string    `json:"type"`
	PlaceID string    `json:"placeId,omitempty"`
	SetAt   time.Time `json:"setAt"`
	Until   time.Time `json:"until"`
}

// ScheduledLocation is a span of the scheduled layer: where the calendar
// says the user works from Start to End.
type ScheduledLocation struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Type    string    `json:"type"`
	PlaceID string    `json:"placeId,omitempty"`
}

// WorkLocations are a user's work location layers.
type WorkLocations struct {
	Manual    *LocationSignal     `json:"manual,omitempty"`
	Automatic *LocationSignal     `json:"automatic,omitempty"`
	Scheduled []ScheduledLocation `json:"scheduled,omitempty"`
}

func (w *WorkLocations) empty() bool {
	return w == nil || (w.Manual == nil && w.Automatic == nil && len(w.Scheduled) == 0)
}

func (w *WorkLocations) clone() *WorkLocations {
	if w == nil {
		return nil
	}
	c := &WorkLocations{Scheduled: slices.Clone(w.Scheduled)}
	if w.Manual != nil {
		m := *w.Manual
		c.Manual = &m
	}
	if w.Automatic != nil {
		a := *w.Automatic
		c.Automatic = &a
	}
	return c
}

// live reports whether s holds at t.
func (s *LocationSignal) live(t time.Time) bool { return s != nil && t.Before(s.Until) }

// workLocationAt is the work location a reader sees at t: the first layer
// that has a signal, manual > automatic > scheduled; inside the scheduled
// layer a span with a place beats one without, then the latest to start.
func workLocationAt(w *WorkLocations, t time.Time) WorkLocation {
	none := WorkLocation{WorkLocationType: WorkLocationUnspecified, Source: WorkLocationSourceNone}
	if w == nil {
		return none
	}
	signal := func(s *LocationSignal, source string) WorkLocation {
		l := WorkLocation{WorkLocationType: s.Type, Source: source}
		if s.PlaceID != "" {
			p := s.PlaceID
			l.PlaceID = &p
		}
		return l
	}
	switch {
	case w.Manual.live(t):
		return signal(w.Manual, WorkLocationSourceManual)
	case w.Automatic.live(t):
		return signal(w.Automatic, WorkLocationSourceAutomatic)
	}
	var best *ScheduledLocation
	for i := range w.Scheduled {
		s := &w.Scheduled[i]
		if t.Before(s.Start) || !t.Before(s.End) {
			continue
		}
		if best == nil || moreScheduled(s, best) {
			best = s
		}
	}
	if best == nil {
		return none
	}
	return signal(&LocationSignal{Type: best.Type, PlaceID: best.PlaceID}, WorkLocationSourceScheduled)
}

// moreScheduled reports whether span s beats span b where both cover an
// instant: the more precise (with a place) first, then the later start.
func moreScheduled(s, b *ScheduledLocation) bool {
	if (s.PlaceID != "") != (b.PlaceID != "") {
		return s.PlaceID != ""
	}
	return s.Start.After(b.Start)
}

// EndOfDay is the end of the day that contains t in zone (nil: UTC): the
// next local midnight, which a daylight-saving change may put 23 or 25
// hours after the previous one.
func EndOfDay(t time.Time, zone *time.Location) time.Time {
	if zone == nil {
		zone = time.UTC
	}
	y, m, d := t.In(zone).Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, zone)
}

// LocationLayer is the layer a SetLocation writes.
type LocationLayer int

// Layers a client writes (the scheduled layer comes from the calendar).
const (
	LayerManual LocationLayer = iota + 1
	LayerAutomatic
)

// SetLocation sets the manual or automatic work location signal
// (setManualLocation, setAutomaticLocation) until the end of the user's
// day. Zone is the user's time zone, their mailbox settings' (nil: UTC).
type SetLocation struct {
	Layer   LocationLayer
	Type    string
	PlaceID string
	Zone    *time.Location
}

// Normalized returns c with its type in canonical form, or the reason c is
// invalid.
func (c SetLocation) Normalized(time.Time) (SetLocation, error) {
	if c.Layer != LayerManual && c.Layer != LayerAutomatic {
		return c, Errorf(Internal, "", "presence: unknown work location layer %d", int(c.Layer))
	}
	switch v, ok := canonical(c.Type, workLocationTypes); {
	case c.Type == "":
		return c, Errorf(Invalid, "workLocationType", "workLocationType is required; accepted: %s", strings.Join(workLocationTypes, ", "))
	case strings.EqualFold(c.Type, WorkLocationUnspecified):
		return c, Errorf(Invalid, "workLocationType", "workLocationType 'unspecified' cannot be set; accepted: %s. To remove a signal use clearLocation or clearAutomaticLocation", strings.Join(workLocationTypes, ", "))
	case !ok:
		return c, Errorf(Invalid, "workLocationType", "workLocationType '%s' is not accepted; accepted: %s", c.Type, strings.Join(workLocationTypes, ", "))
	default:
		c.Type = v
	}
	if n := utf8.RuneCountInString(c.PlaceID); n > MaxPlaceID || !utf8.ValidString(c.PlaceID) {
		return c, Errorf(Invalid, "placeId", "placeId is %d characters long; at most %d are accepted", n, MaxPlaceID)
	}
	return c, nil
}

// Validate implements Command.
func (c SetLocation) Validate(now time.Time) error { _, err := c.Normalized(now); return err }

func (c SetLocation) apply(f *Facts, now time.Time) error {
	c, err := c.Normalized(now)
	if err != nil {
		return err
	}
	if f.Location == nil {
		f.Location = &WorkLocations{}
	}
	layer := &f.Location.Manual
	if c.Layer == LayerAutomatic {
		layer = &f.Location.Automatic
	}
	s := &LocationSignal{Type: c.Type, PlaceID: c.PlaceID, SetAt: now, Until: EndOfDay(now, c.Zone)}
	// The more precise signal wins inside a layer: the same type without a
	// place keeps the place the layer already knows today.
	if old := *layer; old.live(now) && old.Type == s.Type && s.PlaceID == "" {
		s.PlaceID = old.PlaceID
	}
	*layer = s
	return nil
}

// ClearLocation removes the manual and automatic signals (clearLocation);
// the scheduled layer, if any, shows again.
type ClearLocation struct{}

// Validate implements Command.
func (ClearLocation) Validate(time.Time) error { return nil }

func (ClearLocation) apply(f *Facts, _ time.Time) error {
	if f.Location != nil {
		f.Location.Manual, f.Location.Automatic = nil, nil
		f.Location = f.Location.orNil()
	}
	return nil
}

// ClearAutomaticLocation removes the automatic signal
// (clearAutomaticLocation); a manual one still wins.
type ClearAutomaticLocation struct{}

// Validate implements Command.
func (ClearAutomaticLocation) Validate(time.Time) error { return nil }

func (ClearAutomaticLocation) apply(f *Facts, _ time.Time) error {
	if f.Location != nil {
		f.Location.Automatic = nil
		f.Location = f.Location.orNil()
	}
	return nil
}

// SetScheduledLocations replaces the scheduled layer (the calendar's
// working hours and location).
type SetScheduledLocations struct {
	Spans []ScheduledLocation
}

// Normalized returns a copy of c's spans with types in canonical form, or
// the reason c is invalid.
func (c SetScheduledLocations) Normalized(time.Time) ([]ScheduledLocation, error) {
	spans := slices.Clone(c.Spans)
	for i := range spans {
		s := &spans[i]
		if !s.End.After(s.Start) {
			return nil, Errorf(Invalid, "scheduled", "scheduled location %d ends at or before its start", i)
		}
		v, ok := canonical(s.Type, workLocationTypes)
		if !ok {
			return nil, Errorf(Invalid, "scheduled", "scheduled location %d: type '%s' is not accepted; accepted: %s", i, s.Type, strings.Join(workLocationTypes, ", "))
		}
		s.Type = v
	}
	return spans, nil
}

// Validate implements Command.
func (c SetScheduledLocations) Validate(now time.Time) error { _, err := c.Normalized(now); return err }

func (c SetScheduledLocations) apply(f *Facts, now time.Time) error {
	spans, err := c.Normalized(now)
	if err != nil {
		return err
	}
	if f.Location == nil {
		f.Location = &WorkLocations{}
	}
	f.Location.Scheduled = spans
	f.Location = f.Location.orNil()
	return nil
}

// orNil is w, or nil when it holds nothing (so that facts without a work
// location store nothing for it).
func (w *WorkLocations) orNil() *WorkLocations {
	if w.empty() {
		return nil
	}
	return w
}

// collect drops the signals and spans over at now: none is visible at now
// or later.
func (w *WorkLocations) collect(now time.Time) *WorkLocations {
	if w == nil {
		return nil
	}
	if w.Manual != nil && !w.Manual.live(now) {
		w.Manual = nil
	}
	if w.Automatic != nil && !w.Automatic.live(now) {
		w.Automatic = nil
	}
	w.Scheduled = slices.DeleteFunc(w.Scheduled, func(s ScheduledLocation) bool { return !now.Before(s.End) })
	return w.orNil()
}

// addCandidates adds the instants at which w's view can change by time
// alone: the end of each signal's day, and each span's start and end.
func (w *WorkLocations) addCandidates(add func(time.Time)) {
	if w == nil {
		return
	}
	if w.Manual != nil {
		add(w.Manual.Until)
	}
	if w.Automatic != nil {
		add(w.Automatic.Until)
	}
	for _, s := range w.Scheduled {
		add(s.Start)
		add(s.End)
	}
}
