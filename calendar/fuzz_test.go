package calendar

import (
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
)

func FuzzParseDateTime(f *testing.F) {
	f.Add("2026-03-02T09:00:00.0000000", "Pacific Standard Time")
	f.Add("2026-03-08T02:30:00", "Pacific Standard Time")
	f.Add("2026-03-02T09:00", "Europe/Berlin")
	f.Add("2026-03-02T09:00:00Z", "UTC")
	f.Add("1900-01-01T00:00", "Etc/GMT+12")
	f.Fuzz(func(t *testing.T, dt, zone string) {
		got, loc, err := ParseDateTime(DateTimeTimeZone{DateTime: dt, TimeZone: zone}, "start")
		if err != nil {
			if presence.ErrorCode(err) != presence.Invalid || !strings.HasPrefix(presence.ErrorMessage(err), "start.") {
				t.Fatalf("error %v, want invalid naming start.*", err)
			}
			return
		}
		if y := got.Year(); y < MinYear-1 || y > MaxYear+1 {
			t.Fatalf("%q %q resolved to %v", dt, zone, got)
		}
		// What is written back reads back as the same instant (a local
		// time skipped by a daylight-saving change is written as the
		// time it resolved to).
		back, _, err := ParseDateTime(DateTimeTimeZone{DateTime: FormatDateTime(got, loc), TimeZone: zone}, "start")
		if err != nil || !back.Equal(got) {
			t.Fatalf("%q %q → %v → %q → %v, %v", dt, zone, got, FormatDateTime(got, loc), back, err)
		}
	})
}

func FuzzRecurrence(f *testing.F) {
	f.Add("weekly", 1, 0, 0, "monday,friday", "sunday", "", "noEnd", "2026-03-02", "", 0, "2026-05-01")
	f.Add("absoluteMonthly", 2, 0, 31, "", "", "", "endDate", "2026-01-31", "2027-01-01", 0, "2026-06-01")
	f.Add("relativeYearly", 1, 11, 0, "thursday", "", "last", "numbered", "2026-01-01", "", 10, "2030-01-01")
	f.Add("daily", 7, 0, 0, "", "", "", "noEnd", "1999-12-31", "", 0, "2199-12-01")
	f.Add("absoluteYearly", 4, 2, 29, "", "", "", "noEnd", "2000-02-29", "", 0, "2101-01-01")
	f.Fuzz(func(t *testing.T, typ string, interval, month, dom int, days, first, index, rtype, start, end string, count int, from string) {
		var dow []string
		if days != "" {
			dow = strings.Split(days, ",")
		}
		rec := Recurrence{Pattern{Type: typ, Interval: interval, Month: month, DayOfMonth: dom, DaysOfWeek: dow, FirstDayOfWeek: first, Index: index},
			Range{Type: rtype, StartDate: start, EndDate: end, NumberOfOccurrences: count}}
		r, err := Compile(rec)
		if err != nil {
			if presence.ErrorCode(err) != presence.Invalid || !strings.Contains(presence.ErrorMessage(err), "recurrence") {
				t.Fatalf("Compile error %v, want invalid naming the recurrence", err)
			}
			return
		}
		if _, err := Compile(rec.Normalized()); err != nil {
			t.Fatalf("the normalized form of an accepted recurrence is refused: %v", err)
		}
		fd, err := ParseDate(from, "from")
		if err != nil {
			fd = r.start
		}
		got := firstDates(r, fd, 5)
		if want := naiveDates(r, fd, 5); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("dates from %s: %v, naive walk %v", fd, got, want)
		}
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] {
				t.Fatalf("dates out of order: %v", got)
			}
		}
		it := Item{ID: "f", Start: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), Zone: "W. Europe Standard Time", ShowAs: "busy", Recurrence: &rec}
		for _, in := range it.Instances(fd.At(0, time.UTC), fd.AddDays(40).At(0, time.UTC), 20) {
			if !in.End.After(in.Start) || !it.HasDate(in.Date) {
				t.Fatalf("instance %+v is not one of the series'", in)
			}
		}
	})
}
