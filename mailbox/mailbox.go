// Package mailbox keeps each user's calendar events and mailbox settings in
// the engine (bucket "calendar"), and keeps the user's presence window — the
// occurrences presence needs, and the automatic replies — current through
// core.Do. It is where a calendar write meets storage: check the whole
// event (nothing is written on bad input), put the event, put the user's
// calendar index with compare-and-set, then write the presence window
// built from that index revision.
package mailbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/presenced/presenced/calendar"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/internal/guid"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// Window is how far ahead a user's presence record holds occurrences;
// RefreshAhead is how long before its end the window is extended, less a
// spread of up to RefreshSpread taken from the user id.
const (
	Window        = 48 * time.Hour
	RefreshAhead  = 24 * time.Hour
	RefreshSpread = 6 * time.Hour
)

// Options configure a Mailbox. KV, Core and Clock are required.
type Options struct {
	KV     store.KV // the "calendar" bucket
	Core   *core.Core
	Clock  clock.Clock
	Logger *slog.Logger
	Limits Limits
	// Users, if set, reports whether a stored user is still one of the
	// server's; the refresher leaves out those it is not.
	Users func(tenantID, userID string) bool
	// Rebuild has Run first rebuild every user's presence window from the
	// calendar (Mailbox.Rebuild): the calendar's stream lost data.
	Rebuild bool
}

// Mailbox is safe for concurrent use.
type Mailbox struct {
	kv     store.KV
	core   *core.Core
	clock  clock.Clock
	log    *slog.Logger
	limits Limits
	users  func(tenantID, userID string) bool
	reb    bool
	seed   maphash.Seed
	locks  [256]sync.Mutex // one user's writes in order on this node
	sched  schedule
}

// New returns a Mailbox; Run starts its refresher.
func New(o Options) *Mailbox {
	m := &Mailbox{kv: o.KV, core: o.Core, clock: o.Clock, log: o.Logger, limits: o.Limits.withDefaults(), users: o.Users, reb: o.Rebuild, seed: maphash.MakeSeed()}
	if m.log == nil {
		m.log = slog.Default()
	}
	m.sched.init()
	if j, ok := o.Clock.(clock.Jumper); ok {
		j.OnJump(m.sched.nudge)
	}
	o.Core.OnWrite(m.noteWrite)
	return m
}

// noteWrite schedules the refresh of every window written, by this node or
// (in a cluster) by another one, which core learns from the engine: each
// node knows every calendar user from their first window on, not only
// those it wrote or found at its start, so that any node keeps the window
// fresh when the one that wrote it is gone. It runs under the user's write
// lock in core, and only touches the schedule.
func (m *Mailbox) noteWrite(s core.Snapshot) {
	if until := s.Facts.CalendarUntil; !until.IsZero() {
		m.sched.add(s.User, m.refreshAt(s.User, until))
	}
}

// Limits are the limits in force.
func (m *Mailbox) Limits() Limits { return m.limits }

// index is a user's calendar as presence needs it (key c.<tenant>.<user>):
// every event's calendar.Item, and the mailbox settings once set.
type index struct {
	Items    []calendar.Item  `json:"items,omitempty"`
	Settings *Settings        `json:"settings,omitempty"`
	Work     []WorkOccurrence `json:"work,omitempty"` // the work plan (workplan.go)
	// WorkRecurrences are the work plan's weekly patterns (workplanrec.go).
	WorkRecurrences []WorkRecurrence `json:"workRecurrences,omitempty"`
}

// maxIndexBytes bounds one user's index: it is one engine message.
const maxIndexBytes = 512 << 10

func indexKey(u core.UserRef) string { return "c." + u.TenantID + "." + u.UserID }
func eventKey(u core.UserRef, id string) string {
	return "e." + u.TenantID + "." + u.UserID + "." + id
}

func (m *Mailbox) lock(u core.UserRef) func() {
	mu := &m.locks[maphash.String(m.seed, u.UserID)%uint64(len(m.locks))]
	mu.Lock()
	return mu.Unlock
}

// loadIndex is the user's index and its revision (0: none yet).
func (m *Mailbox) loadIndex(ctx context.Context, u core.UserRef) (index, uint64, error) {
	e, err := m.kv.Get(ctx, indexKey(u))
	if errors.Is(err, store.ErrNotFound) {
		return index{}, 0, nil
	}
	if err != nil {
		return index{}, 0, unavailable(err)
	}
	var idx index
	if err := json.Unmarshal(e.Value, &idx); err != nil {
		return index{}, 0, fmt.Errorf("mailbox: decode the calendar index of %s: %w", u.UserID, err)
	}
	return idx, e.Revision, nil
}

func (m *Mailbox) loadEvent(ctx context.Context, u core.UserRef, id string) (Event, uint64, error) {
	e, err := m.kv.Get(ctx, eventKey(u, id))
	if errors.Is(err, store.ErrNotFound) {
		return Event{}, 0, notFound(id)
	}
	if err != nil {
		return Event{}, 0, unavailable(err)
	}
	var ev Event
	if err := json.Unmarshal(e.Value, &ev); err != nil {
		return Event{}, 0, fmt.Errorf("mailbox: decode event %s: %w", id, err)
	}
	return ev, e.Revision, nil
}

func notFound(id string) error {
	return presence.Errorf(presence.NotFound, "id", "The event '%s' was not found in this calendar.", clip(id))
}

func unavailable(err error) error {
	if msg, ok := store.FullMessage(err); ok {
		return errors.Join(presence.Errorf(presence.Unavailable, "", "%s", msg), err)
	}
	return errors.Join(presence.Errorf(presence.Unavailable, "", "the calendar engine did not answer; retry the request"), err)
}

// commit stores idx over revision rev and writes the presence window built
// from it. The index was changed under the user's lock; a conflict means
// another node wrote it, and the caller's change is refused (409) rather
// than lost.
func (m *Mailbox) commit(ctx context.Context, u core.UserRef, idx index, rev uint64) error {
	b, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	if len(b) > maxIndexBytes {
		return presence.Errorf(presence.Conflict, "", "This calendar holds as much as one user's calendar may (%d KiB of events, recurrences and exceptions); delete events first.", maxIndexBytes>>10)
	}
	var next uint64
	if len(idx.Items) == 0 && idx.Settings == nil && len(idx.Work) == 0 && len(idx.WorkRecurrences) == 0 {
		if rev != 0 {
			if err := m.kv.Delete(ctx, indexKey(u), rev); err != nil {
				return m.conflictOr(err)
			}
		}
		next = rev + 1 // never applied over a newer one: Put revisions only grow
	} else if next, err = m.kv.Put(ctx, indexKey(u), b, rev); err != nil {
		return m.conflictOr(err)
	}
	return m.project(ctx, u, idx, next)
}

func (m *Mailbox) conflictOr(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return presence.Errorf(presence.Conflict, "", "The calendar was changed by another request at the same time; retry the request.")
	}
	return unavailable(err)
}

// project writes the presence window of idx at revision rev.
func (m *Mailbox) project(ctx context.Context, u core.UserRef, idx index, rev uint64) error {
	return m.write(ctx, u, idx, rev, false)
}

// write is project; reset applies the window over one of any revision
// (presence.SetWindow.Reset).
func (m *Mailbox) write(ctx context.Context, u core.UserRef, idx index, rev uint64, reset bool) error {
	now := m.clock.Now()
	cmd := presence.SetWindow{Events: calendar.Window(idx.Items, now, now.Add(Window)), Scheduled: scheduled(&idx, now, now.Add(Window)), Until: now.Add(Window), Rev: rev, Reset: reset}
	if idx.Settings != nil {
		cmd.AutoReplies = replies(idx.Settings.AutomaticRepliesSetting)
	}
	if len(idx.Items) == 0 && len(idx.Work) == 0 && len(idx.WorkRecurrences) == 0 && cmd.AutoReplies == nil {
		cmd.Until = time.Time{} // nothing to refresh
	}
	_, _, err := m.core.Do(ctx, u, cmd) // noteWrite schedules its refresh
	return err
}

// refreshAt is when the window ending at until is extended.
func (m *Mailbox) refreshAt(u core.UserRef, until time.Time) time.Time {
	spread := time.Duration(maphash.String(m.seed, u.UserID) % uint64(RefreshSpread))
	return until.Add(-RefreshAhead - spread)
}

// Create adds an event to the user's calendar.
func (m *Mailbox) Create(ctx context.Context, u core.UserRef, in Input) (Event, error) {
	now := m.clock.Now()
	ev, err := m.limits.apply(Event{}, in)
	if err != nil {
		return Event{}, err
	}
	defer m.lock(u)()
	idx, rev, err := m.loadIndex(ctx, u)
	if err != nil {
		return Event{}, err
	}
	if len(idx.Items) >= m.limits.EventsPerUser {
		return Event{}, presence.Errorf(presence.Conflict, "", "This calendar holds %d events, the most one user's calendar may; delete events first.", len(idx.Items))
	}
	ev.ID = strings.ReplaceAll(guid.New(), "-", "")
	ev.CreatedDateTime, ev.LastModifiedDateTime = now.UTC(), now.UTC()
	b, err := json.Marshal(ev)
	if err != nil {
		return Event{}, err
	}
	if _, err := m.kv.Put(ctx, eventKey(u, ev.ID), b, 0); err != nil {
		return Event{}, unavailable(err)
	}
	idx.Items = append(idx.Items, item(&ev))
	if err := m.commit(ctx, u, idx, rev); err != nil {
		_ = m.kv.Delete(ctx, eventKey(u, ev.ID), 0) // not in the index: not an event
		return Event{}, err
	}
	return ev, nil
}

// Get returns the event id: a single event, a series master, or an
// occurrence of one (an occurrence id, calendar.OccurrenceID).
func (m *Mailbox) Get(ctx context.Context, u core.UserRef, id string) (Shown, error) {
	if sid, d, ok := calendar.ParseOccurrenceID(id); ok {
		ev, _, err := m.loadEvent(ctx, u, sid)
		if err != nil {
			return Shown{}, notFound(id)
		}
		sh, ok := occurrenceShown(&ev, d.String())
		if !ok {
			return Shown{}, notFound(id)
		}
		return sh, nil
	}
	ev, _, err := m.loadEvent(ctx, u, id)
	if err != nil {
		return Shown{}, err
	}
	return shown(&ev), nil
}

// Update changes an event, or one occurrence of a series (which becomes
// an exception: only subject, body, start, end and showAs may change).
func (m *Mailbox) Update(ctx context.Context, u core.UserRef, id string, in Input) (Shown, error) {
	sid, d, isOcc := calendar.ParseOccurrenceID(id)
	if !isOcc {
		sid = id
	}
	if isOcc {
		if in.IsAllDay != nil || in.Attendees != nil || in.IsOnlineMeeting != nil || in.IsCancelled != nil || in.Recurrence != nil {
			return Shown{}, invalid("id", "Only subject, body, start, end and showAs can be changed on one occurrence of a series; change the series '%s' for the rest.", sid)
		}
	}
	now := m.clock.Now()
	defer m.lock(u)()
	ev, evRev, err := m.loadEvent(ctx, u, sid)
	if err != nil {
		return Shown{}, notFound(id)
	}
	var next Event
	if isOcc {
		next, err = m.editOccurrence(ev, d.String(), in)
		if err != nil {
			if presence.ErrorCode(err) == presence.NotFound {
				return Shown{}, notFound(id)
			}
			return Shown{}, err
		}
	} else {
		// A series given a new pattern or new times drops its exceptions,
		// as Outlook does.
		if in.Recurrence != nil || in.Start != nil || in.End != nil {
			ev.Exceptions = nil
		}
		if next, err = m.limits.apply(ev, in); err != nil {
			return Shown{}, err
		}
	}
	next.LastModifiedDateTime = now.UTC()
	if err := m.store(ctx, u, next, evRev); err != nil {
		return Shown{}, err
	}
	if isOcc {
		sh, _ := occurrenceShown(&next, d.String())
		return sh, nil
	}
	return shown(&next), nil
}

// editOccurrence is series ev with the occurrence on date d edited by in
// (in.Start/End/ShowAs/Subject/Body), checked whole.
func (m *Mailbox) editOccurrence(ev Event, d string, in Input) (Event, error) {
	if ev.Recurrence == nil {
		return Event{}, presence.Errorf(presence.NotFound, "id", "not a series")
	}
	if _, ok := occurrenceOf(&ev, d); !ok {
		return Event{}, presence.Errorf(presence.NotFound, "id", "no such occurrence")
	}
	x := OccurrenceEdit{}
	if old := ev.Exceptions[d]; old != nil {
		x = *old
	}
	if in.Subject != nil {
		x.Subject = in.Subject
	}
	if in.Body != nil {
		b := *in.Body
		if err := m.limits.checkBody("body", &b); err != nil {
			return Event{}, err
		}
		x.Body = &b
	}
	if in.ShowAs != nil {
		v, ok := canonical(*in.ShowAs, showAsValues)
		if !ok {
			return Event{}, invalid("showAs", "showAs '%s' is not accepted; accepted: %s.", clip(*in.ShowAs), strings.Join(showAsValues, ", "))
		}
		x.ShowAs = &v
	}
	if in.Start != nil {
		x.Start = in.Start
	}
	if in.End != nil {
		x.End = in.End
	}
	// Check the occurrence as an event of its own: its times, its subject.
	probe := Event{Subject: ev.Subject, ShowAs: ev.ShowAs, Body: ev.Body}
	o, _ := occurrenceOf(&ev, d)
	probe.Start = calendar.DateTimeTimeZone{DateTime: calendar.FormatDateTime(o.start, time.UTC), TimeZone: "UTC"}
	probe.End = calendar.DateTimeTimeZone{DateTime: calendar.FormatDateTime(o.end, time.UTC), TimeZone: "UTC"}
	if x.Start != nil {
		probe.Start = *x.Start
	}
	if x.End != nil {
		probe.End = *x.End
	}
	if x.Subject != nil {
		probe.Subject = *x.Subject
	}
	if err := m.limits.check(&probe); err != nil {
		return Event{}, err
	}
	next := ev
	next.Exceptions = make(map[string]*OccurrenceEdit, len(ev.Exceptions)+1)
	for k, v := range ev.Exceptions {
		next.Exceptions[k] = v
	}
	next.Exceptions[d] = &x
	if len(next.Exceptions) > m.limits.ExceptionsPerSeries {
		return Event{}, invalid("id", "a series holds at most %d deleted or edited occurrences.", m.limits.ExceptionsPerSeries)
	}
	return next, nil
}

// store puts ev over revision evRev and the index entry of ev, then the
// presence window.
func (m *Mailbox) store(ctx context.Context, u core.UserRef, ev Event, evRev uint64) error {
	idx, rev, err := m.loadIndex(ctx, u)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(idx.Items, func(it calendar.Item) bool { return it.ID == ev.ID })
	if i < 0 {
		return notFound(ev.ID)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if _, err := m.kv.Put(ctx, eventKey(u, ev.ID), b, evRev); err != nil {
		return m.conflictOr(err)
	}
	idx.Items[i] = item(&ev)
	return m.commit(ctx, u, idx, rev)
}

// Delete deletes an event (a whole series), or one occurrence of a series.
func (m *Mailbox) Delete(ctx context.Context, u core.UserRef, id string) error {
	sid, d, isOcc := calendar.ParseOccurrenceID(id)
	if !isOcc {
		sid = id
	}
	defer m.lock(u)()
	ev, evRev, err := m.loadEvent(ctx, u, sid)
	if err != nil {
		return notFound(id)
	}
	if isOcc {
		if ev.Recurrence == nil {
			return notFound(id)
		}
		if _, ok := occurrenceOf(&ev, d.String()); !ok {
			return notFound(id)
		}
		next := ev
		next.Exceptions = make(map[string]*OccurrenceEdit, len(ev.Exceptions)+1)
		for k, v := range ev.Exceptions {
			next.Exceptions[k] = v
		}
		next.Exceptions[d.String()] = &OccurrenceEdit{Deleted: true}
		if len(next.Exceptions) > m.limits.ExceptionsPerSeries {
			return invalid("id", "a series holds at most %d deleted or edited occurrences.", m.limits.ExceptionsPerSeries)
		}
		next.LastModifiedDateTime = m.clock.Now().UTC()
		return m.store(ctx, u, next, evRev)
	}
	idx, rev, err := m.loadIndex(ctx, u)
	if err != nil {
		return err
	}
	idx.Items = slices.DeleteFunc(idx.Items, func(it calendar.Item) bool { return it.ID == sid })
	if err := m.commit(ctx, u, idx, rev); err != nil {
		return err
	}
	// Out of the index it is gone; the body goes after.
	if err := m.kv.Delete(ctx, eventKey(u, sid), 0); err != nil && !errors.Is(err, store.ErrNotFound) {
		m.log.Warn("deleting an event's body", "user", u.UserID, "event", sid, "err", err)
	}
	return nil
}

// Settings returns the user's mailbox settings (the defaults until set).
func (m *Mailbox) Settings(ctx context.Context, u core.UserRef) (Settings, error) {
	idx, _, err := m.loadIndex(ctx, u)
	if err != nil {
		return Settings{}, err
	}
	if idx.Settings == nil {
		return DefaultSettings(), nil
	}
	return *idx.Settings, nil
}

// UpdateSettings changes the user's mailbox settings.
func (m *Mailbox) UpdateSettings(ctx context.Context, u core.UserRef, in SettingsInput) (Settings, error) {
	defer m.lock(u)()
	idx, rev, err := m.loadIndex(ctx, u)
	if err != nil {
		return Settings{}, err
	}
	cur := DefaultSettings()
	if idx.Settings != nil {
		cur = *idx.Settings
	}
	next, err := m.limits.applySettings(cur, in)
	if err != nil {
		return Settings{}, err
	}
	idx.Settings = &next
	if err := m.commit(ctx, u, idx, rev); err != nil {
		return Settings{}, err
	}
	return next, nil
}
