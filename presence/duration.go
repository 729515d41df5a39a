package presence

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Expiration ranges and fade thresholds (semantics.md §1–§2).
const (
	SessionMinExpiration     = 5 * time.Minute
	SessionMaxExpiration     = 4 * time.Hour
	SessionDefaultExpiration = 5 * time.Minute

	PreferredMinExpiration = 5 * time.Minute
	PreferredMaxExpiration = 30 * 24 * time.Hour

	// FadeInactive is the idle time after which an Available/Available
	// session shows Available/AvailableInactive.
	FadeInactive = 5 * time.Minute
	// FadeAway is the idle time after which it shows Away/Away.
	FadeAway = 10 * time.Minute
)

// ParseDuration parses an ISO 8601 duration as Graph's Edm.Duration uses it:
//
//	P[nW][nD][T[nH][nM][n[.fff]S]]
//
// It is written by hand because the standard library has no ISO 8601
// duration parser (time.ParseDuration speaks Go's own "1h30m" syntax) and the
// grammar is small enough that a dependency would cost more than it saves.
// Years and months are refused: they have no fixed length, so "P1M" cannot
// be turned into a time.Duration honestly. Negative durations are refused:
// every duration Graph takes here is a lifetime.
//
// A failure is an *Error with Code Invalid and no Field; callers set Field.
func ParseDuration(s string) (time.Duration, error) {
	bad := func(why string) error {
		return Errorf(Invalid, "", "'%s' is not a valid ISO 8601 duration: %s; expected e.g. PT1H, PT30M, P1D or P1DT12H", s, why)
	}
	if s == "" {
		return 0, Errorf(Invalid, "", "duration is empty; expected an ISO 8601 duration such as PT1H, PT30M, P1D or P1DT12H")
	}
	rest := s
	if rest[0] == '-' {
		return 0, Errorf(Invalid, "", "'%s' is negative; negative durations are not allowed (expected e.g. PT1H)", s)
	}
	if rest[0] != 'P' && rest[0] != 'p' {
		return 0, bad("it must start with 'P'")
	}
	rest = rest[1:]
	if rest == "" {
		return 0, bad("'P' must be followed by at least one component")
	}

	var total time.Duration
	add := func(n time.Duration) bool {
		if n < 0 || total > math.MaxInt64-n {
			return false
		}
		total += n
		return true
	}
	// Units in the order they may appear; each at most once.
	dateUnits := []struct {
		u byte
		d time.Duration
	}{{'W', 7 * 24 * time.Hour}, {'D', 24 * time.Hour}}
	timeUnits := []struct {
		u byte
		d time.Duration
	}{{'H', time.Hour}, {'M', time.Minute}, {'S', time.Second}}

	inTime := false
	next := 0 // index of the next unit allowed in the current part
	components := 0
	for rest != "" {
		if rest[0] == 'T' || rest[0] == 't' {
			if inTime {
				return 0, bad("'T' appears twice")
			}
			inTime, next = true, 0
			rest = rest[1:]
			if rest == "" {
				return 0, bad("'T' must be followed by at least one of H, M or S")
			}
			continue
		}
		// Number: digits, optionally a fraction (seconds only).
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		intPart := rest[:i]
		frac := ""
		if i < len(rest) && (rest[i] == '.' || rest[i] == ',') {
			j := i + 1
			for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
				j++
			}
			frac = rest[i+1 : j]
			if frac == "" {
				return 0, bad("a decimal point must be followed by digits")
			}
			i = j
		}
		if intPart == "" {
			if i < len(rest) && rest[i] == '-' {
				return 0, Errorf(Invalid, "", "'%s' has a negative component; negative durations are not allowed (expected e.g. PT1H)", s)
			}
			return 0, bad("expected a number")
		}
		if i == len(rest) {
			return 0, bad("number '" + rest + "' has no unit (W, D, H, M or S)")
		}
		orig := rest[i]
		u := orig &^ 0x20 // upper-case ASCII letter
		rest = rest[i+1:]

		if !inTime && (u == 'Y' || u == 'M') {
			return 0, Errorf(Invalid, "", "'%s' uses years or months, which have no fixed length and are not accepted; use weeks, days, hours, minutes and seconds, e.g. P30D or PT1H", s)
		}
		units := dateUnits
		if inTime {
			units = timeUnits
		}
		k := next
		for k < len(units) && units[k].u != u {
			k++
		}
		if k == len(units) {
			part := "date part (before 'T') accepts W and D"
			if inTime {
				part = "time part (after 'T') accepts H, M and S"
			}
			return 0, bad("unit " + strconv.QuoteRune(rune(orig)) + " is out of place; the " + part + ", in that order, each at most once")
		}
		next = k + 1
		if frac != "" && units[k].u != 'S' {
			return 0, bad("only seconds may have a fraction")
		}
		n, err := strconv.ParseInt(intPart, 10, 64)
		if err != nil || n > math.MaxInt64/int64(units[k].d) {
			return 0, bad("it is too long (the maximum is about 290 years)")
		}
		if !add(time.Duration(n) * units[k].d) {
			return 0, bad("it is too long (the maximum is about 290 years)")
		}
		if frac != "" {
			// Nanosecond resolution; further digits are dropped.
			if len(frac) > 9 {
				frac = frac[:9]
			}
			f, _ := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
			if !add(time.Duration(f)) {
				return 0, bad("it is too long (the maximum is about 290 years)")
			}
		}
		components++
	}
	if components == 0 {
		return 0, bad("it has no components")
	}
	return total, nil
}

// FormatDuration renders d as a canonical ISO 8601 duration that
// ParseDuration reads back to d: days, then hours, minutes and seconds with
// a fraction only when needed (PT5M, P1D, P1DT2H30M, PT0.5S; zero is PT0S).
// A negative d is rendered with a leading '-', which ParseDuration refuses.
func FormatDuration(d time.Duration) string {
	var b strings.Builder
	u := uint64(d)
	if d < 0 {
		b.WriteByte('-')
		u = -u
	}
	b.WriteByte('P')
	const (
		day  = uint64(24 * time.Hour)
		hour = uint64(time.Hour)
		min  = uint64(time.Minute)
		sec  = uint64(time.Second)
	)
	days := u / day
	u %= day
	if days > 0 {
		b.WriteString(strconv.FormatUint(days, 10))
		b.WriteByte('D')
	}
	if u == 0 {
		if days == 0 {
			return b.String() + "T0S"
		}
		return b.String()
	}
	b.WriteByte('T')
	if h := u / hour; h > 0 {
		b.WriteString(strconv.FormatUint(h, 10))
		b.WriteByte('H')
	}
	u %= hour
	if m := u / min; m > 0 {
		b.WriteString(strconv.FormatUint(m, 10))
		b.WriteByte('M')
	}
	u %= min
	if u > 0 {
		b.WriteString(strconv.FormatUint(u/sec, 10))
		if ns := u % sec; ns > 0 {
			f := strconv.FormatUint(ns+sec, 10)[1:] // 9 digits, zero-padded
			b.WriteByte('.')
			b.WriteString(strings.TrimRight(f, "0"))
		}
		b.WriteByte('S')
	}
	return b.String()
}

// CheckRange reports an Invalid error on field when d is outside
// [min, max], naming the value and the accepted range in ISO 8601.
func CheckRange(field string, d, min, max time.Duration) error {
	if d < min || d > max {
		return Errorf(Invalid, field, "%s %s is out of range; accepted %s..%s", field, FormatDuration(d), FormatDuration(min), FormatDuration(max))
	}
	return nil
}
