package presence

import (
	"time"

	"github.com/presenced/presenced/calendar/tz"
)

// Field names used in ResolveDateTimeTimeZone errors.
const (
	fieldExpiryDateTime = "statusMessage.expiryDateTime.dateTime"
	fieldExpiryTimeZone = "statusMessage.expiryDateTime.timeZone"
)

// ResolveDateTimeTimeZone turns Graph's dateTimeTimeZone into an instant.
// dateTime must carry no offset ("2022-10-18T17:05:33.2079781",
// "2022-10-18T17:05:33", "2022-10-18T17:05"); timeZone is "UTC", a Windows
// zone name ("Pacific Standard Time") or an IANA name ("Europe/Berlin").
// A local time that does not exist or is ambiguous at a DST change resolves
// as the time package does (time.Date).
func ResolveDateTimeTimeZone(v DateTimeTimeZone) (time.Time, error) {
	if v.DateTime == "" {
		return time.Time{}, Errorf(Invalid, fieldExpiryDateTime, "dateTime is required, as a local date-time without offset, e.g. 2022-10-18T17:05:33")
	}
	// The dateTime's form first, then its zone, then the date itself.
	_, why := tz.ParseLocal(v.DateTime, time.UTC)
	var t time.Time
	if why != tz.Malformed && why != tz.HasOffset {
		loc, err := resolveZone(v.TimeZone)
		if err != nil {
			return time.Time{}, err
		}
		t, why = tz.ParseLocal(v.DateTime, loc)
	}
	switch why {
	case tz.Malformed:
		return time.Time{}, Errorf(Invalid, fieldExpiryDateTime, "dateTime '%s' is not accepted: expected a local date-time without offset, e.g. 2022-10-18T17:05:33 or 2022-10-18T17:05:33.2079781 (at most 7 fraction digits); the zone goes in timeZone", v.DateTime)
	case tz.HasOffset:
		return time.Time{}, Errorf(Invalid, fieldExpiryDateTime, "dateTime '%s' is not accepted: it carries an offset or 'Z'; dateTime must be local (e.g. 2022-10-18T17:05:33) and the zone goes in timeZone", v.DateTime)
	case tz.NoSuchTime:
		return time.Time{}, Errorf(Invalid, fieldExpiryDateTime, "dateTime '%s' is not a valid date-time (e.g. month 1-12, day within the month, hour 0-23)", v.DateTime)
	}
	return t, nil
}

func resolveZone(name string) (*time.Location, error) {
	if name == "" {
		return nil, Errorf(Invalid, fieldExpiryTimeZone, "timeZone is required: 'UTC', a Windows zone name such as 'Pacific Standard Time' or an IANA name such as 'Europe/Berlin'")
	}
	if loc, ok := tz.Load(name); ok {
		return loc, nil
	}
	return nil, Errorf(Invalid, fieldExpiryTimeZone, "timeZone '%s' is not a known time zone; use 'UTC', a Windows zone name such as 'Pacific Standard Time' or an IANA name such as 'Europe/Berlin'", name)
}
