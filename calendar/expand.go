package calendar

import "time"

// Dates calls yield with the series' dates on or after from, in order,
// until the range ends or yield returns false. Unbounded series jump to
// from: the cost does not depend on how many occurrences lie before it. A
// numbered range (at most MaxOccurrences) is counted from its start.
func (r Rule) Dates(from Date, yield func(Date) bool) {
	if r.kind == "" {
		return
	}
	seen := 0
	k := 0
	if r.count == 0 { // a numbered range counts from its start
		k = r.firstPeriod(from)
	}
	for ; ; k++ {
		ds, ok := r.period(k)
		if !ok {
			return
		}
		for _, d := range ds {
			if d.Before(r.start) {
				continue
			}
			if !r.end.IsZero() && d.After(r.end) {
				return
			}
			if r.count > 0 {
				if seen++; seen > r.count {
					return
				}
			}
			if d.Before(from) {
				continue
			}
			if !yield(d) {
				return
			}
		}
	}
}

// firstPeriod is the number of the first period (of interval days, weeks,
// months or years counted from the series' start) that can hold from.
func (r Rule) firstPeriod(from Date) int {
	if !r.start.Before(from) {
		return 0
	}
	switch r.kind {
	case Daily:
		return from.Sub(r.start) / r.interval
	case Weekly:
		return from.Sub(r.weekOf(r.start)) / (7 * r.interval)
	case AbsoluteMonthly, RelativeMonthly:
		y0, m0, _ := r.start.YMD()
		y, m, _ := from.YMD()
		return ((y-y0)*12 + int(m-m0)) / r.interval
	default:
		y0, _, _ := r.start.YMD()
		y, _, _ := from.YMD()
		return (y - y0) / r.interval
	}
}

// weekOf is the first day (r.firstDay) of the week holding d.
func (r Rule) weekOf(d Date) Date {
	return d.AddDays(-((int(d.Weekday()) - int(r.firstDay) + 7) % 7))
}

// period returns the dates of period k, in order; false past MaxYear (a
// series with no end is cut there).
func (r Rule) period(k int) ([]Date, bool) {
	var out []Date
	switch r.kind {
	case Daily:
		d := r.start.AddDays(k * r.interval)
		out = append(out, d)
	case Weekly:
		w := r.weekOf(r.start).AddDays(7 * r.interval * k)
		for i := range 7 {
			if d := w.AddDays(i); r.days[d.Weekday()] {
				out = append(out, d)
			}
		}
	default:
		y0, m0, _ := r.start.YMD()
		var y int
		var m time.Month
		if r.kind == AbsoluteMonthly || r.kind == RelativeMonthly {
			n := int(m0-1) + k*r.interval
			y, m = y0+n/12, time.Month(n%12+1)
		} else {
			y, m = y0+k*r.interval, r.month
		}
		if y > MaxYear {
			return nil, false
		}
		if r.kind == AbsoluteMonthly || r.kind == AbsoluteYearly {
			// A day the month lacks (the 31st, February 29th) falls on the
			// month's last day, as Outlook places it.
			out = append(out, MakeDate(y, m, min(r.day, daysIn(y, m))))
		} else {
			out = append(out, r.relative(y, m))
		}
	}
	if len(out) == 0 {
		return nil, false // a weekly rule without days (Compile never makes one)
	}
	if y, _, _ := out[len(out)-1].YMD(); y > MaxYear {
		return nil, false
	}
	return out, true
}

// relative is the index-th day of month m of year y whose weekday is one
// of r.days (the last such day for index -1).
func (r Rule) relative(y int, m time.Month) Date {
	n := daysIn(y, m)
	if r.index < 0 {
		for d := n; d >= 1; d-- {
			if day := MakeDate(y, m, d); r.days[day.Weekday()] {
				return day
			}
		}
	}
	seen := 0
	for d := 1; d <= n; d++ {
		if day := MakeDate(y, m, d); r.days[day.Weekday()] {
			if seen++; seen == r.index {
				return day
			}
		}
	}
	return MakeDate(y, m, n) // unreachable: every weekday occurs four times a month
}

// Has reports whether d is one of the series' dates.
func (r Rule) Has(d Date) bool {
	found := false
	r.Dates(d, func(x Date) bool {
		found = x.Equal(d)
		return false
	})
	return found
}
