package presence

import (
	"math"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	ok := []struct {
		in   string
		want time.Duration
	}{
		{"PT5M", 5 * time.Minute},
		{"PT1H", time.Hour},
		{"PT1H30M", 90 * time.Minute},
		{"PT4H", 4 * time.Hour},
		{"P1D", day},
		{"P7D", 7 * day},
		{"P30D", 30 * day},
		{"PT0.5S", 500 * time.Millisecond},
		{"PT0,5S", 500 * time.Millisecond},
		{"PT1.2079781S", time.Second + 207978100*time.Nanosecond},
		{"PT0.0000000001S", 0}, // below a nanosecond
		{"P1DT2H", day + 2*time.Hour},
		{"P2W", 14 * day},
		{"P1W2D", 9 * day},
		{"PT0S", 0},
		{"PT90M", 90 * time.Minute},
		{"PT8H", 8 * time.Hour},
		{"pt5m", 5 * time.Minute},
		{"P1DT2H3M4.5S", day + 2*time.Hour + 3*time.Minute + 4500*time.Millisecond},
		{"PT2562047H47M16.854775807S", math.MaxInt64},
	}
	for _, tc := range ok {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDuration(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
	bad := []struct {
		in        string
		fragments []string
	}{
		{"", []string{"duration is empty", "PT1H"}},
		{"P", []string{"'P' is not a valid ISO 8601 duration", "PT1H"}},
		{"PT", []string{"'PT' is not a valid ISO 8601 duration"}},
		{"P1DT", []string{"'T' must be followed"}},
		{"5M", []string{"must start with 'P'"}},
		{"PT5", []string{"has no unit"}},
		{"PT5Mx", []string{"expected a number"}},
		{"PT5M ", []string{"expected a number"}},
		{"P1M", []string{"years or months", "no fixed length"}},
		{"P1Y", []string{"years or months"}},
		{"P1Y2M3DT4H", []string{"years or months"}},
		{"-PT5M", []string{"negative durations are not allowed"}},
		{"PT-5M", []string{"negative durations are not allowed"}},
		{"PT1M1H", []string{"out of place"}},
		{"PT1H1H", []string{"out of place"}},
		{"P1D1W", []string{"out of place"}},
		{"P1H", []string{"out of place"}},
		{"PT1D", []string{"out of place"}},
		{"PT1TH", []string{"unit 'T' is out of place"}},
		{"P1DTT1H", []string{"'T' appears twice"}},
		{"PT1.5M", []string{"only seconds may have a fraction"}},
		{"PT.5S", []string{"expected a number"}},
		{"PT1.S", []string{"decimal point must be followed by digits"}},
		{"PT2562047H47M16.854775808S", []string{"too long"}},
		{"P999999999999999999999D", []string{"too long"}},
		{"P106752D", []string{"too long"}},
		{"1h30m", []string{"must start with 'P'"}},
	}
	for _, tc := range bad {
		t.Run("rejects "+tc.in, func(t *testing.T) {
			d, err := ParseDuration(tc.in)
			if err == nil {
				t.Fatalf("ParseDuration(%q) = %v, want error", tc.in, d)
			}
			wantError(t, err, Invalid, "", tc.fragments...)
		})
	}
}

func TestFormatDuration(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{0, "PT0S"},
		{5 * time.Minute, "PT5M"},
		{time.Hour, "PT1H"},
		{90 * time.Minute, "PT1H30M"},
		{day, "P1D"},
		{7 * day, "P7D"},
		{day + 2*time.Hour + 30*time.Minute, "P1DT2H30M"},
		{500 * time.Millisecond, "PT0.5S"},
		{time.Nanosecond, "PT0.000000001S"},
		{day + time.Second, "P1DT1S"},
		{-5 * time.Minute, "-PT5M"},
		{math.MaxInt64, "P106751DT23H47M16.854775807S"},
		{math.MinInt64, "-P106751DT23H47M16.854775808S"},
	} {
		if got := FormatDuration(tc.in); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.in, got, tc.want)
		}
		if tc.in >= 0 {
			back, err := ParseDuration(tc.want)
			if err != nil || back != tc.in {
				t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.want, back, err, tc.in)
			}
		}
	}
}

func TestCheckRange(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    time.Duration
		ok   bool
	}{
		{"§1 session expiration PT5M is the minimum", SessionMinExpiration, true},
		{"§1 session expiration PT4H is the maximum", SessionMaxExpiration, true},
		{"§1 session expiration PT3M is too short", 3 * time.Minute, false},
		{"§1 session expiration PT4H1S is too long", 4*time.Hour + time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckRange("expirationDuration", tc.d, SessionMinExpiration, SessionMaxExpiration)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantError(t, err, Invalid, "expirationDuration", "expirationDuration "+FormatDuration(tc.d)+" is out of range; accepted PT5M..PT4H")
		})
	}
	err := CheckRange("expirationDuration", 31*24*time.Hour, PreferredMinExpiration, PreferredMaxExpiration)
	wantError(t, err, Invalid, "expirationDuration", "expirationDuration P31D is out of range; accepted PT5M..P30D")
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"PT5M", "PT1H30M", "P1D", "P7D", "PT0.5S", "P1DT2H", "P2W", "-PT5M", "P1M", "PT", "P", "PT1.2079781S", "P1W2DT3H4M5.6S"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if ErrorCode(err) != Invalid {
				t.Fatalf("ParseDuration(%q): error code %s, want invalid", s, ErrorCode(err))
			}
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
		f := FormatDuration(d)
		back, err := ParseDuration(f)
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v; FormatDuration = %q; ParseDuration again = %v, %v", s, d, f, back, err)
		}
	})
}
