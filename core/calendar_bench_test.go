package core_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/presenced/presenced/calendar"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/presence"
)

// workWeek is a 40-hour week of meetings from four weekly series, Monday
// to Friday: 20 occurrences a week, two hours each.
func workWeek() []calendar.Item {
	var items []calendar.Item
	for i, h := range []int{9, 11, 14, 16} {
		start := time.Date(2026, 11, 2, h, 0, 0, 0, time.UTC)
		items = append(items, calendar.Item{ID: fmt.Sprint("s", i), Start: start, End: start.Add(2 * time.Hour), Zone: "UTC", ShowAs: "busy",
			Recurrence: &calendar.Recurrence{Pattern: calendar.Pattern{Type: "weekly", Interval: 1, DaysOfWeek: []string{"monday", "tuesday", "wednesday", "thursday", "friday"}},
				Range: calendar.Range{Type: "noEnd", StartDate: "2026-11-02"}}})
	}
	return items
}

// calendarCommands are what a user with a work week of meetings gets: two
// sessions (the million-user shape) and the 48-hour window the mailbox
// writes at write.
func calendarCommands(write time.Time) []presence.Command {
	daemon := "c0ffee00-5a7f-430c-a555-551d652a37b1"
	a := presence.SetPresence{SessionID: daemon + ":a", Pair: presence.Pair{Availability: "Available", Activity: "Available"}, Expiration: 4 * time.Hour}
	b := presence.SetPresence{SessionID: daemon + ":b", Pair: presence.Pair{Availability: "Away", Activity: "Away"}, Expiration: 4 * time.Hour}
	w := presence.SetWindow{Events: calendar.Window(workWeek(), write, write.Add(48*time.Hour)), Until: write.Add(48 * time.Hour), Rev: 7}
	return []presence.Command{a, b, w}
}

// BenchmarkReadCalendar is core.Read of a user with two sessions, without
// a calendar and with a work week of meetings, read a day after the window
// was written (the refresher writes it about once a day), in a meeting:
// the worst a read meets between two refreshes. Run with
//
//	go test -run '^$' -bench ReadCalendar ./core/
func BenchmarkReadCalendar(b *testing.B) {
	ctx := context.Background()
	write := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC) // Tuesday
	for _, tc := range []struct {
		name string
		cmds []presence.Command
	}{
		{"no-calendar", calendarCommands(write)[:2]},
		{"work-week", calendarCommands(write)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			fake := clock.NewFake(write)
			c := core.New(core.Options{KV: bucket(b), Clock: fake})
			u := core.UserRef{TenantID: alice.TenantID, UserID: "0000beef-5ca1-4000-8000-000000000001"}
			for _, cmd := range tc.cmds {
				if _, _, err := c.Do(ctx, u, cmd); err != nil {
					b.Fatal(err)
				}
			}
			// Keep the sessions alive a day later, as their app would,
			// without touching the window.
			fake.Set(write.Add(24*time.Hour + 90*time.Minute)) // Wednesday 09:30, in a meeting
			for _, cmd := range tc.cmds[:2] {
				if _, _, err := c.Do(ctx, u, cmd); err != nil {
					b.Fatal(err)
				}
			}
			fake.Add(2 * time.Minute)
			s, err := c.Read(ctx, u)
			if err != nil {
				b.Fatal(err)
			}
			if len(tc.cmds) == 3 && s.View.Pair.Activity != presence.InAMeeting {
				b.Fatalf("the work-week user is not in a meeting: %v", s.View.Pair)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Read(ctx, u); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCacheHeapCalendar is BenchmarkCacheHeap's "written" figure for
// users with a work week of meetings (two sessions and a 48-hour window of
// eight to ten occurrences). Run with
//
//	go test -run '^$' -bench CacheHeapCalendar -benchtime 1x ./core/
func BenchmarkCacheHeapCalendar(b *testing.B) {
	const n = 20_000
	ctx := context.Background()
	write := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	fake := clock.NewFake(write)
	kv := bucket(b)
	us := make([]core.UserRef, n)
	for i := range us {
		us[i] = core.UserRef{TenantID: alice.TenantID, UserID: fmt.Sprintf("%08x-5ca1-4000-8000-%012x", i, i)}
	}
	cmds := calendarCommands(write)
	for b.Loop() {
		h0 := heapAfterGC()
		c := core.New(core.Options{KV: kv, Clock: fake})
		for _, u := range us {
			for _, cmd := range cmds {
				if _, _, err := c.Do(ctx, u, cmd); err != nil {
					b.Fatal(err)
				}
			}
		}
		h1 := heapAfterGC()
		runtime.KeepAlive(c)
		c = nil
		h2 := heapAfterGC()
		_ = h0
		b.ReportMetric(float64(h1-h2)/n, "written-B/user")
	}
}
