package calendar

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/presenced/presenced/presence"
)

// Pattern is Graph's recurrencePattern, as sent and shown.
type Pattern struct {
	Type           string   `json:"type"`
	Interval       int      `json:"interval"`
	Month          int      `json:"month"`
	DayOfMonth     int      `json:"dayOfMonth"`
	DaysOfWeek     []string `json:"daysOfWeek"`
	FirstDayOfWeek string   `json:"firstDayOfWeek"`
	Index          string   `json:"index"`
}

// Range is Graph's recurrenceRange, as sent and shown.
type Range struct {
	Type                string `json:"type"`
	StartDate           string `json:"startDate"`
	EndDate             string `json:"endDate"`
	RecurrenceTimeZone  string `json:"recurrenceTimeZone"`
	NumberOfOccurrences int    `json:"numberOfOccurrences"`
}

// Recurrence is Graph's patternedRecurrence.
type Recurrence struct {
	Pattern Pattern `json:"pattern"`
	Range   Range   `json:"range"`
}

// Pattern types.
const (
	Daily           = "daily"
	Weekly          = "weekly"
	AbsoluteMonthly = "absoluteMonthly"
	RelativeMonthly = "relativeMonthly"
	AbsoluteYearly  = "absoluteYearly"
	RelativeYearly  = "relativeYearly"
)

// Range types.
const (
	RangeEndDate  = "endDate"
	RangeNoEnd    = "noEnd"
	RangeNumbered = "numbered"
)

// Limits of a recurrence. A numbered range has at most MaxOccurrences
// occurrences (Outlook's limit); an interval is at most MaxInterval units.
const (
	MaxOccurrences = 999
	MaxInterval    = 999
)

var (
	patternTypes = []string{Daily, Weekly, AbsoluteMonthly, RelativeMonthly, AbsoluteYearly, RelativeYearly}
	rangeTypes   = []string{RangeEndDate, RangeNoEnd, RangeNumbered}
	dayNames     = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}
	indexNames   = []string{"first", "second", "third", "fourth", "last"}
)

// noEndDate is what Graph shows as the endDate of a range that has none.
const noEndDate = "0001-01-01"

// Rule is a checked recurrence, ready to expand. The zero Rule is invalid.
type Rule struct {
	kind     string
	interval int
	month    time.Month
	day      int          // absolute patterns: day of month (clamped to the month's last day)
	days     [7]bool      // weekly and relative patterns
	firstDay time.Weekday // weekly
	index    int          // relative patterns: 1..4, or -1 for last
	start    Date         // first date the series may occur on
	end      Date         // endDate ranges: last date (inclusive); zero otherwise
	count    int          // numbered ranges: how many occurrences
}

// Compile checks a recurrence and returns its Rule. Every property that
// does not belong to the pattern's type must be absent or hold Graph's
// default (0, [], "sunday", "first": what Graph itself shows), so that an
// event read back can be sent again; any other value is refused, naming
// the property and the type. start is the series' first day when the
// range gives no startDate (Graph requires one; so do we).
func Compile(r Recurrence) (Rule, error) {
	p, rg := r.Pattern, r.Range
	var rule Rule
	kind, ok := Canonical(p.Type, patternTypes)
	if !ok {
		return rule, invalid("recurrence.pattern.type", "recurrence.pattern.type '%s' is not accepted; accepted: %s.", clip(p.Type), strings.Join(patternTypes, ", "))
	}
	rule.kind = kind
	if p.Interval < 1 || p.Interval > MaxInterval {
		return rule, invalid("recurrence.pattern.interval", "recurrence.pattern.interval is %d; it must be between 1 and %d (the number of %s between occurrences).", p.Interval, MaxInterval, unit(kind))
	}
	rule.interval = p.Interval

	needs := map[string]bool{}
	switch kind {
	case Weekly:
		needs["daysOfWeek"], needs["firstDayOfWeek"] = true, true
	case AbsoluteMonthly:
		needs["dayOfMonth"] = true
	case RelativeMonthly:
		needs["daysOfWeek"], needs["index"] = true, true
	case AbsoluteYearly:
		needs["dayOfMonth"], needs["month"] = true, true
	case RelativeYearly:
		needs["daysOfWeek"], needs["index"], needs["month"] = true, true, true
	}
	// What does not belong to the type must hold no value of its own.
	for _, f := range []struct {
		name  string
		given bool
	}{
		{"month", p.Month != 0},
		{"dayOfMonth", p.DayOfMonth != 0},
		{"daysOfWeek", len(p.DaysOfWeek) > 0},
		{"firstDayOfWeek", p.FirstDayOfWeek != "" && !strings.EqualFold(p.FirstDayOfWeek, "sunday")},
		{"index", p.Index != "" && !strings.EqualFold(p.Index, "first")},
	} {
		if f.given && !needs[f.name] {
			return rule, invalid("recurrence.pattern."+f.name, "recurrence.pattern.%s does not apply to a %s pattern; it is used by %s.", f.name, kind, usedBy(f.name))
		}
	}
	if needs["daysOfWeek"] {
		if len(p.DaysOfWeek) == 0 {
			return rule, invalid("recurrence.pattern.daysOfWeek", "a %s pattern needs recurrence.pattern.daysOfWeek (one or more of %s).", kind, strings.Join(dayNames, ", "))
		}
		for i, d := range p.DaysOfWeek {
			w, ok := weekday(d)
			if !ok {
				return rule, invalid(fmt.Sprintf("recurrence.pattern.daysOfWeek[%d]", i), "recurrence.pattern.daysOfWeek[%d] '%s' is not a day of the week; accepted: %s.", i, clip(d), strings.Join(dayNames, ", "))
			}
			rule.days[w] = true
		}
	}
	rule.firstDay = time.Sunday
	if p.FirstDayOfWeek != "" {
		w, ok := weekday(p.FirstDayOfWeek)
		if !ok {
			return rule, invalid("recurrence.pattern.firstDayOfWeek", "recurrence.pattern.firstDayOfWeek '%s' is not a day of the week; accepted: %s.", clip(p.FirstDayOfWeek), strings.Join(dayNames, ", "))
		}
		rule.firstDay = w
	}
	rule.index = 1
	if p.Index != "" {
		i := slices.IndexFunc(indexNames, func(n string) bool { return strings.EqualFold(n, p.Index) })
		if i < 0 {
			return rule, invalid("recurrence.pattern.index", "recurrence.pattern.index '%s' is not accepted; accepted: %s.", clip(p.Index), strings.Join(indexNames, ", "))
		}
		rule.index = i + 1
		if i == 4 {
			rule.index = -1
		}
	}
	if needs["month"] {
		if p.Month < 1 || p.Month > 12 {
			return rule, invalid("recurrence.pattern.month", "a %s pattern needs recurrence.pattern.month between 1 and 12; got %d.", kind, p.Month)
		}
		rule.month = time.Month(p.Month)
	}
	if needs["dayOfMonth"] {
		maxDay := 31
		if rule.month == time.February {
			maxDay = 29
		} else if rule.month != 0 && daysIn(2001, rule.month) == 30 {
			maxDay = 30
		}
		if p.DayOfMonth < 1 || p.DayOfMonth > maxDay {
			return rule, invalid("recurrence.pattern.dayOfMonth", "a %s pattern needs recurrence.pattern.dayOfMonth between 1 and %d; got %d.", kind, maxDay, p.DayOfMonth)
		}
		rule.day = p.DayOfMonth
	}

	rkind, ok := Canonical(rg.Type, rangeTypes)
	if !ok {
		return rule, invalid("recurrence.range.type", "recurrence.range.type '%s' is not accepted; accepted: %s.", clip(rg.Type), strings.Join(rangeTypes, ", "))
	}
	start, err := ParseDate(rg.StartDate, "recurrence.range.startDate")
	if err != nil {
		if rg.StartDate == "" {
			return rule, invalid("recurrence.range.startDate", "recurrence.range.startDate is required (yyyy-mm-dd): the first day the series may occur on.")
		}
		return rule, err
	}
	rule.start = start
	endGiven := rg.EndDate != "" && rg.EndDate != noEndDate
	switch rkind {
	case RangeEndDate:
		if !endGiven {
			return rule, invalid("recurrence.range.endDate", "a range of type endDate needs recurrence.range.endDate (yyyy-mm-dd).")
		}
		end, err := ParseDate(rg.EndDate, "recurrence.range.endDate")
		if err != nil {
			return rule, err
		}
		if end.Before(start) {
			return rule, invalid("recurrence.range.endDate", "recurrence.range.endDate %s is before its startDate %s.", end, start)
		}
		rule.end = end
	case RangeNumbered:
		if rg.NumberOfOccurrences < 1 || rg.NumberOfOccurrences > MaxOccurrences {
			return rule, invalid("recurrence.range.numberOfOccurrences", "a numbered range needs recurrence.range.numberOfOccurrences between 1 and %d; got %d.", MaxOccurrences, rg.NumberOfOccurrences)
		}
		rule.count = rg.NumberOfOccurrences
	}
	if rkind != RangeEndDate && endGiven {
		return rule, invalid("recurrence.range.endDate", "recurrence.range.endDate applies only to a range of type endDate; this one is %s.", rkind)
	}
	if rkind != RangeNumbered && rg.NumberOfOccurrences != 0 {
		return rule, invalid("recurrence.range.numberOfOccurrences", "recurrence.range.numberOfOccurrences applies only to a range of type numbered; this one is %s.", rkind)
	}
	if rg.RecurrenceTimeZone != "" {
		if _, err := Zone(rg.RecurrenceTimeZone, "recurrence.range.recurrenceTimeZone"); err != nil {
			return rule, err
		}
	}
	return rule, nil
}

// Normalized is r as Graph shows it: canonical names and Graph's defaults
// in the properties the type does not use.
func (r Recurrence) Normalized() Recurrence {
	n := r
	n.Pattern.Type, _ = Canonical(r.Pattern.Type, patternTypes)
	n.Range.Type, _ = Canonical(r.Range.Type, rangeTypes)
	n.Pattern.DaysOfWeek = make([]string, 0, len(r.Pattern.DaysOfWeek))
	for _, d := range r.Pattern.DaysOfWeek {
		w, _ := weekday(d)
		n.Pattern.DaysOfWeek = append(n.Pattern.DaysOfWeek, dayNames[w])
	}
	if n.Pattern.FirstDayOfWeek == "" {
		n.Pattern.FirstDayOfWeek = "sunday"
	}
	n.Pattern.FirstDayOfWeek = strings.ToLower(n.Pattern.FirstDayOfWeek)
	if n.Pattern.Index == "" {
		n.Pattern.Index = "first"
	}
	n.Pattern.Index = strings.ToLower(n.Pattern.Index)
	if n.Range.EndDate == "" {
		n.Range.EndDate = noEndDate
	}
	return n
}

func invalid(field, format string, args ...any) error {
	return presence.Errorf(presence.Invalid, field, format, args...)
}

// Canonical is the accepted value v names, matched case-insensitively
// (Graph's enum values are matched so and shown in their own case).
func Canonical(v string, accepted []string) (string, bool) {
	for _, a := range accepted {
		if strings.EqualFold(a, v) {
			return a, true
		}
	}
	return "", false
}

func weekday(name string) (time.Weekday, bool) {
	for i, n := range dayNames {
		if strings.EqualFold(n, name) {
			return time.Weekday(i), true
		}
	}
	return 0, false
}

func unit(kind string) string {
	switch kind {
	case Daily:
		return "days"
	case Weekly:
		return "weeks"
	case AbsoluteMonthly, RelativeMonthly:
		return "months"
	}
	return "years"
}

func usedBy(field string) string {
	switch field {
	case "month":
		return "absoluteYearly and relativeYearly"
	case "dayOfMonth":
		return "absoluteMonthly and absoluteYearly"
	case "daysOfWeek":
		return "weekly, relativeMonthly and relativeYearly"
	case "firstDayOfWeek":
		return "weekly"
	}
	return "relativeMonthly and relativeYearly"
}

// daysIn is the number of days of month m of year y.
func daysIn(y int, m time.Month) int { return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day() }
