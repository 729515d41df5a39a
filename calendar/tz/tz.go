// Package tz resolves the time zone names Graph accepts: "UTC", IANA names
// ("Europe/Berlin") and the Windows names Graph and Outlook use ("Pacific
// Standard Time"), mapped as CLDR's windowZones does. It is shared by the
// status message's expiry (presence) and the calendar.
package tz

import (
	"regexp"
	"strings"
	"sync"
	"time"

	// Embed the IANA database so that zone names resolve on machines (and
	// minimal containers) without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// ianaName is the shape of an IANA zone name; checked before asking the
// database so that arbitrary input never becomes a file path.
var ianaName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9][A-Za-z0-9_+\-]*){0,2}$`)

// Load returns the zone named name: "UTC" (any case), a Windows zone name
// (case-insensitive) or an IANA name. false when the name is none of them.
func Load(name string) (*time.Location, bool) {
	if name == "" {
		return nil, false
	}
	if strings.EqualFold(name, "UTC") {
		return time.UTC, true
	}
	if iana, ok := windowsZoneIndex[strings.ToLower(name)]; ok {
		if loc, err := loadLocation(iana); err == nil {
			return loc, true
		}
	}
	if name != "Local" && ianaName.MatchString(name) {
		if loc, err := loadLocation(name); err == nil {
			return loc, true
		}
	}
	return nil, false
}

// locations caches zones that loaded: time.LoadLocation reads and parses
// the zone file on every call. Failures are not cached, so arbitrary input
// cannot grow the cache.
var locations sync.Map // string → *time.Location

func loadLocation(name string) (*time.Location, error) {
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, l)
	return l, nil
}

// WindowsToIANA returns the IANA zone for a Windows time zone name
// (case-insensitive), as CLDR's windowsZones maps it for territory "001".
func WindowsToIANA(name string) (string, bool) {
	iana, ok := windowsZoneIndex[strings.ToLower(name)]
	return iana, ok
}

var windowsZoneIndex = func() map[string]string {
	m := make(map[string]string, len(windowsZones))
	for w, i := range windowsZones {
		m[strings.ToLower(w)] = i
	}
	return m
}()

// windowsZones maps Windows time zone IDs to IANA zones. It is written from
// the Unicode CLDR supplemental data file windowsZones.xml (the
// territory="001" mapZone entries, i.e. the "golden" zone of each Windows
// ID), with CLDR's legacy IANA names replaced by their current canonical
// names (Asia/Calcutta → Asia/Kolkata, Europe/Kiev → Europe/Kyiv, …), plus a
// few Windows IDs that Windows has since retired but old clients still send.
// Written from knowledge without network access; TestWindowsZonesLoad
// checks that every target exists in the embedded IANA database.
var windowsZones = map[string]string{
	"Dateline Standard Time":          "Etc/GMT+12",
	"UTC-11":                          "Etc/GMT+11",
	"Aleutian Standard Time":          "America/Adak",
	"Hawaiian Standard Time":          "Pacific/Honolulu",
	"Marquesas Standard Time":         "Pacific/Marquesas",
	"Alaskan Standard Time":           "America/Anchorage",
	"UTC-09":                          "Etc/GMT+9",
	"Pacific Standard Time (Mexico)":  "America/Tijuana",
	"UTC-08":                          "Etc/GMT+8",
	"Pacific Standard Time":           "America/Los_Angeles",
	"US Mountain Standard Time":       "America/Phoenix",
	"Mountain Standard Time (Mexico)": "America/Mazatlan",
	"Mountain Standard Time":          "America/Denver",
	"Yukon Standard Time":             "America/Whitehorse",
	"Central America Standard Time":   "America/Guatemala",
	"Central Standard Time":           "America/Chicago",
	"Easter Island Standard Time":     "Pacific/Easter",
	"Central Standard Time (Mexico)":  "America/Mexico_City",
	"Canada Central Standard Time":    "America/Regina",
	"SA Pacific Standard Time":        "America/Bogota",
	"Eastern Standard Time (Mexico)":  "America/Cancun",
	"Eastern Standard Time":           "America/New_York",
	"Haiti Standard Time":             "America/Port-au-Prince",
	"Cuba Standard Time":              "America/Havana",
	"US Eastern Standard Time":        "America/Indiana/Indianapolis",
	"Turks And Caicos Standard Time":  "America/Grand_Turk",
	"Paraguay Standard Time":          "America/Asuncion",
	"Atlantic Standard Time":          "America/Halifax",
	"Venezuela Standard Time":         "America/Caracas",
	"Central Brazilian Standard Time": "America/Cuiaba",
	"SA Western Standard Time":        "America/La_Paz",
	"Pacific SA Standard Time":        "America/Santiago",
	"Newfoundland Standard Time":      "America/St_Johns",
	"Tocantins Standard Time":         "America/Araguaina",
	"E. South America Standard Time":  "America/Sao_Paulo",
	"SA Eastern Standard Time":        "America/Cayenne",
	"Argentina Standard Time":         "America/Argentina/Buenos_Aires",
	"Greenland Standard Time":         "America/Nuuk",
	"Montevideo Standard Time":        "America/Montevideo",
	"Magallanes Standard Time":        "America/Punta_Arenas",
	"Saint Pierre Standard Time":      "America/Miquelon",
	"Bahia Standard Time":             "America/Bahia",
	"UTC-02":                          "Etc/GMT+2",
	"Mid-Atlantic Standard Time":      "Etc/GMT+2",
	"Azores Standard Time":            "Atlantic/Azores",
	"Cape Verde Standard Time":        "Atlantic/Cape_Verde",
	"UTC":                             "Etc/UTC",
	"GMT Standard Time":               "Europe/London",
	"Greenwich Standard Time":         "Atlantic/Reykjavik",
	"Sao Tome Standard Time":          "Africa/Sao_Tome",
	"Morocco Standard Time":           "Africa/Casablanca",
	"W. Europe Standard Time":         "Europe/Berlin",
	"Central Europe Standard Time":    "Europe/Budapest",
	"Romance Standard Time":           "Europe/Paris",
	"Central European Standard Time":  "Europe/Warsaw",
	"W. Central Africa Standard Time": "Africa/Lagos",
	"Jordan Standard Time":            "Asia/Amman",
	"GTB Standard Time":               "Europe/Bucharest",
	"Middle East Standard Time":       "Asia/Beirut",
	"Egypt Standard Time":             "Africa/Cairo",
	"E. Europe Standard Time":         "Europe/Chisinau",
	"Syria Standard Time":             "Asia/Damascus",
	"West Bank Standard Time":         "Asia/Hebron",
	"South Africa Standard Time":      "Africa/Johannesburg",
	"FLE Standard Time":               "Europe/Kyiv",
	"Israel Standard Time":            "Asia/Jerusalem",
	"South Sudan Standard Time":       "Africa/Juba",
	"Kaliningrad Standard Time":       "Europe/Kaliningrad",
	"Sudan Standard Time":             "Africa/Khartoum",
	"Libya Standard Time":             "Africa/Tripoli",
	"Namibia Standard Time":           "Africa/Windhoek",
	"Arabic Standard Time":            "Asia/Baghdad",
	"Turkey Standard Time":            "Europe/Istanbul",
	"Arab Standard Time":              "Asia/Riyadh",
	"Belarus Standard Time":           "Europe/Minsk",
	"Russian Standard Time":           "Europe/Moscow",
	"E. Africa Standard Time":         "Africa/Nairobi",
	"Volgograd Standard Time":         "Europe/Volgograd",
	"Iran Standard Time":              "Asia/Tehran",
	"Arabian Standard Time":           "Asia/Dubai",
	"Astrakhan Standard Time":         "Europe/Astrakhan",
	"Azerbaijan Standard Time":        "Asia/Baku",
	"Russia Time Zone 3":              "Europe/Samara",
	"Mauritius Standard Time":         "Indian/Mauritius",
	"Saratov Standard Time":           "Europe/Saratov",
	"Georgian Standard Time":          "Asia/Tbilisi",
	"Caucasus Standard Time":          "Asia/Yerevan",
	"Armenian Standard Time":          "Asia/Yerevan",
	"Afghanistan Standard Time":       "Asia/Kabul",
	"West Asia Standard Time":         "Asia/Tashkent",
	"Qyzylorda Standard Time":         "Asia/Qyzylorda",
	"Ekaterinburg Standard Time":      "Asia/Yekaterinburg",
	"Pakistan Standard Time":          "Asia/Karachi",
	"India Standard Time":             "Asia/Kolkata",
	"Sri Lanka Standard Time":         "Asia/Colombo",
	"Nepal Standard Time":             "Asia/Kathmandu",
	"Central Asia Standard Time":      "Asia/Bishkek",
	"Bangladesh Standard Time":        "Asia/Dhaka",
	"Omsk Standard Time":              "Asia/Omsk",
	"Myanmar Standard Time":           "Asia/Yangon",
	"SE Asia Standard Time":           "Asia/Bangkok",
	"Altai Standard Time":             "Asia/Barnaul",
	"W. Mongolia Standard Time":       "Asia/Hovd",
	"North Asia Standard Time":        "Asia/Krasnoyarsk",
	"N. Central Asia Standard Time":   "Asia/Novosibirsk",
	"Tomsk Standard Time":             "Asia/Tomsk",
	"China Standard Time":             "Asia/Shanghai",
	"North Asia East Standard Time":   "Asia/Irkutsk",
	"Singapore Standard Time":         "Asia/Singapore",
	"W. Australia Standard Time":      "Australia/Perth",
	"Taipei Standard Time":            "Asia/Taipei",
	"Ulaanbaatar Standard Time":       "Asia/Ulaanbaatar",
	"Aus Central W. Standard Time":    "Australia/Eucla",
	"Transbaikal Standard Time":       "Asia/Chita",
	"Tokyo Standard Time":             "Asia/Tokyo",
	"North Korea Standard Time":       "Asia/Pyongyang",
	"Korea Standard Time":             "Asia/Seoul",
	"Yakutsk Standard Time":           "Asia/Yakutsk",
	"Cen. Australia Standard Time":    "Australia/Adelaide",
	"AUS Central Standard Time":       "Australia/Darwin",
	"E. Australia Standard Time":      "Australia/Brisbane",
	"AUS Eastern Standard Time":       "Australia/Sydney",
	"West Pacific Standard Time":      "Pacific/Port_Moresby",
	"Tasmania Standard Time":          "Australia/Hobart",
	"Vladivostok Standard Time":       "Asia/Vladivostok",
	"Lord Howe Standard Time":         "Australia/Lord_Howe",
	"Bougainville Standard Time":      "Pacific/Bougainville",
	"Russia Time Zone 10":             "Asia/Srednekolymsk",
	"Magadan Standard Time":           "Asia/Magadan",
	"Norfolk Standard Time":           "Pacific/Norfolk",
	"Sakhalin Standard Time":          "Asia/Sakhalin",
	"Central Pacific Standard Time":   "Pacific/Guadalcanal",
	"Russia Time Zone 11":             "Asia/Kamchatka",
	"Kamchatka Standard Time":         "Asia/Kamchatka",
	"New Zealand Standard Time":       "Pacific/Auckland",
	"UTC+12":                          "Etc/GMT-12",
	"Fiji Standard Time":              "Pacific/Fiji",
	"Chatham Islands Standard Time":   "Pacific/Chatham",
	"UTC+13":                          "Etc/GMT-13",
	"Tonga Standard Time":             "Pacific/Tongatapu",
	"Samoa Standard Time":             "Pacific/Apia",
	"Line Islands Standard Time":      "Pacific/Kiritimati",
	"Mexico Standard Time":            "America/Mexico_City",
	"Mexico Standard Time 2":          "America/Chihuahua",
}

// localDateTime is dateTimeTimeZone.dateTime: a local date-time with no
// offset, seconds optional, up to 7 fraction digits (.NET ticks).
var localDateTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?$`)

// Why ParseLocal refused a date-time.
const (
	Malformed  = 1 // not yyyy-mm-ddThh:mm[:ss[.fffffff]]
	HasOffset  = 2 // it carries an offset or 'Z': the zone goes in timeZone
	NoSuchTime = 3 // well-formed, but no such date or time (Feb 30, hour 25)
)

// ParseLocal reads Graph's dateTimeTimeZone.dateTime ("2026-03-02T09:00",
// "…:00", "…:00.0000000") as a local time in loc; on failure it says why
// (Malformed, HasOffset, NoSuchTime). A local time that does not exist or
// is ambiguous at a daylight-saving change resolves as time.Date does.
func ParseLocal(s string, loc *time.Location) (time.Time, int) {
	if !localDateTime.MatchString(s) {
		if strings.HasSuffix(s, "Z") || strings.HasSuffix(s, "z") || strings.ContainsAny(s[min(len(s), 10):], "+-") {
			return time.Time{}, HasOffset
		}
		return time.Time{}, Malformed
	}
	layout := "2006-01-02T15:04"
	switch n := len(s); {
	case n > len("2006-01-02T15:04:05"):
		layout = "2006-01-02T15:04:05." + strings.Repeat("0", n-len("2006-01-02T15:04:05."))
	case n == len("2006-01-02T15:04:05"):
		layout = "2006-01-02T15:04:05"
	}
	t, err := time.ParseInLocation(layout, s, loc)
	if err != nil {
		return time.Time{}, NoSuchTime
	}
	return t, 0
}
