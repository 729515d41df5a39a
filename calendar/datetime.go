// Package calendar is the pure part of the calendar: Graph's
// dateTimeTimeZone, recurrence patterns and ranges, and the occurrences of
// events that touch a span of time, which presence turns into "In a
// meeting" and "Out of office" (semantics §3 rules 4–5).
//
// Nothing here does I/O or reads a clock: every function takes the instants
// it needs. A series with no end costs the same to expand whether it began
// last week or ten years ago: expansion jumps to the span asked for.
package calendar

import (
	"time"

	"github.com/presenced/presenced/calendar/tz"
	"github.com/presenced/presenced/presence"
)

// DateTimeTimeZone is Graph's dateTimeTimeZone.
type DateTimeTimeZone = presence.DateTimeTimeZone

// Zone resolves a timeZone name (UTC, IANA or Windows), or says which
// field named an unknown one.
func Zone(name, field string) (*time.Location, error) {
	if name == "" {
		return nil, presence.Errorf(presence.Invalid, field, "%s is required: 'UTC', a Windows zone name such as 'Pacific Standard Time' or an IANA name such as 'Europe/Berlin'.", field)
	}
	loc, ok := tz.Load(name)
	if !ok {
		return nil, presence.Errorf(presence.Invalid, field, "%s '%s' is not a known time zone; use 'UTC', a Windows zone name such as 'Pacific Standard Time' or an IANA name such as 'Europe/Berlin'.", field, clip(name))
	}
	return loc, nil
}

// ParseDateTime turns a dateTimeTimeZone into an instant and its zone.
// field names the property in errors ("start"): its dateTime and timeZone
// are field+".dateTime" and field+".timeZone". A local time that does not
// exist or is ambiguous at a daylight-saving change resolves as time.Date
// does.
func ParseDateTime(v DateTimeTimeZone, field string) (time.Time, *time.Location, error) {
	dtField := field + ".dateTime"
	if v.DateTime == "" {
		return time.Time{}, nil, presence.Errorf(presence.Invalid, dtField, "%s is required, as a local date-time without offset, e.g. 2026-03-02T09:00:00.", dtField)
	}
	// The dateTime's form first, then its zone, then the date itself.
	_, why := tz.ParseLocal(v.DateTime, time.UTC)
	var t time.Time
	var loc *time.Location
	if why != tz.Malformed && why != tz.HasOffset {
		var err error
		if loc, err = Zone(v.TimeZone, field+".timeZone"); err != nil {
			return time.Time{}, nil, err
		}
		t, why = tz.ParseLocal(v.DateTime, loc)
	}
	switch why {
	case tz.Malformed:
		return time.Time{}, nil, presence.Errorf(presence.Invalid, dtField, "%s '%s' is not accepted: expected a local date-time without offset, e.g. 2026-03-02T09:00:00 or 2026-03-02T09:00:00.0000000 (at most 7 fraction digits); the zone goes in timeZone.", dtField, clip(v.DateTime))
	case tz.HasOffset:
		return time.Time{}, nil, presence.Errorf(presence.Invalid, dtField, "%s '%s' is not accepted: it carries an offset or 'Z'; dateTime must be local (e.g. 2026-03-02T09:00:00) and the zone goes in timeZone.", dtField, clip(v.DateTime))
	case tz.NoSuchTime:
		return time.Time{}, nil, presence.Errorf(presence.Invalid, dtField, "%s '%s' is not a valid date-time (month 1-12, a day within the month, hour 0-23).", dtField, v.DateTime)
	}
	if y := t.Year(); y < MinYear || y > MaxYear {
		return time.Time{}, nil, presence.Errorf(presence.Invalid, dtField, "%s '%s' is outside the years %d-%d that calendars hold.", dtField, v.DateTime, MinYear, MaxYear)
	}
	return t, loc, nil
}

// MinYear and MaxYear bound the dates a calendar holds: instants stay
// within Unix nanoseconds (1678–2262), which sequenceNumbers use.
const (
	MinYear = 1900
	MaxYear = 2200
)

// FormatDateTime renders t as Graph writes dateTimeTimeZone.dateTime: the
// local time in loc with seven fraction digits ("2026-03-02T09:00:00.0000000").
func FormatDateTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02T15:04:05.0000000")
}

// Date is a calendar date (a time.Time at midnight UTC, so that dates add
// and compare without zones).
type Date struct{ t time.Time }

// DateOf is the local date of t.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return MakeDate(y, m, d)
}

// MakeDate is the date y-m-d (normalised as time.Date does).
func MakeDate(y int, m time.Month, d int) Date { return Date{time.Date(y, m, d, 0, 0, 0, 0, time.UTC)} }

// ParseDate reads Graph's Edm.Date ("2026-03-02"); field names it in errors.
func ParseDate(s, field string) (Date, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil || len(s) != len("2006-01-02") {
		return Date{}, presence.Errorf(presence.Invalid, field, "%s '%s' is not a date; expected yyyy-mm-dd, e.g. 2026-03-02.", field, clip(s))
	}
	if y := t.Year(); y < MinYear || y > MaxYear {
		return Date{}, presence.Errorf(presence.Invalid, field, "%s '%s' is outside the years %d-%d that calendars hold.", field, s, MinYear, MaxYear)
	}
	return Date{t}, nil
}

// String is the date as Graph writes it ("2026-03-02").
func (d Date) String() string { return d.t.Format("2006-01-02") }

// AddDays is d plus n days.
func (d Date) AddDays(n int) Date { return Date{d.t.AddDate(0, 0, n)} }

// Sub is the number of days from o to d.
func (d Date) Sub(o Date) int { return int(d.t.Sub(o.t) / (24 * time.Hour)) }

// Before reports whether d is before o.
func (d Date) Before(o Date) bool { return d.t.Before(o.t) }

// After reports whether d is after o.
func (d Date) After(o Date) bool { return d.t.After(o.t) }

// Equal reports whether d and o are the same date.
func (d Date) Equal(o Date) bool { return d.t.Equal(o.t) }

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d.t.IsZero() }

// Weekday is d's day of the week.
func (d Date) Weekday() time.Weekday { return d.t.Weekday() }

// YMD is d's year, month and day.
func (d Date) YMD() (int, time.Month, int) { return d.t.Date() }

// At is the instant of the local time clock on d in loc.
func (d Date) At(clock time.Duration, loc *time.Location) time.Time {
	y, m, day := d.t.Date()
	h, rest := clock/time.Hour, clock%time.Hour
	return time.Date(y, m, day+int(h/24), int(h%24), int(rest/time.Minute), int(rest%time.Minute/time.Second), int(rest%time.Second), loc)
}

// ClockOf is t's local time of day.
func ClockOf(t time.Time) time.Duration {
	h, m, s := t.Clock()
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second + time.Duration(t.Nanosecond())
}

// Compact is d as yyyymmdd (occurrence ids).
func (d Date) Compact() string { return d.t.Format("20060102") }

func clip(s string) string {
	return presence.Clip(s, 80)
}
