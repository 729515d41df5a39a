package mailbox

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/presenced/presenced/calendar"
	"github.com/presenced/presenced/presence"
)

// AutoReplies is Graph's automaticRepliesSetting. The scheduled window is
// nil until it was set.
type AutoReplies struct {
	Status                 string                     `json:"status"`
	ExternalAudience       string                     `json:"externalAudience"`
	InternalReplyMessage   string                     `json:"internalReplyMessage"`
	ExternalReplyMessage   string                     `json:"externalReplyMessage"`
	ScheduledStartDateTime *calendar.DateTimeTimeZone `json:"scheduledStartDateTime,omitempty"`
	ScheduledEndDateTime   *calendar.DateTimeTimeZone `json:"scheduledEndDateTime,omitempty"`
}

// WorkingHours is Graph's workingHours.
type WorkingHours struct {
	DaysOfWeek []string `json:"daysOfWeek"`
	StartTime  string   `json:"startTime"`
	EndTime    string   `json:"endTime"`
	TimeZone   struct {
		Name string `json:"name"`
	} `json:"timeZone"`
}

// Settings is the part of Graph's mailboxSettings presenced keeps.
type Settings struct {
	AutomaticRepliesSetting AutoReplies  `json:"automaticRepliesSetting"`
	TimeZone                string       `json:"timeZone"`
	WorkingHours            WorkingHours `json:"workingHours"`
}

// SettingsInput is a PATCH of mailboxSettings; nil: not given.
type SettingsInput struct {
	Status                 *string
	ExternalAudience       *string
	InternalReplyMessage   *string
	ExternalReplyMessage   *string
	ScheduledStartDateTime *calendar.DateTimeTimeZone
	ScheduledEndDateTime   *calendar.DateTimeTimeZone
	TimeZone               *string
	WorkingHours           *WorkingHours
}

// DefaultSettings is what a mailbox shows before anything was set:
// replies disabled, UTC, Monday to Friday 08:00–17:00.
func DefaultSettings() Settings {
	s := Settings{AutomaticRepliesSetting: AutoReplies{Status: presence.RepliesDisabled, ExternalAudience: "all"}, TimeZone: "UTC"}
	s.WorkingHours = WorkingHours{DaysOfWeek: []string{"monday", "tuesday", "wednesday", "thursday", "friday"}, StartTime: "08:00:00.0000000", EndTime: "17:00:00.0000000"}
	s.WorkingHours.TimeZone.Name = "UTC"
	return s
}

var (
	replyStatuses = []string{presence.RepliesDisabled, presence.RepliesAlwaysEnabled, presence.RepliesScheduled}
	audiences     = []string{"none", "contactsOnly", "all"}
	dayNames      = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}
)

// applySettings merges in into s and checks the result whole.
func (l Limits) applySettings(s Settings, in SettingsInput) (Settings, error) {
	a := &s.AutomaticRepliesSetting
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&a.Status, in.Status)
	set(&a.ExternalAudience, in.ExternalAudience)
	set(&a.InternalReplyMessage, in.InternalReplyMessage)
	set(&a.ExternalReplyMessage, in.ExternalReplyMessage)
	if in.ScheduledStartDateTime != nil {
		v := *in.ScheduledStartDateTime
		a.ScheduledStartDateTime = &v
	}
	if in.ScheduledEndDateTime != nil {
		v := *in.ScheduledEndDateTime
		a.ScheduledEndDateTime = &v
	}
	set(&s.TimeZone, in.TimeZone)
	if in.WorkingHours != nil {
		s.WorkingHours = *in.WorkingHours
	}
	const p = "automaticRepliesSetting."
	st, ok := canonical(a.Status, replyStatuses)
	if !ok {
		return s, invalid(p+"status", "automaticRepliesSetting.status '%s' is not accepted; accepted: %s.", clip(a.Status), strings.Join(replyStatuses, ", "))
	}
	a.Status = st
	if a.ExternalAudience == "" {
		a.ExternalAudience = "all"
	}
	aud, ok := canonical(a.ExternalAudience, audiences)
	if !ok {
		return s, invalid(p+"externalAudience", "automaticRepliesSetting.externalAudience '%s' is not accepted; accepted: %s.", clip(a.ExternalAudience), strings.Join(audiences, ", "))
	}
	a.ExternalAudience = aud
	for _, m := range []struct{ name, v string }{{"internalReplyMessage", a.InternalReplyMessage}, {"externalReplyMessage", a.ExternalReplyMessage}} {
		if len(m.v) > l.ReplyBytes {
			return s, invalid(p+m.name, "automaticRepliesSetting.%s is %d bytes long; at most %d are accepted.", m.name, len(m.v), l.ReplyBytes)
		}
	}
	var start, end time.Time
	var err error
	if a.ScheduledStartDateTime != nil {
		if start, _, err = calendar.ParseDateTime(*a.ScheduledStartDateTime, p+"scheduledStartDateTime"); err != nil {
			return s, err
		}
	}
	if a.ScheduledEndDateTime != nil {
		if end, _, err = calendar.ParseDateTime(*a.ScheduledEndDateTime, p+"scheduledEndDateTime"); err != nil {
			return s, err
		}
	}
	if st == presence.RepliesScheduled {
		if start.IsZero() || end.IsZero() {
			return s, invalid(p+"scheduledStartDateTime", "automatic replies with status scheduled need both scheduledStartDateTime and scheduledEndDateTime (in this request or set before).")
		}
	}
	if !start.IsZero() && !end.IsZero() && !end.After(start) {
		return s, invalid(p+"scheduledEndDateTime", "automaticRepliesSetting.scheduledEndDateTime (%s %s) must be after scheduledStartDateTime (%s %s).",
			a.ScheduledEndDateTime.DateTime, a.ScheduledEndDateTime.TimeZone, a.ScheduledStartDateTime.DateTime, a.ScheduledStartDateTime.TimeZone)
	}
	if _, err := calendar.Zone(s.TimeZone, "timeZone"); err != nil {
		return s, err
	}
	if err := checkWorkingHours(&s.WorkingHours); err != nil {
		return s, err
	}
	return s, nil
}

func checkWorkingHours(w *WorkingHours) error {
	for i, d := range w.DaysOfWeek {
		v, ok := canonical(d, dayNames)
		if !ok {
			return invalid(fmt.Sprintf("workingHours.daysOfWeek[%d]", i), "workingHours.daysOfWeek[%d] '%s' is not a day of the week; accepted: %s.", i, clip(d), strings.Join(dayNames, ", "))
		}
		w.DaysOfWeek[i] = v
	}
	if len(w.DaysOfWeek) > 7 || len(slices.Compact(slices.Sorted(slices.Values(w.DaysOfWeek)))) != len(w.DaysOfWeek) {
		return invalid("workingHours.daysOfWeek", "workingHours.daysOfWeek names each day at most once.")
	}
	st, err := timeOfDay(w.StartTime, "workingHours.startTime")
	if err != nil {
		return err
	}
	et, err := timeOfDay(w.EndTime, "workingHours.endTime")
	if err != nil {
		return err
	}
	if et <= st {
		return invalid("workingHours.endTime", "workingHours.endTime %s must be after startTime %s.", w.EndTime, w.StartTime)
	}
	w.StartTime, w.EndTime = formatTimeOfDay(st), formatTimeOfDay(et)
	if w.TimeZone.Name == "" {
		w.TimeZone.Name = "UTC"
	}
	_, err = calendar.Zone(w.TimeZone.Name, "workingHours.timeZone.name")
	return err
}

// timeOfDay reads Edm.TimeOfDay ("08:00:00.0000000", "08:00:00", "08:00").
func timeOfDay(s, field string) (time.Duration, error) {
	for _, layout := range []string{"15:04:05.0000000", "15:04:05", "15:04"} {
		if t, err := time.Parse(layout, s); err == nil && len(s) == len(layout) {
			return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond()), nil
		}
	}
	return 0, invalid(field, "%s '%s' is not a time of day; expected hh:mm:ss, e.g. 08:00:00.0000000.", field, clip(s))
}

func formatTimeOfDay(d time.Duration) string {
	return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Add(d).Format("15:04:05.0000000")
}

// replies is what presence keeps of the automatic replies (nil when
// disabled: nothing to show).
func replies(a AutoReplies) *presence.AutoReplies {
	if a.Status == presence.RepliesDisabled || a.Status == "" {
		return nil
	}
	r := &presence.AutoReplies{Status: a.Status, InternalReplyMessage: a.InternalReplyMessage}
	if a.Status == presence.RepliesScheduled {
		r.ScheduledStart, _, _ = calendar.ParseDateTime(*a.ScheduledStartDateTime, "s")
		r.ScheduledEnd, _, _ = calendar.ParseDateTime(*a.ScheduledEndDateTime, "e")
		r.ScheduledStart, r.ScheduledEnd = r.ScheduledStart.UTC(), r.ScheduledEnd.UTC()
	}
	return r
}
