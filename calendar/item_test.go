package calendar

import (
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// standup is a weekday series 09:00–09:15 Pacific time from 2026-03-02.
func standup() Item {
	return Item{ID: "standup", Start: utc("2026-03-02T17:00:00Z"), End: utc("2026-03-02T17:15:00Z"), Zone: "Pacific Standard Time", ShowAs: "busy",
		Recurrence: &Recurrence{Pattern{Type: Weekly, Interval: 1, DaysOfWeek: []string{"monday", "tuesday", "wednesday", "thursday", "friday"}}, Range{Type: RangeNoEnd, StartDate: "2026-03-02"}}}
}

func starts(ins []Instance) string {
	var b []string
	for _, in := range ins {
		b = append(b, in.Start.UTC().Format("01-02T15:04")+"/"+in.Type)
	}
	return strings.Join(b, " ")
}

func TestInstances(t *testing.T) {
	moved := standup()
	moved.Exceptions = []Change{
		{Date: "2026-03-04", Deleted: true},
		{Date: "2026-03-05", Start: utc("2026-03-05T20:00:00Z"), End: utc("2026-03-05T20:30:00Z"), ShowAs: "tentative"},
	}
	allDay := Item{ID: "trip", Start: utc("2026-03-10T00:00:00Z"), End: utc("2026-03-12T00:00:00Z"), Zone: "UTC", ShowAs: "oof", IsAllDay: true}
	cancelled := Item{ID: "c", Start: utc("2026-03-02T17:00:00Z"), End: utc("2026-03-02T18:00:00Z"), Zone: "UTC", ShowAs: "busy", Cancelled: true}
	for _, tc := range []struct {
		name     string
		item     Item
		from, to string
		want     string
	}{
		{"a Windows zone across the daylight-saving change: 09:00 local moves from 17:00Z to 16:00Z",
			standup(), "2026-03-05T00:00:00Z", "2026-03-10T00:00:00Z", "03-05T17:00/occurrence 03-06T17:00/occurrence 03-09T16:00/occurrence"},
		{"a deleted occurrence is gone and an edited one is an exception at its new time",
			moved, "2026-03-03T00:00:00Z", "2026-03-07T00:00:00Z", "03-03T17:00/occurrence 03-05T20:00/exception 03-06T17:00/occurrence"},
		{"an occurrence already under way at from counts", standup(), "2026-03-03T17:10:00Z", "2026-03-03T18:00:00Z", "03-03T17:00/occurrence"},
		{"an occurrence that ended at from does not", standup(), "2026-03-03T17:15:00Z", "2026-03-03T18:00:00Z", ""},
		{"an all-day single event", allDay, "2026-03-11T12:00:00Z", "2026-03-11T13:00:00Z", "03-10T00:00/singleInstance"},
		{"a cancelled event has no instance", cancelled, "2026-03-01T00:00:00Z", "2026-03-03T00:00:00Z", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := starts(tc.item.Instances(utc(tc.from), utc(tc.to), 0)); got != tc.want {
				t.Fatalf("Instances = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestOccurrenceIDs(t *testing.T) {
	it := standup()
	in, ok := it.Instance(date("2026-03-09"))
	if !ok || !in.Start.Equal(utc("2026-03-09T16:00:00Z")) || in.ID() != "standup_20260309" {
		t.Fatalf("Instance = %+v, %v", in, ok)
	}
	if _, ok := it.Instance(date("2026-03-08")); ok {
		t.Fatal("a Sunday is not one of a weekday series' dates")
	}
	s, d, ok := ParseOccurrenceID(in.ID())
	if !ok || s != "standup" || d.String() != "2026-03-09" {
		t.Fatalf("ParseOccurrenceID = %q %v %v", s, d, ok)
	}
	for _, bad := range []string{"standup", "standup_2026", "standup_20261340"} {
		if _, _, ok := ParseOccurrenceID(bad); ok {
			t.Errorf("ParseOccurrenceID(%q) ok", bad)
		}
	}
}

func TestCoveringAndNextBoundary(t *testing.T) {
	items := []Item{standup(), {ID: "lunch", Start: utc("2026-03-03T20:00:00Z"), End: utc("2026-03-03T21:00:00Z"), Zone: "UTC", ShowAs: "busy"}}
	for _, tc := range []struct {
		name     string
		at       string
		covering string
		next     string
	}{
		{"before the day starts", "2026-03-03T08:00:00Z", "", "2026-03-03T17:00:00Z"},
		{"at the stand-up's start it covers, the next boundary is its end", "2026-03-03T17:00:00Z", "03-03T17:00/occurrence", "2026-03-03T17:15:00Z"},
		{"at its end it no longer covers", "2026-03-03T17:15:00Z", "", "2026-03-03T20:00:00Z"},
		{"Friday evening: the next is Monday, after the daylight-saving change", "2026-03-06T18:00:00Z", "", "2026-03-09T16:00:00Z"},
		{"ten years on, a series with no end still answers at once", "2036-03-04T18:00:00Z", "", "2036-03-05T17:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := utc(tc.at)
			if got := starts(Covering(items, at)); got != tc.covering {
				t.Errorf("Covering = %q, want %q", got, tc.covering)
			}
			next, ok := NextBoundary(items, at)
			if !ok || !next.Equal(utc(tc.next)) {
				t.Errorf("NextBoundary = %v %v, want %s", next, ok, tc.next)
			}
		})
	}
	ended := Item{ID: "x", Start: utc("2026-03-02T17:00:00Z"), End: utc("2026-03-02T18:00:00Z"), Zone: "UTC", ShowAs: "busy",
		Recurrence: &Recurrence{Pattern{Type: Daily, Interval: 1}, Range{Type: RangeNumbered, StartDate: "2026-03-02", NumberOfOccurrences: 2}}}
	if next, ok := NextBoundary([]Item{ended}, utc("2026-03-04T00:00:00Z")); ok {
		t.Errorf("an ended series has no next boundary; got %v", next)
	}
}

func TestWindow(t *testing.T) {
	free := Item{ID: "free", Start: utc("2026-03-03T10:00:00Z"), End: utc("2026-03-03T11:00:00Z"), Zone: "UTC", ShowAs: "free"}
	oof := Item{ID: "oof", Start: utc("2026-03-04T00:00:00Z"), End: utc("2026-03-05T00:00:00Z"), Zone: "UTC", ShowAs: "oof", IsAllDay: true}
	got := Window([]Item{standup(), free, oof}, utc("2026-03-03T12:00:00Z"), utc("2026-03-05T12:00:00Z"))
	want := []presence.Event{
		{Start: utc("2026-03-03T17:00:00Z"), End: utc("2026-03-03T17:15:00Z"), ShowAs: "busy", IsMeeting: true},
		{Start: utc("2026-03-04T00:00:00Z"), End: utc("2026-03-05T00:00:00Z"), ShowAs: "oof", IsMeeting: true, IsAllDay: true},
		{Start: utc("2026-03-04T17:00:00Z"), End: utc("2026-03-04T17:15:00Z"), ShowAs: "busy", IsMeeting: true},
	}
	if len(got) != len(want) {
		t.Fatalf("Window = %+v, want %+v (free time is left out)", got, want)
	}
	for i := range want {
		if !got[i].Start.Equal(want[i].Start) || !got[i].End.Equal(want[i].End) || got[i].ShowAs != want[i].ShowAs || got[i].IsAllDay != want[i].IsAllDay || !got[i].IsMeeting {
			t.Errorf("Window[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}
