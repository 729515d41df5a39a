package tz

import (
	"testing"
	"time"
)

func TestWindowsZonesLoad(t *testing.T) {
	if len(windowsZones) < 100 {
		t.Errorf("windowsZones has %d entries, want at least 100", len(windowsZones))
	}
	for w, iana := range windowsZones {
		if _, err := time.LoadLocation(iana); err != nil {
			t.Errorf("Windows zone %q maps to %q, which does not load: %v", w, iana, err)
		}
	}
}

func TestWindowsToIANA(t *testing.T) {
	for w, want := range map[string]string{
		"Pacific Standard Time":     "America/Los_Angeles",
		"W. Europe Standard Time":   "Europe/Berlin",
		"GMT Standard Time":         "Europe/London",
		"India Standard Time":       "Asia/Kolkata",
		"Tokyo Standard Time":       "Asia/Tokyo",
		"AUS Eastern Standard Time": "Australia/Sydney",
		"Eastern Standard Time":     "America/New_York",
		"Central Standard Time":     "America/Chicago",
		"Mountain Standard Time":    "America/Denver",
		"China Standard Time":       "Asia/Shanghai",
		"Romance Standard Time":     "Europe/Paris",
	} {
		if got, ok := WindowsToIANA(w); !ok || got != want {
			t.Errorf("WindowsToIANA(%q) = %q, %v; want %q", w, got, ok, want)
		}
	}
	if _, ok := WindowsToIANA("Europe/Berlin"); ok {
		t.Error("an IANA name is not a Windows name")
	}
}

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
		want string
	}{
		{"UTC", true, "UTC"},
		{"utc", true, "UTC"},
		{"Pacific Standard Time", true, "America/Los_Angeles"},
		{"pacific standard time", true, "America/Los_Angeles"},
		{"Europe/Berlin", true, "Europe/Berlin"},
		{"", false, ""},
		{"Local", false, ""},
		{"Mars/Olympus_Mons", false, ""},
		{"../../etc/passwd", false, ""},
		{"Pacific Standard Tim", false, ""},
	} {
		loc, ok := Load(tc.name)
		if ok != tc.ok || (ok && loc.String() != tc.want) {
			t.Errorf("Load(%q) = %v, %v; want %q, %v", tc.name, loc, ok, tc.want, tc.ok)
		}
	}
}
