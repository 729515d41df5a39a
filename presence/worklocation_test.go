package presence

import (
	"strings"
	"testing"
	"time"
)

// t0 is Monday 2025-03-10 09:00 UTC.

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// applyAll applies cmds, each at its instant, from empty facts.
func applyAll(t *testing.T, steps ...wlStep) Facts {
	t.Helper()
	var f Facts
	for _, s := range steps {
		var err error
		if f, _, err = Apply(f, s.cmd, s.at); err != nil {
			t.Fatalf("%T at %s: %v", s.cmd, s.at, err)
		}
	}
	return f
}

type wlStep struct {
	at  time.Time
	cmd Command
}

func loc(typ, place, source string) WorkLocation {
	l := WorkLocation{WorkLocationType: typ, Source: source}
	if place != "" {
		l.PlaceID = &place
	}
	return l
}

var noLocation = loc(WorkLocationUnspecified, "", WorkLocationSourceNone)

func manual(typ, place string) Command {
	return SetLocation{Layer: LayerManual, Type: typ, PlaceID: place}
}

func automatic(typ, place string) Command {
	return SetLocation{Layer: LayerAutomatic, Type: typ, PlaceID: place}
}

// scheduled is the calendar's layer: office 08:00–17:00 UTC on t0's day.
var scheduled = SetScheduledLocations{Spans: []ScheduledLocation{
	{Start: t0.Add(-time.Hour), End: t0.Add(8 * time.Hour), Type: WorkLocationOffice},
}}

func TestWorkLocationLayers(t *testing.T) {
	tests := []struct {
		name  string
		steps []wlStep
		read  time.Time
		want  WorkLocation
	}{
		{"nothing set: unspecified, source none", nil, at(0), noLocation},
		{"the scheduled layer alone", []wlStep{{at(0), scheduled}}, at(time.Hour), loc("office", "", "scheduled")},
		{"outside its span the scheduled layer says nothing", []wlStep{{at(0), scheduled}}, at(9 * time.Hour), noLocation},
		{"automatic beats scheduled", []wlStep{{at(0), scheduled}, {at(0), automatic("remote", "")}}, at(time.Hour), loc("remote", "", "automatic")},
		{"manual beats automatic", []wlStep{{at(0), automatic("office", "b1")}, {at(0), manual("timeOff", "")}}, at(time.Hour), loc("timeOff", "", "manual")},
		{"manual beats automatic set after it", []wlStep{{at(0), manual("remote", "")}, {at(time.Hour), automatic("office", "b1")}}, at(2 * time.Hour), loc("remote", "", "manual")},
		{"inside a layer the more precise signal wins", []wlStep{{at(0), automatic("office", "b1")}, {at(time.Hour), automatic("office", "")}}, at(2 * time.Hour), loc("office", "b1", "automatic")},
		{"a more precise signal replaces a less precise one", []wlStep{{at(0), automatic("office", "")}, {at(time.Hour), automatic("office", "b2")}}, at(2 * time.Hour), loc("office", "b2", "automatic")},
		{"another type replaces the signal, place and all", []wlStep{{at(0), automatic("office", "b1")}, {at(time.Hour), automatic("remote", "")}}, at(2 * time.Hour), loc("remote", "", "automatic")},
		{"a new place replaces the old one", []wlStep{{at(0), manual("office", "b1")}, {at(time.Hour), manual("office", "b2")}}, at(2 * time.Hour), loc("office", "b2", "manual")},
		{"a scheduled span with a place beats one without",
			[]wlStep{{at(0), SetScheduledLocations{Spans: []ScheduledLocation{
				{Start: at(-time.Hour), End: at(8 * time.Hour), Type: "office", PlaceID: "hq"},
				{Start: at(0), End: at(time.Hour), Type: "remote"}}}}}, at(30 * time.Minute), loc("office", "hq", "scheduled")},
		{"clearLocation clears manual and automatic: scheduled shows",
			[]wlStep{{at(0), scheduled}, {at(0), automatic("remote", "")}, {at(0), manual("timeOff", "")}, {at(time.Hour), ClearLocation{}}}, at(2 * time.Hour), loc("office", "", "scheduled")},
		{"clearAutomaticLocation leaves manual",
			[]wlStep{{at(0), automatic("remote", "")}, {at(0), manual("office", "")}, {at(time.Hour), ClearAutomaticLocation{}}}, at(2 * time.Hour), loc("office", "", "manual")},
		{"clearAutomaticLocation without manual falls back to scheduled",
			[]wlStep{{at(0), scheduled}, {at(0), automatic("remote", "")}, {at(time.Hour), ClearAutomaticLocation{}}}, at(2 * time.Hour), loc("office", "", "scheduled")},
		{"types are matched ignoring case and written as Graph's", []wlStep{{at(0), manual("TIMEOFF", "")}}, at(time.Hour), loc("timeOff", "", "manual")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := applyAll(t, tt.steps...)
			if got := Aggregate(f, tt.read).WorkLocation; !(View{WorkLocation: got}).Equal(View{WorkLocation: tt.want}) {
				t.Errorf("got %s, want %s", fmtLoc(got), fmtLoc(tt.want))
			}
		})
	}
}

func fmtLoc(l WorkLocation) string {
	p := "-"
	if l.PlaceID != nil {
		p = *l.PlaceID
	}
	return l.WorkLocationType + "/" + l.Source + "/" + p
}

// A manual or automatic signal lasts until the end of the day it was set,
// in the user's time zone: at local midnight the next layer shows.
func TestWorkLocationDayBoundary(t *testing.T) {
	berlin, la := zone(t, "Europe/Berlin"), zone(t, "America/Los_Angeles")
	tests := []struct {
		name     string
		setAt    time.Time
		zone     *time.Location
		boundary time.Time // the first instant the signal is gone
	}{
		{"UTC (no mailbox time zone): midnight UTC", at(0), nil, time.Date(2025, 3, 11, 0, 0, 0, 0, time.UTC)},
		{"Berlin: midnight in Berlin, 23:00 UTC", at(0), berlin, time.Date(2025, 3, 10, 23, 0, 0, 0, time.UTC)},
		{"Los Angeles: 09:00 UTC is 02:00 there, and its day ends at 07:00 UTC the next day", at(0), la, time.Date(2025, 3, 11, 7, 0, 0, 0, time.UTC)},
		{"Los Angeles on the day DST starts (23 hours)", time.Date(2025, 3, 9, 9, 0, 0, 0, time.UTC), la, time.Date(2025, 3, 10, 7, 0, 0, 0, time.UTC)},
		{"a signal set a second before midnight lasts a second", time.Date(2025, 3, 10, 23, 59, 59, 0, time.UTC), nil, time.Date(2025, 3, 11, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := applyAll(t, wlStep{tt.setAt, SetLocation{Layer: LayerManual, Type: "remote", Zone: tt.zone}})
			if got := Aggregate(f, tt.boundary.Add(-time.Nanosecond)).WorkLocation; got.Source != "manual" {
				t.Errorf("just before the boundary: %s", fmtLoc(got))
			}
			if got := Aggregate(f, tt.boundary).WorkLocation; got.Source != "none" {
				t.Errorf("at the boundary: %s", fmtLoc(got))
			}
			// The boundary is a change by time alone: it is the next
			// change, and it moves the sequenceNumber at that instant.
			if next, ok := NextChange(f, tt.setAt); !ok || !next.Equal(tt.boundary) {
				t.Errorf("NextChange %v %v, want %v", next, ok, tt.boundary)
			}
			if got, want := Sequence(f, tt.boundary.Add(time.Hour)), Bump(f.Seq, tt.boundary); got != want {
				t.Errorf("Sequence after the boundary %v, want %v", got, want)
			}
			// The next day's write starts a new day, and drops yesterday's.
			g, changed, err := Apply(f, ClearAutomaticLocation{}, tt.boundary.Add(time.Hour))
			if err != nil || changed || g.Location != nil {
				t.Errorf("the next day: changed %v, location %+v, err %v", changed, g.Location, err)
			}
		})
	}
}

// Setting, changing and clearing a work location is a visible change (it
// moves the sequenceNumber); setting the same again is not.
func TestWorkLocationChangesAreVisible(t *testing.T) {
	f, changed, _ := Apply(Facts{}, manual("office", "b1"), at(0))
	if !changed {
		t.Fatal("setting a work location is not a change")
	}
	if _, changed, _ := Apply(f, manual("office", "b1"), at(time.Minute)); changed {
		t.Error("setting the same work location again is a change")
	}
	if _, changed, _ := Apply(f, manual("office", ""), at(time.Minute)); changed {
		t.Error("a less precise signal of the same type changed the view")
	}
	if _, changed, _ := Apply(f, ClearLocation{}, at(time.Minute)); !changed {
		t.Error("clearing the work location is not a change")
	}
	if _, changed, _ := Apply(Facts{}, ClearLocation{}, at(0)); changed {
		t.Error("clearing nothing is a change")
	}
}

func TestSetLocationRejects(t *testing.T) {
	tests := []struct {
		name string
		cmd  SetLocation
		want string
	}{
		{"no type", SetLocation{Layer: LayerManual}, "workLocationType is required"},
		{"unspecified", SetLocation{Layer: LayerManual, Type: "unspecified"}, "cannot be set"},
		{"an unknown type", SetLocation{Layer: LayerAutomatic, Type: "beach"}, "'beach' is not accepted; accepted: office, remote, timeOff"},
		{"a place too long", SetLocation{Layer: LayerManual, Type: "office", PlaceID: strings.Repeat("p", MaxPlaceID+1)}, "at most 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Apply(Facts{}, tt.cmd, at(0))
			if ErrorCode(err) != Invalid || !strings.Contains(ErrorMessage(err), tt.want) {
				t.Errorf("%v, want Invalid with %q", err, tt.want)
			}
		})
	}
}
