package presence

import (
	"regexp"
	"strings"
	"time"

	"github.com/presenced/presenced/calendar/tz"
)

// Field names used in ResolveDateTimeTimeZone errors.
const (
	fieldExpiryDateTime = "statusMessage.expiryDateTime.dateTime"
	fieldExpiryTimeZone = "statusMessage.expiryDateTime.timeZone"
)

// localDateTime is Graph's dateTimeTimeZone.dateTime: a local date-time with
// no offset, seconds optional, up to 7 fraction digits (.NET ticks).
var localDateTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?$`)

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
	if !localDateTime.MatchString(v.DateTime) {
		why := "expected a local date-time without offset, e.g. 2022-10-18T17:05:33 or 2022-10-18T17:05:33.2079781 (at most 7 fraction digits); the zone goes in timeZone"
		if strings.HasSuffix(v.DateTime, "Z") || strings.HasSuffix(v.DateTime, "z") || strings.ContainsAny(v.DateTime[min(len(v.DateTime), 10):], "+-") {
			why = "it carries an offset or 'Z'; dateTime must be local (e.g. 2022-10-18T17:05:33) and the zone goes in timeZone"
		}
		return time.Time{}, Errorf(Invalid, fieldExpiryDateTime, "dateTime '%s' is not accepted: %s", v.DateTime, why)
	}
	loc, err := resolveZone(v.TimeZone)
	if err != nil {
		return time.Time{}, err
	}
	layout := "2006-01-02T15:04"
	switch n := len(v.DateTime); {
	case n > len("2006-01-02T15:04:05"):
		layout = "2006-01-02T15:04:05." + strings.Repeat("0", n-len("2006-01-02T15:04:05."))
	case n == len("2006-01-02T15:04:05"):
		layout = "2006-01-02T15:04:05"
	}
	t, err := time.ParseInLocation(layout, v.DateTime, loc)
	if err != nil {
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
