package presenced_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/directory"
)

// BenchmarkCalendarGetHTTP is what a calendar costs a GET (issue 11: a
// presence read must stay within 10 % of today's GET), end to end and in
// the handler chain (pairedCost): two servers over the same 1,000 users,
// each user with a live session on both; on the "on" server every user
// also has a 40-hour week of meetings (four weekly series, Monday to
// Friday, two hours each: 20 occurrences a week), and the GETs are made
// in a meeting, a day after the events were created (the window then
// holds a day of boundaries since it was written). off-vs-off compares
// two servers without calendars: the method's noise floor.
//
//	go test -run '^$' -bench CalendarGetHTTP -benchtime 30000x -count 3 .
func BenchmarkCalendarGetHTTP(b *testing.B) {
	const users = 1000
	d := directory.DemoFile(users)
	ids := make([]string, users)
	for i := range ids {
		ids[i] = directory.DemoUserID(i + 1)
	}
	// boot starts a server at t0 (Wednesday 09:00 UTC), gives every user
	// the work week when calendar is set, moves the clock to Thursday 09:30
	// (in the 09:00–11:00 meeting), sets every user Available and waits
	// until the calendar refresher has extended every window.
	boot := func(b *testing.B, calendar bool) (*env, string) {
		e := startWith(b, d)
		if calendar {
			tok := e.appToken()
			for _, id := range ids {
				for _, h := range []int{9, 11, 14, 16} {
					r := e.call("POST", "/v1.0/users/"+id+"/events", tok, event(fmt.Sprint("Series ", h),
						fmt.Sprintf("2026-11-23T%02d:00:00", h), fmt.Sprintf("2026-11-23T%02d:00:00", h+2), "UTC",
						map[string]any{"showAs": "busy", "recurrence": map[string]any{
							"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []string{"monday", "tuesday", "wednesday", "thursday", "friday"}},
							"range":   map[string]any{"type": "noEnd", "startDate": "2026-11-23"}}}))
					if r.status != 201 {
						b.Fatalf("create event: %d %s", r.status, r.raw)
					}
				}
			}
		}
		e.fake.Add(24*time.Hour + 30*time.Minute)
		tok := e.appToken()
		for _, id := range ids {
			e.must("POST", "/v1.0/users/"+id+"/presence/setPresence", tok, setBody("Available", "Available", "PT4H"))
		}
		if calendar {
			now := e.srv.Clock().Now()
			deadline := time.Now().Add(2 * time.Minute)
			for _, id := range ids {
				for {
					s, err := e.srv.Core().Read(context.Background(), core.UserRef{TenantID: directory.DemoTenantID, UserID: id})
					if err != nil {
						b.Fatal(err)
					}
					if s.Facts.CalendarUntil.After(now.Add(24 * time.Hour)) {
						break
					}
					if time.Now().After(deadline) {
						b.Fatalf("the calendar window of %s still ends at %v at %v", id, s.Facts.CalendarUntil, now)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		}
		want := "Available/Available"
		if calendar {
			want = "Busy/InAMeeting"
		}
		for _, id := range []string{ids[0], ids[users-1]} {
			if got := pair(e.get(tok, id)); got != want {
				b.Fatalf("user %s is %s, want %s", id, got, want)
			}
		}
		return e, tok
	}
	get := func(base, tok string) func(i int) *http.Request {
		return func(i int) *http.Request {
			r, _ := http.NewRequest("GET", base+"/v1.0/users/"+ids[i%users]+"/presence", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			return r
		}
	}
	for _, on := range []bool{true, false} {
		b.Run(costName(on), func(b *testing.B) {
			off, tokOff := boot(b, false)
			other, tokOther := boot(b, on)
			pairedCost(b, costSides{bare: get(bareServer(b, off.get(tokOff, ids[0]).raw), tokOff),
				off: get(off.srv.URL(), tokOff), on: get(other.srv.URL(), tokOther), offH: off.srv.Handler(), onH: other.srv.Handler()})
		})
	}
}
