package mailbox

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/presenced/presenced/calendar"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/internal/guid"
	"github.com/presenced/presenced/presence"
)

// The work plan (Graph's workHoursAndLocations): occurrences saying where
// the user works from when to when. They are kept in the user's calendar
// index, beside the events, and their part of the presence window is the
// scheduled work location layer (presence.SetWindow.Scheduled): the
// refresher that extends the window for events extends it for them, and
// presence's own boundaries (presence.NextChange) time their start and end.

// Work plan limits.
const (
	// MaxWorkOccurrences is the most occurrences one user's work plan holds.
	MaxWorkOccurrences = 500
	// MaxWorkOccurrenceLength is the longest occurrence accepted.
	MaxWorkOccurrenceLength = 92 * 24 * time.Hour
	// MaxTimeOffSubject is the longest timeOffDetails.subject, in characters.
	MaxTimeOffSubject = 255
)

var workLocationTypes = []string{presence.WorkLocationOffice, presence.WorkLocationRemote, presence.WorkLocationTimeOff}

// TimeOffDetails is Graph's timeOffDetails.
type TimeOffDetails struct {
	Subject  string `json:"subject"`
	IsAllDay bool   `json:"isAllDay"`
}

// WorkOccurrence is Graph's workPlanOccurrence as stored: its times as
// given, and the instants they name (From, To).
type WorkOccurrence struct {
	ID               string                    `json:"id"`
	RecurrenceID     string                    `json:"recurrenceId,omitempty"` // generated from a recurrence (workplanrec.go); never stored
	Start            calendar.DateTimeTimeZone `json:"start"`
	End              calendar.DateTimeTimeZone `json:"end"`
	WorkLocationType string                    `json:"workLocationType"`
	PlaceID          string                    `json:"placeId,omitempty"`
	TimeOff          *TimeOffDetails           `json:"timeOffDetails,omitempty"`
	From             time.Time                 `json:"from"`
	To               time.Time                 `json:"to"`
}

// WorkOccurrenceInput is a workPlanOccurrence of a POST or a PUT (Graph
// replaces an occurrence whole: every property is given).
type WorkOccurrenceInput struct {
	Start, End       *calendar.DateTimeTimeZone
	WorkLocationType string
	PlaceID          *string
	TimeOff          *TimeOffDetails
}

// workOccurrence checks in whole and returns the occurrence it describes
// (without an id).
func workOccurrence(in WorkOccurrenceInput) (WorkOccurrence, error) {
	var o WorkOccurrence
	if in.Start == nil {
		return o, invalid("start", "start is required: the date, time and time zone the occurrence starts.")
	}
	if in.End == nil {
		return o, invalid("end", "end is required: the date, time and time zone the occurrence ends.")
	}
	from, _, err := calendar.ParseDateTime(*in.Start, "start")
	if err != nil {
		return o, err
	}
	to, _, err := calendar.ParseDateTime(*in.End, "end")
	if err != nil {
		return o, err
	}
	if !to.After(from) {
		return o, invalid("end", "The occurrence's end must be after its start.")
	}
	if to.Sub(from) > MaxWorkOccurrenceLength {
		return o, invalid("end", "An occurrence lasts at most %d days.", int(MaxWorkOccurrenceLength/(24*time.Hour)))
	}
	typ, ok := canonical(in.WorkLocationType, workLocationTypes)
	switch {
	case in.WorkLocationType == "":
		return o, invalid("workLocationType", "workLocationType is required; accepted: %s.", strings.Join(workLocationTypes, ", "))
	case !ok:
		return o, invalid("workLocationType", "workLocationType '%s' is not accepted; accepted: %s.", clip(in.WorkLocationType), strings.Join(workLocationTypes, ", "))
	}
	o = WorkOccurrence{Start: *in.Start, End: *in.End, WorkLocationType: typ, From: from.UTC(), To: to.UTC()}
	if in.PlaceID != nil && *in.PlaceID != "" {
		if typ != presence.WorkLocationOffice {
			return o, invalid("placeId", "placeId applies only when workLocationType is office.")
		}
		if n := utf8.RuneCountInString(*in.PlaceID); n > presence.MaxPlaceID || !utf8.ValidString(*in.PlaceID) {
			return o, invalid("placeId", "placeId is %d characters long; at most %d are accepted.", n, presence.MaxPlaceID)
		}
		o.PlaceID = *in.PlaceID
	}
	if in.TimeOff != nil {
		if typ != presence.WorkLocationTimeOff {
			return o, invalid("timeOffDetails", "timeOffDetails applies only when workLocationType is timeOff.")
		}
		if n := utf8.RuneCountInString(in.TimeOff.Subject); n > MaxTimeOffSubject || !utf8.ValidString(in.TimeOff.Subject) {
			return o, invalid("timeOffDetails.subject", "timeOffDetails.subject is %d characters long; at most %d are accepted.", n, MaxTimeOffSubject)
		}
		t := *in.TimeOff
		o.TimeOff = &t
	}
	return o, nil
}

func workNotFound(id string) error {
	return presence.Errorf(presence.NotFound, "id", "The work plan occurrence '%s' was not found.", clip(id))
}

// scheduled is the scheduled layer of the window [from, to): the spans of
// the plan's occurrences, stored and generated, that overlap it.
func scheduled(idx *index, from, to time.Time) []presence.ScheduledLocation {
	var out []presence.ScheduledLocation
	for _, o := range planned(idx, from, to, 0) {
		out = append(out, presence.ScheduledLocation{Start: o.From, End: o.To, Type: o.WorkLocationType, PlaceID: o.PlaceID})
	}
	return out
}

// CreateWorkOccurrence adds an occurrence to the user's work plan.
func (m *Mailbox) CreateWorkOccurrence(ctx context.Context, u core.UserRef, in WorkOccurrenceInput) (WorkOccurrence, error) {
	o, err := workOccurrence(in)
	if err != nil {
		return WorkOccurrence{}, err
	}
	defer m.lock(u)()
	idx, rev, err := m.loadIndex(ctx, u)
	if err != nil {
		return WorkOccurrence{}, err
	}
	if len(idx.Work) >= MaxWorkOccurrences {
		return WorkOccurrence{}, presence.Errorf(presence.Conflict, "", "This work plan holds %d occurrences, the most one user's may; delete occurrences first.", len(idx.Work))
	}
	o.ID = strings.ReplaceAll(guid.New(), "-", "")
	idx.Work = append(idx.Work, o)
	if err := m.commit(ctx, u, idx, rev); err != nil {
		return WorkOccurrence{}, err
	}
	return o, nil
}

// WorkOccurrence returns the occurrence id of the user's work plan.
func (m *Mailbox) WorkOccurrence(ctx context.Context, u core.UserRef, id string) (WorkOccurrence, error) {
	idx, _, err := m.loadIndex(ctx, u)
	if err != nil {
		return WorkOccurrence{}, err
	}
	i := slices.IndexFunc(idx.Work, func(o WorkOccurrence) bool { return o.ID == id })
	if i < 0 {
		return WorkOccurrence{}, workNotFound(id)
	}
	return idx.Work[i], nil
}

// WorkOccurrences returns page [skip, skip+top) of the user's occurrences
// that overlap [from, to), those generated by recurrences included (the
// stored ones only, all of them, when both are zero), by start, and whether
// more follow.
func (m *Mailbox) WorkOccurrences(ctx context.Context, u core.UserRef, from, to time.Time, skip, top int) ([]WorkOccurrence, bool, error) {
	idx, _, err := m.loadIndex(ctx, u)
	if err != nil {
		return nil, false, err
	}
	var all []WorkOccurrence
	if !from.IsZero() || !to.IsZero() {
		all = plannedFirst(&idx, from, to, skip+top+1)
	} else {
		all = slices.Clone(idx.Work)
		slices.SortStableFunc(all, compareWork)
	}
	if skip >= len(all) {
		return nil, false, nil
	}
	return all[skip:min(len(all), skip+top)], skip+top < len(all), nil
}

// ReplaceWorkOccurrence replaces the occurrence id whole (Graph's PUT).
func (m *Mailbox) ReplaceWorkOccurrence(ctx context.Context, u core.UserRef, id string, in WorkOccurrenceInput) (WorkOccurrence, error) {
	o, err := workOccurrence(in)
	if err != nil {
		return WorkOccurrence{}, err
	}
	defer m.lock(u)()
	idx, rev, err := m.loadIndex(ctx, u)
	if err != nil {
		return WorkOccurrence{}, err
	}
	i := slices.IndexFunc(idx.Work, func(o WorkOccurrence) bool { return o.ID == id })
	if i < 0 {
		return WorkOccurrence{}, workNotFound(id)
	}
	o.ID = id
	idx.Work[i] = o
	if err := m.commit(ctx, u, idx, rev); err != nil {
		return WorkOccurrence{}, err
	}
	return o, nil
}

// DeleteWorkOccurrence deletes the occurrence id.
func (m *Mailbox) DeleteWorkOccurrence(ctx context.Context, u core.UserRef, id string) error {
	defer m.lock(u)()
	idx, rev, err := m.loadIndex(ctx, u)
	if err != nil {
		return err
	}
	n := len(idx.Work)
	idx.Work = slices.DeleteFunc(idx.Work, func(o WorkOccurrence) bool { return o.ID == id })
	if len(idx.Work) == n {
		return workNotFound(id)
	}
	return m.commit(ctx, u, idx, rev)
}
