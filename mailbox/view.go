package mailbox

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/presenced/presenced/calendar"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/store"
)

// Shown is an event as a reader sees it: a single event or series master
// as stored, or one occurrence of a series (its id an occurrence id, its
// times the occurrence's, with the occurrence's edits applied).
type Shown struct {
	Event
	Type           string // singleInstance, seriesMaster, occurrence, exception
	SeriesMasterID string // for occurrences and exceptions
	Start, End     time.Time
}

func shown(ev *Event) Shown {
	s := Shown{Event: *ev, Type: calendar.SingleInstance}
	s.Start, _, _ = calendar.ParseDateTime(ev.Start, "start")
	s.End, _, _ = calendar.ParseDateTime(ev.End, "end")
	if ev.Recurrence != nil {
		s.Type = calendar.SeriesMaster
	}
	s.Event.Exceptions = nil
	return s
}

// occurrenceShown is the occurrence of series ev originally on d.
func occurrenceShown(ev *Event, d string) (Shown, bool) {
	o, ok := occurrenceOf(ev, d)
	if !ok {
		return Shown{}, false
	}
	date, _ := calendar.ParseDate(d, "")
	s := Shown{Event: *ev, Type: calendar.Occurrence, SeriesMasterID: ev.ID, Start: o.start, End: o.end}
	s.Event.ID = calendar.OccurrenceID(ev.ID, date)
	s.Event.Recurrence, s.Event.Exceptions = nil, nil
	s.Event.ShowAs = o.showAs
	if x := ev.Exceptions[d]; x != nil {
		s.Type = calendar.Exception
		if x.Subject != nil {
			s.Event.Subject = *x.Subject
		}
		if x.Body != nil {
			s.Event.Body = *x.Body
		}
	}
	return s, true
}

// MaxPage bounds one page of a list; MaxSkip how far a list may be paged.
const (
	MaxPage = 1000
	MaxSkip = 50000
)

// List returns page [skip, skip+top) of the user's events (single events
// and series masters, by start), and whether more follow.
func (m *Mailbox) List(ctx context.Context, u core.UserRef, skip, top int) ([]Shown, bool, error) {
	idx, _, err := m.loadIndex(ctx, u)
	if err != nil {
		return nil, false, err
	}
	items := slices.Clone(idx.Items)
	slices.SortStableFunc(items, func(a, b calendar.Item) int { return a.Start.Compare(b.Start) })
	if skip >= len(items) {
		return nil, false, nil
	}
	page := items[skip:min(len(items), skip+top)]
	more := skip+top < len(items)
	evs, err := m.events(ctx, u, page)
	if err != nil {
		return nil, false, err
	}
	out := make([]Shown, 0, len(page))
	for _, it := range page {
		if ev, ok := evs[it.ID]; ok {
			out = append(out, shown(ev))
		}
	}
	return out, more, nil
}

// View returns page [skip, skip+top) of the instances that overlap
// [from, to) — single events, occurrences and exceptions, by start (Graph's
// calendarView) — and whether more follow.
func (m *Mailbox) View(ctx context.Context, u core.UserRef, from, to time.Time, skip, top int) ([]Shown, bool, error) {
	idx, _, err := m.loadIndex(ctx, u)
	if err != nil {
		return nil, false, err
	}
	ins := firstInstances(idx.Items, from, to, skip+top+1)
	if skip >= len(ins) {
		return nil, false, nil
	}
	page := ins[skip:min(len(ins), skip+top)]
	more := skip+top < len(ins)
	items := make([]calendar.Item, 0, len(page))
	for _, in := range page {
		items = append(items, calendar.Item{ID: in.ItemID})
	}
	evs, err := m.events(ctx, u, items)
	if err != nil {
		return nil, false, err
	}
	out := make([]Shown, 0, len(page))
	for _, in := range page {
		ev, ok := evs[in.ItemID]
		if !ok {
			continue
		}
		if in.Type == calendar.SingleInstance {
			out = append(out, shown(ev))
			continue
		}
		if sh, ok := occurrenceShown(ev, in.Date.String()); ok {
			out = append(out, sh)
		}
	}
	return out, more, nil
}

// events reads the stored events of items, by id, in one batched read.
func (m *Mailbox) events(ctx context.Context, u core.UserRef, items []calendar.Item) (map[string]*Event, error) {
	keys := make([]string, 0, len(items))
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		if !seen[it.ID] {
			seen[it.ID] = true
			keys = append(keys, eventKey(u, it.ID))
		}
	}
	got, err := m.kv.GetMany(ctx, keys)
	if err != nil {
		return nil, unavailable(err)
	}
	out := make(map[string]*Event, len(got))
	for _, e := range got {
		if e.Revision == 0 {
			continue
		}
		ev := new(Event)
		if err := jsonUnmarshal(e, ev); err != nil {
			return nil, err
		}
		out[ev.ID] = ev
	}
	return out, nil
}

func jsonUnmarshal(e store.Entry, ev *Event) error { return unmarshal(e.Value, ev) }

// firstInstances returns the first limit instances of items that overlap
// [from, to), by start, then end, then the items' order (each item's own
// instances by start): what sorting every item's first limit instances
// would give, without holding or sorting them all. It keeps the best limit
// (firstN), and stops expanding an item at the first instance that starts
// after the worst kept one. Expanding and sorting them all cost memory and
// time per event times $skip: 50 daily series paged at $skip=49000 took
// 400 MB and 16 s for one calendarView, and a user's 500 events four times
// that, from a user's own token.
func firstInstances(items []calendar.Item, from, to time.Time, limit int) []calendar.Instance {
	first := newFirstN(limit, compareRanked)
	seq := 0
	for i := range items {
		until := to
		if last, full := first.last(); full {
			// Nothing that starts after the last kept instance can be kept.
			if c := last.in.Start.Add(time.Nanosecond); c.Before(until) {
				until = c
			}
		}
		for _, in := range items[i].Instances(from, until, limit) {
			first.offer(ranked{in: in, seq: seq})
			seq++
		}
	}
	kept := first.sorted()
	out := make([]calendar.Instance, len(kept))
	for i := range kept {
		out[i] = kept[i].in
	}
	return out
}

// ranked is an instance and its place among instances of equal start and
// end (the order in which the items gave them).
type ranked struct {
	in  calendar.Instance
	seq int
}

// compareRanked orders instances by start, then end, then the order in
// which the items gave them.
func compareRanked(a, b ranked) int {
	if c := a.in.Start.Compare(b.in.Start); c != 0 {
		return c
	}
	if c := a.in.End.Compare(b.in.End); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}
