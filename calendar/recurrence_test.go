package calendar

import (
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
)

func date(s string) Date {
	d, err := ParseDate(s, "test")
	if err != nil {
		panic(err)
	}
	return d
}

// firstDates is the first n dates of r on or after from.
func firstDates(r Rule, from Date, n int) []string {
	var out []string
	r.Dates(from, func(d Date) bool {
		out = append(out, d.String())
		return len(out) < n
	})
	return out
}

func mustCompile(t *testing.T, rec Recurrence) Rule {
	t.Helper()
	r, err := Compile(rec)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPatternDates(t *testing.T) {
	noEnd := func(start string) Range { return Range{Type: RangeNoEnd, StartDate: start} }
	for _, tc := range []struct {
		name string
		rec  Recurrence
		from string
		want string
	}{
		{"daily every 3 days", Recurrence{Pattern{Type: Daily, Interval: 3}, noEnd("2026-03-01")}, "2026-03-01",
			"2026-03-01 2026-03-04 2026-03-07 2026-03-10"},
		{"daily from a later day keeps the series' step", Recurrence{Pattern{Type: Daily, Interval: 3}, noEnd("2026-03-01")}, "2026-03-05",
			"2026-03-07 2026-03-10 2026-03-13 2026-03-16"},
		{"weekly on Monday and Wednesday", Recurrence{Pattern{Type: Weekly, Interval: 1, DaysOfWeek: []string{"monday", "wednesday"}}, noEnd("2026-03-02")}, "2026-03-02",
			"2026-03-02 2026-03-04 2026-03-09 2026-03-11"},
		{"every other week, starting mid-week: the start's week counts", Recurrence{Pattern{Type: Weekly, Interval: 2, DaysOfWeek: []string{"Monday", "Friday"}, FirstDayOfWeek: "sunday"}, noEnd("2026-03-04")}, "2026-03-04",
			"2026-03-06 2026-03-16 2026-03-20 2026-03-30"},
		{"weekly, first day Monday, Sunday belongs to the week before", Recurrence{Pattern{Type: Weekly, Interval: 2, DaysOfWeek: []string{"sunday", "monday"}, FirstDayOfWeek: "monday"}, noEnd("2026-03-02")}, "2026-03-02",
			"2026-03-02 2026-03-08 2026-03-16 2026-03-22"},
		{"absoluteMonthly on the 31st falls on short months' last day", Recurrence{Pattern{Type: AbsoluteMonthly, Interval: 1, DayOfMonth: 31}, noEnd("2026-01-01")}, "2026-01-01",
			"2026-01-31 2026-02-28 2026-03-31 2026-04-30"},
		{"absoluteMonthly every 3 months on the 15th", Recurrence{Pattern{Type: AbsoluteMonthly, Interval: 3, DayOfMonth: 15}, noEnd("2026-01-20")}, "2026-01-20",
			"2026-04-15 2026-07-15 2026-10-15 2027-01-15"},
		{"relativeMonthly second Thursday", Recurrence{Pattern{Type: RelativeMonthly, Interval: 1, DaysOfWeek: []string{"thursday"}, Index: "second"}, noEnd("2026-01-01")}, "2026-01-01",
			"2026-01-08 2026-02-12 2026-03-12 2026-04-09"},
		{"relativeMonthly last weekday", Recurrence{Pattern{Type: RelativeMonthly, Interval: 1, DaysOfWeek: []string{"monday", "tuesday", "wednesday", "thursday", "friday"}, Index: "last"}, noEnd("2026-01-01")}, "2026-01-01",
			"2026-01-30 2026-02-27 2026-03-31 2026-04-30"},
		{"relativeMonthly first Thursday or Friday: the first that comes", Recurrence{Pattern{Type: RelativeMonthly, Interval: 1, DaysOfWeek: []string{"thursday", "friday"}}, noEnd("2026-05-01")}, "2026-05-01",
			"2026-05-01 2026-06-04 2026-07-02 2026-08-06"},
		{"absoluteYearly on February 29th: the 28th in other years", Recurrence{Pattern{Type: AbsoluteYearly, Interval: 1, Month: 2, DayOfMonth: 29}, noEnd("2024-01-01")}, "2024-01-01",
			"2024-02-29 2025-02-28 2026-02-28 2027-02-28"},
		{"relativeYearly fourth Thursday of November every 2 years", Recurrence{Pattern{Type: RelativeYearly, Interval: 2, Month: 11, DaysOfWeek: []string{"thursday"}, Index: "fourth"}, noEnd("2026-01-01")}, "2026-01-01",
			"2026-11-26 2028-11-23 2030-11-28 2032-11-25"},
		{"endDate range stops on its last day", Recurrence{Pattern{Type: Daily, Interval: 1}, Range{Type: RangeEndDate, StartDate: "2026-03-01", EndDate: "2026-03-03"}}, "2026-02-01",
			"2026-03-01 2026-03-02 2026-03-03"},
		{"numbered range counts from its start, not from the span asked", Recurrence{Pattern{Type: Weekly, Interval: 1, DaysOfWeek: []string{"monday"}}, Range{Type: RangeNumbered, StartDate: "2026-03-02", NumberOfOccurrences: 3}}, "2026-03-10",
			"2026-03-16"},
		{"a series with no end, ten years on", Recurrence{Pattern{Type: Weekly, Interval: 1, DaysOfWeek: []string{"tuesday"}}, noEnd("2016-03-01")}, "2026-03-04",
			"2026-03-10 2026-03-17 2026-03-24 2026-03-31"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustCompile(t, tc.rec)
			if got := strings.Join(firstDates(r, date(tc.from), 4), " "); got != tc.want {
				t.Fatalf("dates from %s = %s, want %s", tc.from, got, tc.want)
			}
		})
	}
}

func TestCompileRefuses(t *testing.T) {
	ok := Range{Type: RangeNoEnd, StartDate: "2026-03-02"}
	weekly := Pattern{Type: Weekly, Interval: 1, DaysOfWeek: []string{"monday"}}
	for _, tc := range []struct {
		name  string
		rec   Recurrence
		field string
	}{
		{"unknown type", Recurrence{Pattern{Type: "hourly", Interval: 1}, ok}, "recurrence.pattern.type"},
		{"interval zero", Recurrence{Pattern{Type: Daily}, ok}, "recurrence.pattern.interval"},
		{"interval too large", Recurrence{Pattern{Type: Daily, Interval: 1000}, ok}, "recurrence.pattern.interval"},
		{"weekly without days", Recurrence{Pattern{Type: Weekly, Interval: 1}, ok}, "recurrence.pattern.daysOfWeek"},
		{"weekly with a bad day", Recurrence{Pattern{Type: Weekly, Interval: 1, DaysOfWeek: []string{"mon"}}, ok}, "recurrence.pattern.daysOfWeek[0]"},
		{"daily with days of week: does not fit the type", Recurrence{Pattern{Type: Daily, Interval: 1, DaysOfWeek: []string{"monday"}}, ok}, "recurrence.pattern.daysOfWeek"},
		{"weekly with dayOfMonth: does not fit the type", Recurrence{Pattern{Type: Weekly, Interval: 1, DaysOfWeek: []string{"monday"}, DayOfMonth: 3}, ok}, "recurrence.pattern.dayOfMonth"},
		{"absoluteMonthly with an index: does not fit the type", Recurrence{Pattern{Type: AbsoluteMonthly, Interval: 1, DayOfMonth: 3, Index: "last"}, ok}, "recurrence.pattern.index"},
		{"daily with a month: does not fit the type", Recurrence{Pattern{Type: Daily, Interval: 1, Month: 3}, ok}, "recurrence.pattern.month"},
		{"absoluteMonthly without dayOfMonth", Recurrence{Pattern{Type: AbsoluteMonthly, Interval: 1}, ok}, "recurrence.pattern.dayOfMonth"},
		{"absoluteYearly on February 30th", Recurrence{Pattern{Type: AbsoluteYearly, Interval: 1, Month: 2, DayOfMonth: 30}, ok}, "recurrence.pattern.dayOfMonth"},
		{"absoluteYearly on April 31st", Recurrence{Pattern{Type: AbsoluteYearly, Interval: 1, Month: 4, DayOfMonth: 31}, ok}, "recurrence.pattern.dayOfMonth"},
		{"absoluteYearly without month", Recurrence{Pattern{Type: AbsoluteYearly, Interval: 1, DayOfMonth: 3}, ok}, "recurrence.pattern.month"},
		{"relativeYearly with month 13", Recurrence{Pattern{Type: RelativeYearly, Interval: 1, Month: 13, DaysOfWeek: []string{"monday"}}, ok}, "recurrence.pattern.month"},
		{"bad index", Recurrence{Pattern{Type: RelativeMonthly, Interval: 1, DaysOfWeek: []string{"monday"}, Index: "fifth"}, ok}, "recurrence.pattern.index"},
		{"bad firstDayOfWeek", Recurrence{Pattern{Type: Weekly, Interval: 1, DaysOfWeek: []string{"monday"}, FirstDayOfWeek: "funday"}, ok}, "recurrence.pattern.firstDayOfWeek"},
		{"unknown range type", Recurrence{weekly, Range{Type: "forever", StartDate: "2026-03-02"}}, "recurrence.range.type"},
		{"no start date", Recurrence{weekly, Range{Type: RangeNoEnd}}, "recurrence.range.startDate"},
		{"malformed start date", Recurrence{weekly, Range{Type: RangeNoEnd, StartDate: "2026-3-2"}}, "recurrence.range.startDate"},
		{"endDate range without endDate", Recurrence{weekly, Range{Type: RangeEndDate, StartDate: "2026-03-02"}}, "recurrence.range.endDate"},
		{"endDate before startDate", Recurrence{weekly, Range{Type: RangeEndDate, StartDate: "2026-03-02", EndDate: "2026-03-01"}}, "recurrence.range.endDate"},
		{"numbered without a count", Recurrence{weekly, Range{Type: RangeNumbered, StartDate: "2026-03-02"}}, "recurrence.range.numberOfOccurrences"},
		{"numbered over 999", Recurrence{weekly, Range{Type: RangeNumbered, StartDate: "2026-03-02", NumberOfOccurrences: 1000}}, "recurrence.range.numberOfOccurrences"},
		{"noEnd with an endDate", Recurrence{weekly, Range{Type: RangeNoEnd, StartDate: "2026-03-02", EndDate: "2026-04-01"}}, "recurrence.range.endDate"},
		{"noEnd with a count", Recurrence{weekly, Range{Type: RangeNoEnd, StartDate: "2026-03-02", NumberOfOccurrences: 4}}, "recurrence.range.numberOfOccurrences"},
		{"unknown recurrenceTimeZone", Recurrence{weekly, Range{Type: RangeNoEnd, StartDate: "2026-03-02", RecurrenceTimeZone: "Mars Standard Time"}}, "recurrence.range.recurrenceTimeZone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.rec)
			var pe *presence.Error
			if err == nil || !asError(err, &pe) || pe.Code != presence.Invalid || pe.Field != tc.field {
				t.Fatalf("Compile = %v, want invalid on %s", err, tc.field)
			}
			if !strings.Contains(pe.Message, strings.TrimSuffix(strings.TrimPrefix(tc.field, "recurrence."), "[0]")[:5]) {
				t.Errorf("message %q does not name the property", pe.Message)
			}
		})
	}
}

func TestCompileAcceptsGraphDefaults(t *testing.T) {
	// What Graph shows for a daily series, sent back as it was read.
	rec := Recurrence{
		Pattern: Pattern{Type: "daily", Interval: 1, Month: 0, DayOfMonth: 0, DaysOfWeek: []string{}, FirstDayOfWeek: "sunday", Index: "first"},
		Range:   Range{Type: "noEnd", StartDate: "2026-03-02", EndDate: "0001-01-01", RecurrenceTimeZone: "Pacific Standard Time", NumberOfOccurrences: 0},
	}
	if _, err := Compile(rec); err != nil {
		t.Fatal(err)
	}
	n := Recurrence{Pattern{Type: "WEEKLY", Interval: 1, DaysOfWeek: []string{"Monday"}}, Range{Type: "NoEnd", StartDate: "2026-03-02"}}.Normalized()
	if n.Pattern.Type != Weekly || n.Range.Type != RangeNoEnd || n.Pattern.DaysOfWeek[0] != "monday" || n.Pattern.FirstDayOfWeek != "sunday" || n.Pattern.Index != "first" || n.Range.EndDate != "0001-01-01" {
		t.Fatalf("Normalized = %+v", n)
	}
}

// naiveDates walks a rule day by day from its start: the reference the
// jumping expansion must agree with.
func naiveDates(r Rule, from Date, n int) []string {
	var out []string
	seen := 0
	for d := r.start; len(out) < n; d = d.AddDays(1) {
		if y, _, _ := d.YMD(); y > MaxYear || (!r.end.IsZero() && d.After(r.end)) {
			break
		}
		if !r.matches(d) {
			continue
		}
		if seen++; r.count > 0 && seen > r.count {
			break
		}
		if !d.Before(from) {
			out = append(out, d.String())
		}
	}
	return out
}

// matches reports whether d fits the pattern, judged on d alone.
func (r Rule) matches(d Date) bool {
	y, m, day := d.YMD()
	y0, m0, _ := r.start.YMD()
	switch r.kind {
	case Daily:
		return d.Sub(r.start)%r.interval == 0
	case Weekly:
		return r.days[d.Weekday()] && (r.weekOf(d).Sub(r.weekOf(r.start))/7)%r.interval == 0
	case AbsoluteMonthly, RelativeMonthly:
		if ((y-y0)*12+int(m-m0))%r.interval != 0 {
			return false
		}
	default:
		if (y-y0)%r.interval != 0 || m != r.month {
			return false
		}
	}
	if r.kind == AbsoluteMonthly || r.kind == AbsoluteYearly {
		return day == min(r.day, daysIn(y, m))
	}
	return r.relative(y, m).Equal(d)
}

func TestDatesJumpIsTheNaiveWalk(t *testing.T) {
	recs := []Recurrence{
		{Pattern{Type: Daily, Interval: 5}, Range{Type: RangeNoEnd, StartDate: "2019-07-13"}},
		{Pattern{Type: Weekly, Interval: 3, DaysOfWeek: []string{"sunday", "thursday"}, FirstDayOfWeek: "wednesday"}, Range{Type: RangeNoEnd, StartDate: "2019-07-13"}},
		{Pattern{Type: AbsoluteMonthly, Interval: 5, DayOfMonth: 30}, Range{Type: RangeEndDate, StartDate: "2019-07-13", EndDate: "2031-01-01"}},
		{Pattern{Type: RelativeMonthly, Interval: 2, DaysOfWeek: []string{"saturday", "sunday"}, Index: "last"}, Range{Type: RangeNoEnd, StartDate: "2019-07-13"}},
		{Pattern{Type: AbsoluteYearly, Interval: 1, Month: 2, DayOfMonth: 29}, Range{Type: RangeNumbered, StartDate: "2019-07-13", NumberOfOccurrences: 9}},
		{Pattern{Type: RelativeYearly, Interval: 3, Month: 7, DaysOfWeek: []string{"friday"}, Index: "third"}, Range{Type: RangeNoEnd, StartDate: "2019-07-13"}},
	}
	for _, rec := range recs {
		r := mustCompile(t, rec)
		for _, from := range []string{"2019-01-01", "2019-07-13", "2020-02-29", "2024-12-31", "2026-03-08", "2030-06-15"} {
			got, want := strings.Join(firstDates(r, date(from), 6), " "), strings.Join(naiveDates(r, date(from), 6), " ")
			if got != want {
				t.Errorf("%s from %s: %s, naive walk %s", rec.Pattern.Type, from, got, want)
			}
		}
	}
}

func TestParseDateTime(t *testing.T) {
	for _, tc := range []struct {
		in    DateTimeTimeZone
		want  string
		field string
	}{
		{DateTimeTimeZone{DateTime: "2026-03-02T09:00:00.0000000", TimeZone: "Pacific Standard Time"}, "2026-03-02T17:00:00Z", ""},
		{DateTimeTimeZone{DateTime: "2026-03-09T09:00:00", TimeZone: "Pacific Standard Time"}, "2026-03-09T16:00:00Z", ""}, // after the DST change
		{DateTimeTimeZone{DateTime: "2026-03-02T09:00", TimeZone: "Europe/Berlin"}, "2026-03-02T08:00:00Z", ""},
		{DateTimeTimeZone{DateTime: "2026-03-02T09:00:00Z", TimeZone: "UTC"}, "", "start.dateTime"},
		{DateTimeTimeZone{DateTime: "2026-03-02T09:00:00+01:00", TimeZone: "UTC"}, "", "start.dateTime"},
		{DateTimeTimeZone{DateTime: "2026-02-30T09:00:00", TimeZone: "UTC"}, "", "start.dateTime"},
		{DateTimeTimeZone{DateTime: "", TimeZone: "UTC"}, "", "start.dateTime"},
		{DateTimeTimeZone{DateTime: "2026-03-02T09:00:00", TimeZone: "Mars Standard Time"}, "", "start.timeZone"},
		{DateTimeTimeZone{DateTime: "2026-03-02T09:00:00", TimeZone: ""}, "", "start.timeZone"},
		{DateTimeTimeZone{DateTime: "2999-03-02T09:00:00", TimeZone: "UTC"}, "", "start.dateTime"},
	} {
		got, _, err := ParseDateTime(tc.in, "start")
		if tc.field != "" {
			var pe *presence.Error
			if !asError(err, &pe) || pe.Field != tc.field {
				t.Errorf("ParseDateTime(%v) = %v, want an error on %s", tc.in, err, tc.field)
			}
			continue
		}
		if err != nil || got.UTC().Format(time.RFC3339) != tc.want {
			t.Errorf("ParseDateTime(%v) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	pst, _ := Zone("Pacific Standard Time", "z")
	if s := FormatDateTime(time.Date(2026, 3, 9, 16, 0, 0, 0, time.UTC), pst); s != "2026-03-09T09:00:00.0000000" {
		t.Errorf("FormatDateTime = %s", s)
	}
}
