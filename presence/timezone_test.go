package presence

import (
	"testing"
	"time"
)

func TestResolveDateTimeTimeZone(t *testing.T) {
	ok := []struct {
		name string
		in   DateTimeTimeZone
		want string // RFC 3339 in UTC
	}{
		{"graph example: Pacific Standard Time with 7 fraction digits", DateTimeTimeZone{"2022-10-18T17:05:33.2079781", "Pacific Standard Time"}, "2022-10-19T00:05:33.2079781Z"},
		{"seconds without fraction", DateTimeTimeZone{"2022-10-18T17:05:33", "UTC"}, "2022-10-18T17:05:33Z"},
		{"minutes only", DateTimeTimeZone{"2022-10-18T17:05", "UTC"}, "2022-10-18T17:05:00Z"},
		{"one fraction digit", DateTimeTimeZone{"2022-10-18T17:05:33.5", "utc"}, "2022-10-18T17:05:33.5Z"},
		{"IANA name", DateTimeTimeZone{"2024-07-01T12:00:00", "Europe/Berlin"}, "2024-07-01T10:00:00Z"},
		{"W. Europe Standard Time is Berlin (summer)", DateTimeTimeZone{"2024-07-01T12:00:00", "W. Europe Standard Time"}, "2024-07-01T10:00:00Z"},
		{"W. Europe Standard Time is Berlin (winter)", DateTimeTimeZone{"2024-01-15T12:00:00", "W. Europe Standard Time"}, "2024-01-15T11:00:00Z"},
		{"GMT Standard Time is London, not UTC", DateTimeTimeZone{"2024-07-01T12:00:00", "GMT Standard Time"}, "2024-07-01T11:00:00Z"},
		{"India Standard Time", DateTimeTimeZone{"2024-07-01T12:00:00", "India Standard Time"}, "2024-07-01T06:30:00Z"},
		{"Tokyo Standard Time", DateTimeTimeZone{"2024-07-01T12:00:00", "Tokyo Standard Time"}, "2024-07-01T03:00:00Z"},
		{"AUS Eastern Standard Time (southern winter)", DateTimeTimeZone{"2024-07-01T12:00:00", "AUS Eastern Standard Time"}, "2024-07-01T02:00:00Z"},
		{"Eastern Standard Time observes DST", DateTimeTimeZone{"2024-07-01T12:00:00", "Eastern Standard Time"}, "2024-07-01T16:00:00Z"},
		{"Central Standard Time", DateTimeTimeZone{"2024-01-15T12:00:00", "Central Standard Time"}, "2024-01-15T18:00:00Z"},
		{"Mountain Standard Time", DateTimeTimeZone{"2024-01-15T12:00:00", "Mountain Standard Time"}, "2024-01-15T19:00:00Z"},
		{"China Standard Time", DateTimeTimeZone{"2024-01-15T12:00:00", "China Standard Time"}, "2024-01-15T04:00:00Z"},
		{"Windows names are matched case-insensitively", DateTimeTimeZone{"2024-01-15T12:00:00", "pacific standard time"}, "2024-01-15T20:00:00Z"},
		{"UTC-11 is Etc/GMT+11", DateTimeTimeZone{"2024-01-15T12:00:00", "UTC-11"}, "2024-01-15T23:00:00Z"},
		{"leap day", DateTimeTimeZone{"2024-02-29T00:00", "UTC"}, "2024-02-29T00:00:00Z"},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveDateTimeTimeZone(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if s := got.UTC().Format(time.RFC3339Nano); s != tc.want {
				t.Fatalf("ResolveDateTimeTimeZone(%+v) = %s, want %s", tc.in, s, tc.want)
			}
		})
	}
	bad := []struct {
		name      string
		in        DateTimeTimeZone
		field     string
		fragments []string
	}{
		{"offset Z is refused", DateTimeTimeZone{"2022-10-18T17:05:33Z", "UTC"}, fieldExpiryDateTime, []string{"carries an offset or 'Z'"}},
		{"numeric offset is refused", DateTimeTimeZone{"2022-10-18T17:05:33+02:00", "UTC"}, fieldExpiryDateTime, []string{"carries an offset"}},
		{"negative offset is refused", DateTimeTimeZone{"2022-10-18T17:05:33-07:00", "UTC"}, fieldExpiryDateTime, []string{"carries an offset"}},
		{"8 fraction digits", DateTimeTimeZone{"2022-10-18T17:05:33.12345678", "UTC"}, fieldExpiryDateTime, []string{"at most 7 fraction digits"}},
		{"date only", DateTimeTimeZone{"2022-10-18", "UTC"}, fieldExpiryDateTime, []string{"'2022-10-18' is not accepted"}},
		{"space instead of T", DateTimeTimeZone{"2022-10-18 17:05:33", "UTC"}, fieldExpiryDateTime, []string{"not accepted"}},
		{"month 13", DateTimeTimeZone{"2022-13-18T17:05:33", "UTC"}, fieldExpiryDateTime, []string{"not a valid date-time"}},
		{"February 30", DateTimeTimeZone{"2023-02-30T17:05:33", "UTC"}, fieldExpiryDateTime, []string{"not a valid date-time"}},
		{"hour 24", DateTimeTimeZone{"2023-02-03T24:00:00", "UTC"}, fieldExpiryDateTime, []string{"not a valid date-time"}},
		{"empty dateTime", DateTimeTimeZone{"", "UTC"}, fieldExpiryDateTime, []string{"dateTime is required"}},
		{"empty timeZone", DateTimeTimeZone{"2022-10-18T17:05:33", ""}, fieldExpiryTimeZone, []string{"timeZone is required", "Pacific Standard Time", "Europe/Berlin"}},
		{"unknown zone", DateTimeTimeZone{"2022-10-18T17:05:33", "Mars Standard Time"}, fieldExpiryTimeZone, []string{"timeZone 'Mars Standard Time' is not a known time zone"}},
		{"Local is the server's zone, not a zone name", DateTimeTimeZone{"2022-10-18T17:05:33", "Local"}, fieldExpiryTimeZone, []string{"not a known time zone"}},
		{"a path is not a zone", DateTimeTimeZone{"2022-10-18T17:05:33", "../../etc/passwd"}, fieldExpiryTimeZone, []string{"not a known time zone"}},
		{"an absolute path is not a zone", DateTimeTimeZone{"2022-10-18T17:05:33", "/etc/localtime"}, fieldExpiryTimeZone, []string{"not a known time zone"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ResolveDateTimeTimeZone(tc.in)
			wantError(t, err, Invalid, tc.field, tc.fragments...)
		})
	}
}

func FuzzResolveDateTimeTimeZone(f *testing.F) {
	f.Add("2022-10-18T17:05:33.2079781", "Pacific Standard Time")
	f.Add("2022-10-18T17:05", "UTC")
	f.Add("2022-10-18T17:05:33Z", "Europe/Berlin")
	f.Add("2024-03-31T02:30:00", "W. Europe Standard Time")
	f.Add("0000-01-01T00:00", "Etc/GMT+12")
	f.Fuzz(func(t *testing.T, dt, tz string) {
		got, err := ResolveDateTimeTimeZone(DateTimeTimeZone{dt, tz})
		if err != nil {
			if ErrorCode(err) != Invalid || ErrorMessage(err) == "" {
				t.Fatalf("error code %s, want invalid with a message: %v", ErrorCode(err), err)
			}
			return
		}
		// Whatever resolved keeps the date the caller wrote, give or take
		// the zone's offset.
		if y := got.UTC().Year(); y < -1 || y > 10000 {
			t.Fatalf("%q %q resolved to %v", dt, tz, got)
		}
	})
}
