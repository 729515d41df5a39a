package mailbox

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/calendar"
)

// allInstances is how View chose instances before firstInstances: every
// item's first limit instances, sorted together.
func allInstances(items []calendar.Item, from, to time.Time, limit int) []calendar.Instance {
	var ins []calendar.Instance
	for i := range items {
		ins = append(ins, items[i].Instances(from, to, limit)...)
	}
	slices.SortStableFunc(ins, func(a, b calendar.Instance) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return a.End.Compare(b.End)
	})
	return ins[:min(len(ins), limit)]
}

// testItems is n items: daily and weekly series (some with edited and
// deleted occurrences) and single events, several starting at the same
// instant, in an order that is not their start's.
func testItems(n int, r *rand.Rand) []calendar.Item {
	base := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	var items []calendar.Item
	for i := range n {
		start := base.Add(time.Duration(r.IntN(60)) * 24 * time.Hour).Add(time.Duration(r.IntN(3)) * time.Hour)
		it := calendar.Item{ID: fmt.Sprintf("item%03d", i), Start: start, End: start.Add(time.Duration(1+r.IntN(3)) * 30 * time.Minute), Zone: "UTC", ShowAs: "busy"}
		switch i % 3 {
		case 0:
			it.Recurrence = &calendar.Recurrence{Pattern: calendar.Pattern{Type: "daily", Interval: 1 + r.IntN(2)}, Range: calendar.Range{Type: "noEnd", StartDate: start.Format(time.DateOnly)}}
		case 1:
			it.Recurrence = &calendar.Recurrence{Pattern: calendar.Pattern{Type: "weekly", Interval: 1, DaysOfWeek: []string{start.Weekday().String()}}, Range: calendar.Range{Type: "noEnd", StartDate: start.Format(time.DateOnly)}}
		}
		if it.Recurrence != nil && r.IntN(2) == 0 {
			d := start.AddDate(0, 0, 14)
			if it.Recurrence.Pattern.Type == "weekly" {
				d = start.AddDate(0, 0, 14)
			}
			moved := d.Add(-20 * 24 * time.Hour) // an edited occurrence moved before others
			it.Exceptions = []calendar.Change{
				{Date: d.Format(time.DateOnly), Start: moved, End: moved.Add(time.Hour), ShowAs: "tentative"},
				{Date: d.AddDate(0, 0, 7*it.Recurrence.Pattern.Interval).Format(time.DateOnly), Deleted: true},
			}
		}
		items = append(items, it)
	}
	return items
}

// firstInstances gives what sorting every instance gave.
func TestFirstInstancesIsTheSortedPrefix(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, n := range []int{0, 1, 2, 7, 40} {
		items := testItems(n, r)
		for _, to := range []time.Time{from.AddDate(0, 1, 0), from.AddDate(2, 0, 0)} {
			for _, limit := range []int{1, 2, 5, 30, 400, 5000} {
				want := allInstances(items, from, to, limit)
				got := firstInstances(items, from, to, limit)
				if !slices.EqualFunc(got, want, func(a, b calendar.Instance) bool {
					return a.ItemID == b.ItemID && a.Date.Equal(b.Date) && a.Start.Equal(b.Start) && a.End.Equal(b.End) && a.Type == b.Type
				}) {
					t.Fatalf("%d items, to %s, limit %d: got %d instances, want %d (first difference at %d)", n, to.Format(time.DateOnly), limit, len(got), len(want), firstDiff(got, want))
				}
			}
		}
	}
}

func firstDiff(a, b []calendar.Instance) int {
	for i := range min(len(a), len(b)) {
		if a[i].ItemID != b[i].ItemID || !a[i].Start.Equal(b[i].Start) {
			return i
		}
	}
	return min(len(a), len(b))
}

// A user's daily series paged far ($skip up to MaxSkip) cost memory for
// every instance of every series up to $skip: 200 series (a user may hold
// 500) allocated 13 GB and took 38 s (5.4 GB resident) for one
// calendarView. Now it holds about one page's worth: 231 MiB allocated,
// 0.65 s.
func TestFirstInstancesHoldsAPageNotEverySeries(t *testing.T) {
	items := make([]calendar.Item, 200)
	start := time.Date(1900, 1, 1, 10, 0, 0, 0, time.UTC)
	for i := range items {
		items[i] = calendar.Item{ID: fmt.Sprintf("s%03d", i), Start: start, End: start.Add(30 * time.Minute), Zone: "UTC",
			Recurrence: &calendar.Recurrence{Pattern: calendar.Pattern{Type: "daily", Interval: 1}, Range: calendar.Range{Type: "noEnd", StartDate: "1900-01-01"}}}
	}
	from, to := start.Add(-time.Hour), time.Date(2200, 12, 31, 0, 0, 0, 0, time.UTC)
	limit := MaxSkip + MaxPage + 1
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got := firstInstances(items, from, to, limit)
	runtime.ReadMemStats(&after)
	if len(got) != limit {
		t.Fatalf("%d instances, want %d", len(got), limit)
	}
	// 200 series each at the same instant: the page is the first 255
	// days, every series' occurrence of a day together, in the items' order.
	if got[0].ItemID != "s000" || got[199].ItemID != "s199" || got[200].ItemID != "s000" || !got[200].Start.Equal(start.AddDate(0, 0, 1)) {
		t.Fatalf("order: %v %v %v", got[0], got[499], got[500])
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d series paged to %d: %d MiB allocated", len(items), limit, alloc>>20)
	if alloc > 512<<20 {
		t.Errorf("allocated %d MiB for one page; every instance of every series is %d MiB", alloc>>20, uint64(len(items)*limit)*uint64(unsafeSizeofInstance)>>20)
	}
}

const unsafeSizeofInstance = 112 // calendar.Instance on 64-bit: a string, a Date, a string, two times, a string, a bool
