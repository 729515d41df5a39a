package mailbox

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/presenced/presenced/calendar"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/internal/guid"
	"github.com/presenced/presenced/presence"
)

// Work plan recurrences (Graph's workPlanRecurrence): a weekly pattern of
// where the user works, expanded as event series are (calendar.Item). Its
// occurrences are generated, never stored; an occurrence of the plan
// (workplan.go) that overlaps one takes precedence over it, as Graph says.

// Recurrence limits.
const (
	// MaxWorkRecurrences is the most recurrences one user's work plan holds.
	MaxWorkRecurrences = 50
	// MaxWorkRecurrenceLength is the longest one occurrence of a recurrence.
	MaxWorkRecurrenceLength = 24 * time.Hour
)

// WorkRecurrence is a workPlanRecurrence as stored.
type WorkRecurrence struct {
	ID               string                    `json:"id"`
	Start            calendar.DateTimeTimeZone `json:"start"`
	End              calendar.DateTimeTimeZone `json:"end"`
	Recurrence       calendar.Recurrence       `json:"recurrence"`
	WorkLocationType string                    `json:"workLocationType"`
	PlaceID          string                    `json:"placeId,omitempty"`
	From             time.Time                 `json:"from"`
	To               time.Time                 `json:"to"`
}

// WorkRecurrenceInput is a workPlanRecurrence of a POST or a PUT.
type WorkRecurrenceInput struct {
	WorkOccurrenceInput
	Recurrence *calendar.Recurrence
}

func workRecurrence(in WorkRecurrenceInput) (WorkRecurrence, error) {
	if in.TimeOff != nil || strings.EqualFold(in.WorkLocationType, presence.WorkLocationTimeOff) {
		return WorkRecurrence{}, invalid("workLocationType", "Time off cannot recur: add it as a workPlanOccurrence; a recurrence is office or remote.")
	}
	o, err := workOccurrence(in.WorkOccurrenceInput)
	if err != nil {
		return WorkRecurrence{}, err
	}
	if o.To.Sub(o.From) > MaxWorkRecurrenceLength {
		return WorkRecurrence{}, invalid("end", "One occurrence of a recurrence lasts at most %d hours.", int(MaxWorkRecurrenceLength/time.Hour))
	}
	if in.Recurrence == nil {
		return WorkRecurrence{}, invalid("recurrence", "recurrence is required: a weekly pattern and its range.")
	}
	if p, _ := canonical(in.Recurrence.Pattern.Type, []string{calendar.Weekly}); p != calendar.Weekly {
		return WorkRecurrence{}, invalid("recurrence.pattern.type", "A work plan recurs weekly; recurrence.pattern.type '%s' is not accepted.", clip(in.Recurrence.Pattern.Type))
	}
	if _, err := calendar.Compile(*in.Recurrence); err != nil {
		return WorkRecurrence{}, err
	}
	return WorkRecurrence{Start: o.Start, End: o.End, Recurrence: in.Recurrence.Normalized(), WorkLocationType: o.WorkLocationType, PlaceID: o.PlaceID, From: o.From, To: o.To}, nil
}

func (r *WorkRecurrence) item() calendar.Item {
	rec := r.Recurrence
	return calendar.Item{ID: r.ID, Start: r.From, End: r.To, Zone: r.Start.TimeZone, ShowAs: "free", Recurrence: &rec}
}

// generated is r's occurrences that overlap [from, to), at most limit (0:
// all), each with the id series_yyyymmdd and r's id as recurrenceId.
func (r *WorkRecurrence) generated(from, to time.Time, limit int) []WorkOccurrence {
	it := r.item()
	var out []WorkOccurrence
	for _, in := range it.Instances(from, to, limit) {
		out = append(out, WorkOccurrence{ID: in.ID(), RecurrenceID: r.ID, WorkLocationType: r.WorkLocationType, PlaceID: r.PlaceID, From: in.Start, To: in.End,
			Start: calendar.DateTimeTimeZone{DateTime: calendar.FormatDateTime(in.Start, time.UTC), TimeZone: "UTC"},
			End:   calendar.DateTimeTimeZone{DateTime: calendar.FormatDateTime(in.End, time.UTC), TimeZone: "UTC"}})
	}
	return out
}

// planned is the work plan over [from, to): the stored occurrences and the
// recurrences' occurrences that none of them overlaps, at most limit per
// recurrence (0: all).
func planned(idx *index, from, to time.Time, limit int) []WorkOccurrence {
	var out []WorkOccurrence
	for _, o := range idx.Work {
		if o.To.After(from) && o.From.Before(to) {
			out = append(out, o)
		}
	}
	explicit := len(out)
	for i := range idx.WorkRecurrences {
		for _, g := range idx.WorkRecurrences[i].generated(from, to, limit) {
			if !slices.ContainsFunc(out[:explicit], func(o WorkOccurrence) bool { return o.To.After(g.From) && o.From.Before(g.To) }) {
				out = append(out, g)
			}
		}
	}
	return out
}

// compareWork orders occurrences by start, then id (unique).
func compareWork(a, b WorkOccurrence) int {
	if c := a.From.Compare(b.From); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// plannedFirst is the first limit occurrences of planned(idx, from, to,
// limit) in compareWork's order, without holding or sorting all of them:
// it keeps the best limit (firstN) and generates a recurrence's
// occurrences only up to the start of the worst kept one. planned holds
// limit occurrences of every recurrence: 50 recurrences paged at
// $skip=49000 took 18 s and 730 MB for one occurrences view, from a
// user's own token.
func plannedFirst(idx *index, from, to time.Time, limit int) []WorkOccurrence {
	first := newFirstN(limit, compareWork)
	var explicit []WorkOccurrence
	for _, o := range idx.Work {
		if o.To.After(from) && o.From.Before(to) {
			explicit = append(explicit, o)
			first.offer(o)
		}
	}
	for i := range idx.WorkRecurrences {
		until := to
		if last, full := first.last(); full {
			// Nothing that starts after the last kept one can be kept.
			if c := last.From.Add(time.Nanosecond); c.Before(until) {
				until = c
			}
		}
		for _, g := range idx.WorkRecurrences[i].generated(from, until, limit) {
			if !slices.ContainsFunc(explicit, func(o WorkOccurrence) bool { return o.To.After(g.From) && o.From.Before(g.To) }) {
				first.offer(g)
			}
		}
	}
	return first.sorted()
}

func workRecurrenceNotFound(id string) error {
	return presence.Errorf(presence.NotFound, "id", "The work plan recurrence '%s' was not found.", clip(id))
}

// CreateWorkRecurrence adds a recurrence to the user's work plan.
func (m *Mailbox) CreateWorkRecurrence(ctx context.Context, u core.UserRef, in WorkRecurrenceInput) (WorkRecurrence, error) {
	rec, err := workRecurrence(in)
	if err != nil {
		return WorkRecurrence{}, err
	}
	defer m.lock(u)()
	idx, rev, err := m.loadIndex(ctx, u)
	if err != nil {
		return WorkRecurrence{}, err
	}
	if len(idx.WorkRecurrences) >= MaxWorkRecurrences {
		return WorkRecurrence{}, presence.Errorf(presence.Conflict, "", "This work plan holds %d recurrences, the most one user's may; delete recurrences first.", len(idx.WorkRecurrences))
	}
	rec.ID = strings.ReplaceAll(guid.New(), "-", "")
	idx.WorkRecurrences = append(idx.WorkRecurrences, rec)
	if err := m.commit(ctx, u, idx, rev); err != nil {
		return WorkRecurrence{}, err
	}
	return rec, nil
}

// WorkRecurrences returns the user's recurrences, in the order created.
func (m *Mailbox) WorkRecurrences(ctx context.Context, u core.UserRef) ([]WorkRecurrence, error) {
	idx, _, err := m.loadIndex(ctx, u)
	return idx.WorkRecurrences, err
}

// WorkRecurrence returns the recurrence id.
func (m *Mailbox) WorkRecurrence(ctx context.Context, u core.UserRef, id string) (WorkRecurrence, error) {
	idx, _, err := m.loadIndex(ctx, u)
	if err != nil {
		return WorkRecurrence{}, err
	}
	i := slices.IndexFunc(idx.WorkRecurrences, func(r WorkRecurrence) bool { return r.ID == id })
	if i < 0 {
		return WorkRecurrence{}, workRecurrenceNotFound(id)
	}
	return idx.WorkRecurrences[i], nil
}

// ReplaceWorkRecurrence replaces the recurrence id whole (Graph's PUT).
func (m *Mailbox) ReplaceWorkRecurrence(ctx context.Context, u core.UserRef, id string, in WorkRecurrenceInput) (WorkRecurrence, error) {
	rec, err := workRecurrence(in)
	if err != nil {
		return WorkRecurrence{}, err
	}
	defer m.lock(u)()
	idx, rev, err := m.loadIndex(ctx, u)
	if err != nil {
		return WorkRecurrence{}, err
	}
	i := slices.IndexFunc(idx.WorkRecurrences, func(r WorkRecurrence) bool { return r.ID == id })
	if i < 0 {
		return WorkRecurrence{}, workRecurrenceNotFound(id)
	}
	rec.ID = id
	idx.WorkRecurrences[i] = rec
	if err := m.commit(ctx, u, idx, rev); err != nil {
		return WorkRecurrence{}, err
	}
	return rec, nil
}

// DeleteWorkRecurrence deletes the recurrence id.
func (m *Mailbox) DeleteWorkRecurrence(ctx context.Context, u core.UserRef, id string) error {
	defer m.lock(u)()
	idx, rev, err := m.loadIndex(ctx, u)
	if err != nil {
		return err
	}
	n := len(idx.WorkRecurrences)
	idx.WorkRecurrences = slices.DeleteFunc(idx.WorkRecurrences, func(r WorkRecurrence) bool { return r.ID == id })
	if len(idx.WorkRecurrences) == n {
		return workRecurrenceNotFound(id)
	}
	return m.commit(ctx, u, idx, rev)
}
