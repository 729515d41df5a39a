package presence

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

const app = "22553876-f5ab-4529-bffb-cfe50aa89f87"

// step is one write in a scenario: the command at t0+at, and what must hold
// after it.
type step struct {
	at      time.Duration
	cmd     Command
	changed bool
	seq     Stamp // zero: not checked
	pair    Pair  // zero: not checked
	check   func(*testing.T, Facts)
	err     Code   // non-empty: the write must fail with this code
	msg     string // fragment of the error message
}

func runSteps(t *testing.T, f Facts, steps []step) Facts {
	t.Helper()
	for i, s := range steps {
		before := f.Clone()
		next, changed, err := Apply(f, s.cmd, at(s.at))
		if s.err != "" {
			if err == nil || ErrorCode(err) != s.err || !strings.Contains(ErrorMessage(err), s.msg) {
				t.Fatalf("step %d (%T): err = %v (%s), want %s containing %q", i, s.cmd, err, ErrorCode(err), s.err, s.msg)
			}
			if !reflect.DeepEqual(next, before) {
				t.Fatalf("step %d: a failed write returned changed facts", i)
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d (%T): %v", i, s.cmd, err)
		}
		if !reflect.DeepEqual(f, before) {
			t.Fatalf("step %d: Apply modified the caller's facts", i)
		}
		if changed != s.changed {
			t.Fatalf("step %d (%T): changed = %v, want %v", i, s.cmd, changed, s.changed)
		}
		if s.seq != (Stamp{}) && next.Seq != s.seq {
			t.Fatalf("step %d (%T): seq = %+v, want %+v", i, s.cmd, next.Seq, s.seq)
		}
		if (s.pair != Pair{}) {
			if got := Aggregate(next, at(s.at)).Pair; got != s.pair {
				t.Fatalf("step %d (%T): pair = %v, want %v", i, s.cmd, got, s.pair)
			}
		}
		if !next.LastWrite.Equal(maxTime(at(s.at), f.LastWrite)) {
			t.Fatalf("step %d: LastWrite = %v", i, next.LastWrite)
		}
		if s.check != nil {
			s.check(t, next)
		}
		f = next
	}
	return f
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func TestApplySessions(t *testing.T) {
	set := func(id string, p Pair, exp time.Duration) SetPresence {
		return SetPresence{SessionID: id, Pair: p, Expiration: exp}
	}
	t.Run("§1 setPresence creates a session with the default PT5M expiration", func(t *testing.T) {
		runSteps(t, Facts{}, []step{{at: 0, cmd: set(app, Pair{"available", "available"}, 0), changed: true, seq: stampAt(0), pair: pAvailable,
			check: func(t *testing.T, f Facts) {
				want := []Session{{ID: app, Pair: pAvailable, RefreshedAt: t0, ExpiresAt: at(5 * time.Minute)}}
				if !reflect.DeepEqual(f.Sessions, want) {
					t.Fatalf("sessions = %+v, want %+v (normalised pair)", f.Sessions, want)
				}
			}}})
	})
	t.Run("§4 a write that leaves the view unchanged keeps the sequenceNumber", func(t *testing.T) {
		runSteps(t, Facts{}, []step{
			{at: 0, cmd: set(app, pAvailable, time.Hour), changed: true, seq: stampAt(0)},
			{at: 2 * time.Minute, cmd: set(app, pAvailable, time.Hour), changed: false, seq: stampAt(0),
				check: func(t *testing.T, f Facts) {
					if !f.Sessions[0].RefreshedAt.Equal(at(2*time.Minute)) || !f.Sessions[0].ExpiresAt.Equal(at(62*time.Minute)) {
						t.Fatalf("refresh did not move refreshedAt/expiresAt: %+v", f.Sessions[0])
					}
				}},
			// The refresh moved the fade: nothing at +5m, a fade at +7m.
			{at: 6 * time.Minute, cmd: ClearPreferred{}, changed: false, seq: stampAt(0), pair: pAvailable},
			{at: 7 * time.Minute, cmd: ClearPreferred{}, changed: false, seq: stampAt(7 * time.Minute), pair: pInactive},
		})
	})
	t.Run("§4 a refresh after a fade is a change at the write", func(t *testing.T) {
		runSteps(t, Facts{}, []step{
			{at: 0, cmd: set(app, pAvailable, time.Hour), changed: true, seq: stampAt(0)},
			{at: 6 * time.Minute, cmd: set(app, pAvailable, time.Hour), changed: true, seq: stampAt(6 * time.Minute), pair: pAvailable},
		})
	})
	t.Run("§4 a write at the very instant of a time change is ordered after it", func(t *testing.T) {
		runSteps(t, Facts{}, []step{
			{at: 0, cmd: set(app, pAvailable, time.Hour), changed: true, seq: stampAt(0)},
			{at: 5 * time.Minute, cmd: set(app, pInACall, time.Hour), changed: true, seq: Stamp{At: at(5 * time.Minute).UnixNano(), N: 1}, pair: pInACall},
		})
	})
	t.Run("§4 two changing writes at one instant get increasing stamps", func(t *testing.T) {
		runSteps(t, Facts{}, []step{
			{at: 0, cmd: set(app, pAvailable, time.Hour), changed: true, seq: stampAt(0)},
			{at: 0, cmd: set(app, pInACall, time.Hour), changed: true, seq: Stamp{At: t0.UnixNano(), N: 1}},
			{at: 0, cmd: set(app, pPresenting, time.Hour), changed: true, seq: Stamp{At: t0.UnixNano(), N: 2}},
		})
	})
	t.Run("§4 a clock stepping back applies the write at the last write's instant", func(t *testing.T) {
		runSteps(t, Facts{}, []step{
			{at: time.Hour, cmd: set(app, pAvailable, time.Hour), changed: true, seq: stampAt(time.Hour)},
			{at: 0, cmd: set(app, pInACall, time.Hour), changed: true, seq: Stamp{At: at(time.Hour).UnixNano(), N: 1},
				check: func(t *testing.T, f Facts) {
					if !f.Sessions[0].RefreshedAt.Equal(at(time.Hour)) || !f.LastWrite.Equal(at(time.Hour)) {
						t.Fatalf("write not applied at the last write's instant: %+v", f)
					}
				}},
		})
	})
	t.Run("§5 sessions of one app on several devices are separate and sorted by id", func(t *testing.T) {
		runSteps(t, Facts{}, []step{
			{at: 0, cmd: set(app+":phone", pAway, time.Hour), changed: true, pair: pAway},
			{at: 0, cmd: set(app+":desk", pInACall, time.Hour), changed: true, pair: pInACall},
			{at: 0, cmd: set(app, pAvailable, time.Hour), changed: false, pair: pInACall,
				check: func(t *testing.T, f Facts) {
					var ids []string
					for _, s := range f.Sessions {
						ids = append(ids, s.ID)
					}
					if want := []string{app, app + ":desk", app + ":phone"}; !reflect.DeepEqual(ids, want) {
						t.Fatalf("session ids = %v, want %v", ids, want)
					}
				}},
			{at: time.Minute, cmd: set(strings.ToUpper(app)+":DESK", pConference, time.Hour), changed: true, pair: pConference,
				check: func(t *testing.T, f Facts) {
					if len(f.Sessions) != 3 {
						t.Fatalf("a differently cased id made a new session: %+v", f.Sessions)
					}
				}},
		})
	})
	t.Run("§5.3 clearPresence of the only session makes the user Offline", func(t *testing.T) {
		runSteps(t, Facts{}, []step{
			{at: 0, cmd: set(app, pInACall, time.Hour), changed: true},
			{at: time.Minute, cmd: ClearPresence{SessionID: app}, changed: true, seq: stampAt(time.Minute), pair: pOffline,
				check: func(t *testing.T, f Facts) {
					if len(f.Sessions) != 0 {
						t.Fatalf("sessions = %+v", f.Sessions)
					}
				}},
			{at: 2 * time.Minute, cmd: ClearPresence{SessionID: app}, err: NotFound, msg: "no presence session '" + app + "' exists for this user"},
		})
	})
	t.Run("§5.3 clearPresence of an expired session is 404", func(t *testing.T) {
		runSteps(t, Facts{}, []step{
			{at: 0, cmd: set(app, pInACall, 5*time.Minute), changed: true},
			{at: 5 * time.Minute, cmd: ClearPresence{SessionID: app}, err: NotFound, msg: "no presence session"},
		})
	})
	t.Run("§5.3 clearPresence of an unknown session is 404", func(t *testing.T) {
		runSteps(t, Facts{}, []step{
			{at: 0, cmd: set(app, pInACall, time.Hour), changed: true},
			{at: 0, cmd: ClearPresence{SessionID: app + ":other"}, err: NotFound, msg: app + ":other"},
		})
	})
	t.Run("§3.3 clearing the winning session reveals the next one", func(t *testing.T) {
		runSteps(t, Facts{}, []step{
			{at: 0, cmd: set(app+":a", pInACall, time.Hour), changed: true},
			{at: 0, cmd: set(app+":b", pPresenting, time.Hour), changed: true, pair: pPresenting},
			{at: time.Minute, cmd: ClearPresence{SessionID: app + ":b"}, changed: true, pair: pInACall},
		})
	})
	t.Run("§1 expired sessions are collected without a visible change", func(t *testing.T) {
		runSteps(t, Facts{}, []step{
			{at: 0, cmd: set(app+":a", pInACall, 4*time.Hour), changed: true},
			{at: 0, cmd: set(app+":b", pAway, 5*time.Minute), changed: false},
			{at: time.Hour, cmd: ClearPreferred{}, changed: false, seq: stampAt(0), check: func(t *testing.T, f Facts) {
				if len(f.Sessions) != 1 || f.Sessions[0].ID != app+":a" {
					t.Fatalf("sessions = %+v, want only the live one", f.Sessions)
				}
			}},
		})
	})
	t.Run("§1 bad setPresence input is rejected and nothing is written", func(t *testing.T) {
		runSteps(t, Facts{}, []step{
			{cmd: set(app, pBusyBusy, 0), err: Invalid, msg: "availability 'Busy' with activity 'Busy' is not accepted by setPresence"},
			{cmd: set(app, pAvailable, 3*time.Minute), err: Invalid, msg: "expirationDuration PT3M is out of range; accepted PT5M..PT4H"},
			{cmd: set(app, pAvailable, 4*time.Hour+time.Minute), err: Invalid, msg: "expirationDuration PT4H1M is out of range"},
			{cmd: set("", pAvailable, 0), err: Invalid, msg: "sessionId is required"},
			{cmd: ClearPresence{}, err: Invalid, msg: "sessionId is required"},
			{cmd: nil, err: Internal},
		})
	})
	t.Run("§1 PT4H is accepted", func(t *testing.T) {
		runSteps(t, Facts{}, []step{{cmd: set(app, pAway, 4*time.Hour), changed: true, check: func(t *testing.T, f Facts) {
			if !f.Sessions[0].ExpiresAt.Equal(at(4 * time.Hour)) {
				t.Fatal(f.Sessions[0].ExpiresAt)
			}
		}}})
	})
}

func TestApplyPreferred(t *testing.T) {
	prefAt := func(exp time.Duration) func(*testing.T, Facts) {
		return func(t *testing.T, f Facts) {
			t.Helper()
			if f.Preferred == nil || !f.Preferred.ExpiresAt.Equal(at(exp)) || !f.Preferred.SetAt.Equal(t0) {
				t.Fatalf("preferred = %+v, want expiry at +%v", f.Preferred, exp)
			}
		}
	}
	day := 24 * time.Hour
	t.Run("§1 default expiration is 1 day for Busy", func(t *testing.T) {
		runSteps(t, Facts{}, []step{{cmd: SetPreferred{Pair: pBusyBusy}, changed: false, check: prefAt(day)}})
	})
	t.Run("§1 default expiration is 1 day for DoNotDisturb", func(t *testing.T) {
		runSteps(t, Facts{}, []step{{cmd: SetPreferred{Pair: pDND}, changed: false, check: prefAt(day)}})
	})
	t.Run("§1 default expiration is 7 days for Away", func(t *testing.T) {
		runSteps(t, Facts{}, []step{{cmd: SetPreferred{Pair: Pair{"away", "AWAY"}}, changed: false, check: prefAt(7 * day)}})
	})
	t.Run("§1 preferred expiration accepts P30D and rejects P31D and PT4M", func(t *testing.T) {
		runSteps(t, Facts{}, []step{
			{cmd: SetPreferred{Pair: pAway, Expiration: 30 * day}, changed: false, check: prefAt(30 * day)},
			{cmd: SetPreferred{Pair: pAway, Expiration: 31 * day}, err: Invalid, msg: "expirationDuration P31D is out of range; accepted PT5M..P30D"},
			{cmd: SetPreferred{Pair: pAway, Expiration: 4 * time.Minute}, err: Invalid, msg: "PT4M is out of range"},
			{cmd: SetPreferred{Pair: pInACall}, err: Invalid, msg: "not accepted by setUserPreferredPresence"},
		})
	})
	t.Run("§3.1 setting a preferred presence with no session changes nothing visible", func(t *testing.T) {
		runSteps(t, Facts{}, []step{
			{at: 0, cmd: SetPreferred{Pair: pDND}, changed: false, pair: pOffline},
			{at: time.Minute, cmd: SetPresence{SessionID: app, Pair: pAvailable}, changed: true, pair: pDND, seq: stampAt(time.Minute)},
		})
	})
	t.Run("§5.4 appear-offline makes later setPresence calls invisible", func(t *testing.T) {
		runSteps(t, Facts{}, []step{
			{at: 0, cmd: SetPresence{SessionID: app, Pair: pAvailable, Expiration: time.Hour}, changed: true},
			{at: time.Minute, cmd: SetPreferred{Pair: pOffWork}, changed: true, pair: pOffWork, seq: stampAt(time.Minute)},
			{at: 2 * time.Minute, cmd: SetPresence{SessionID: app, Pair: pPresenting, Expiration: time.Hour}, changed: false, pair: pOffWork, seq: stampAt(time.Minute)},
			{at: 3 * time.Minute, cmd: ClearPreferred{}, changed: true, pair: pPresenting, seq: stampAt(3 * time.Minute)},
		})
	})
	t.Run("§5.4 clearing a preferred presence that is not set succeeds without change", func(t *testing.T) {
		runSteps(t, Facts{}, []step{{cmd: ClearPreferred{}, changed: false}, {cmd: ClearPreferred{}, changed: false}})
	})
}

func TestApplyStatus(t *testing.T) {
	exp := &DateTimeTimeZone{DateTime: "2025-03-10T03:00:00", TimeZone: "Pacific Standard Time"} // PDT since 9 March: 10:00 UTC
	t.Run("§3.6 setStatusMessage is a visible change even with no session", func(t *testing.T) {
		runSteps(t, Facts{}, []step{
			{cmd: SetStatus{Content: "Lunch", ContentType: "text", Expiry: exp}, changed: true, seq: stampAt(0), check: func(t *testing.T, f Facts) {
				want := &StatusMessage{Content: "Lunch", ContentType: "text", Expiry: exp, ExpiresAt: at(time.Hour), PublishedAt: t0}
				if !reflect.DeepEqual(f.Status, want) {
					t.Fatalf("status = %+v, want %+v", f.Status, want)
				}
				if f.Status.Expiry == exp {
					t.Fatal("stored expiry shares the caller's pointer")
				}
			}},
		})
	})
	t.Run("§4 the status message expiring is a change; setting it again later is another", func(t *testing.T) {
		f := runSteps(t, Facts{}, []step{{cmd: SetStatus{Content: "Lunch", Expiry: exp}, changed: true}})
		if got := Sequence(f, at(2*time.Hour)); got != stampAt(time.Hour) {
			t.Fatalf("Sequence after expiry = %+v", got)
		}
		runSteps(t, f, []step{{at: 2 * time.Hour, cmd: SetStatus{Content: ""}, changed: false, seq: stampAt(time.Hour),
			check: func(t *testing.T, f Facts) {
				if f.Status != nil {
					t.Fatal("expired status not collected")
				}
			}}})
	})
	t.Run("§1 empty content clears the status message", func(t *testing.T) {
		runSteps(t, Facts{}, []step{
			{cmd: SetStatus{Content: "x"}, changed: true},
			{at: time.Second, cmd: SetStatus{}, changed: true, seq: stampAt(time.Second), check: func(t *testing.T, f Facts) {
				if f.Status != nil {
					t.Fatal("status not cleared")
				}
			}},
			{at: 2 * time.Second, cmd: SetStatus{}, changed: false, seq: stampAt(time.Second)},
		})
	})
	t.Run("§3.6 setting the same message again republishes it, a visible change to the owner", func(t *testing.T) {
		runSteps(t, Facts{}, []step{
			{cmd: SetStatus{Content: "x"}, changed: true},
			{at: time.Second, cmd: SetStatus{Content: "x"}, changed: true, seq: stampAt(time.Second)},
		})
	})
	t.Run("§7 bad status messages are rejected", func(t *testing.T) {
		runSteps(t, Facts{}, []step{
			{cmd: SetStatus{Content: "<b>x</b>", ContentType: "html"}, err: Invalid, msg: "contentType 'html' is not supported for presence"},
			{cmd: SetStatus{Content: "x", ContentType: "markdown"}, err: Invalid, msg: "accepted: text"},
			{cmd: SetStatus{Content: strings.Repeat("é", 281)}, err: Invalid, msg: "281 characters long; at most 280 characters"},
			{cmd: SetStatus{Content: "x", Expiry: &DateTimeTimeZone{"2025-03-10T09:00:00", "UTC"}}, err: Invalid, msg: "is not in the future"},
			{cmd: SetStatus{Content: "x", Expiry: &DateTimeTimeZone{"2025-03-10T10:00:00Z", "UTC"}}, err: Invalid, msg: "carries an offset"},
			{cmd: SetStatus{Content: "x", Expiry: &DateTimeTimeZone{"2025-03-10T10:00:00", "Nowhere"}}, err: Invalid, msg: "timeZone 'Nowhere'"},
			{cmd: SetStatus{Content: "\xff"}, err: Invalid, msg: "UTF-8"},
		})
	})
	t.Run("§7 280 characters are accepted, counted as characters not bytes", func(t *testing.T) {
		runSteps(t, Facts{}, []step{{cmd: SetStatus{Content: strings.Repeat("é", 280), ContentType: "TEXT"}, changed: true, check: func(t *testing.T, f Facts) {
			if f.Status.ContentType != "text" {
				t.Fatalf("contentType = %q, want normalised text", f.Status.ContentType)
			}
		}}})
	})
	t.Run("§7 an expiry is validated on the command alone", func(t *testing.T) {
		err := SetStatus{Content: "x", Expiry: &DateTimeTimeZone{"2025-03-10T08:00:00", "UTC"}}.Validate(t0)
		wantError(t, err, Invalid, "statusMessage.expiryDateTime", "not in the future")
	})
}

func TestApplyCalendarAndAutoReplies(t *testing.T) {
	t.Run("§3.4 a meeting written now that covers now is a change", func(t *testing.T) {
		runSteps(t, Facts{}, []step{
			{cmd: SetPresence{SessionID: app, Pair: pAvailable, Expiration: time.Hour}, changed: true},
			{at: time.Minute, cmd: SetCalendar{Events: []Event{{Start: t0, End: at(time.Hour), ShowAs: "Busy", IsMeeting: true}}}, changed: true, pair: pInAMeeting,
				check: func(t *testing.T, f Facts) {
					if f.Events[0].ShowAs != ShowAsBusy {
						t.Fatalf("showAs not normalised: %q", f.Events[0].ShowAs)
					}
				}},
			{at: 2 * time.Minute, cmd: SetCalendar{Events: []Event{{Start: at(2 * time.Hour), End: at(3 * time.Hour), ShowAs: ShowAsBusy, IsMeeting: true}}}, changed: true, pair: pAvailable},
		})
	})
	t.Run("§3.5 enabling automatic replies is a change", func(t *testing.T) {
		runSteps(t, Facts{}, []step{
			{cmd: SetAutoReplies{Settings: &AutoReplies{Status: "AlwaysEnabled", InternalReplyMessage: "Back Monday"}}, changed: true, pair: pOfflineOOF},
			{at: time.Minute, cmd: SetAutoReplies{}, changed: true, pair: pOffline},
		})
	})
	t.Run("§7 bad calendar and mailbox input is rejected", func(t *testing.T) {
		runSteps(t, Facts{}, []step{
			{cmd: SetCalendar{Events: []Event{{Start: at(time.Hour), End: t0}}}, err: Invalid, msg: "not after its start"},
			{cmd: SetCalendar{Events: []Event{{End: t0}}}, err: Invalid, msg: "needs both start and end"},
			{cmd: SetCalendar{Events: []Event{{Start: t0, End: at(time.Hour), ShowAs: "sleeping"}}}, err: Invalid, msg: "showAs 'sleeping' is not accepted"},
			{cmd: SetAutoReplies{Settings: &AutoReplies{Status: "sometimes"}}, err: Invalid, msg: "accepted: disabled, alwaysEnabled, scheduled"},
			{cmd: SetAutoReplies{Settings: &AutoReplies{Status: RepliesScheduled}}, err: Invalid, msg: "need both"},
			{cmd: SetAutoReplies{Settings: &AutoReplies{Status: RepliesScheduled, ScheduledStart: at(time.Hour), ScheduledEnd: t0}}, err: Invalid, msg: "must be after"},
		})
	})
}

func TestApplyDoesNotShareMemory(t *testing.T) {
	f := Facts{
		Sessions:    []Session{sess(app, pAvailable, 0, time.Hour)},
		Preferred:   pref(pAway, time.Hour),
		Status:      &StatusMessage{Content: "x", Expiry: &DateTimeTimeZone{"2030-01-01T00:00", "UTC"}},
		Events:      []Event{meeting(0, time.Hour)},
		AutoReplies: &AutoReplies{Status: RepliesDisabled},
		LastWrite:   t0,
	}
	next, _, err := Apply(f, SetPresence{SessionID: app, Pair: pInACall}, at(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	next.Sessions[0].ID = "mutated"
	next.Preferred.Pair = pDND
	next.Status.Expiry.TimeZone = "mutated"
	next.Events[0].ShowAs = "mutated"
	next.AutoReplies.Status = "mutated"
	if f.Sessions[0].ID != app || f.Preferred.Pair != pAway || f.Status.Expiry.TimeZone != "UTC" || f.Events[0].ShowAs != ShowAsBusy || f.AutoReplies.Status != RepliesDisabled {
		t.Fatalf("next shares memory with f: %+v", f)
	}
}

// TestSameSessionID compares sameSessionID with strings.EqualFold, its
// definition, on ids alike but for case, their last bytes, runes that fold
// to ASCII letters (the Kelvin sign to k, the long s to s), invalid UTF-8
// and empty strings, in every pair.
func TestSameSessionID(t *testing.T) {
	const client = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	ids := []string{"", "a", "A", "k", "K", "\u212a", "s", "S", "\u017f", "\xff", "\xe2\x84", "\xe2\x84K", "\xe2\x84k",
		client, strings.ToUpper(client), client + ":s0", client + ":S0", client + ":s1", client + ":s", client + ":S",
		client + ":\u017f", client + ":\u212a", client + ":k", client + ":K", client + ":\xff", client + "é", client + "É",
		"x" + client[1:], client[:len(client)-1]}
	for _, a := range ids {
		for _, b := range ids {
			if got, want := sameSessionID(a, b), strings.EqualFold(a, b); got != want {
				t.Errorf("sameSessionID(%q, %q) = %v; EqualFold: %v", a, b, got, want)
			}
		}
	}
	// And on random strings of the bytes that matter.
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "A", "k", "K", "s", "S", "\u212a", "\u017f", "é", "É", "\xe2", "\x84", ":", "0"}
	for range 200_000 {
		var a, b strings.Builder
		for range r.IntN(4) {
			a.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		for range r.IntN(4) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		if got, want := sameSessionID(a.String(), b.String()), strings.EqualFold(a.String(), b.String()); got != want {
			t.Fatalf("sameSessionID(%q, %q) = %v; EqualFold: %v", a.String(), b.String(), got, want)
		}
	}
}

// TestValidationReadsNow: a command ValidationReadsNow says does not read
// now validates alike at any now (the zero time, the past, the future),
// valid or not; and a command whose validation does read it (a status
// message's expiry in the past) is not said not to.
func TestValidationReadsNow(t *testing.T) {
	sp := func(id, av, ac string, exp time.Duration) SetPresence {
		return SetPresence{SessionID: id, Pair: Pair{Availability: av, Activity: ac}, Expiration: exp}
	}
	cmds := []Command{
		sp(app, Available, Available, 0), sp(app+":x", "busy", "inacall", time.Hour), sp("", Available, Available, 0),
		sp(app, "Sleepy", Available, 0), sp(app, Busy, Away, 0), sp(app, Available, Available, time.Second),
		sp(app, Available, Available, 1000*time.Hour),
	}
	for _, c := range cmds[:3] {
		c := c.(SetPresence)
		cmds = append(cmds, &c)
	}
	nows := []time.Time{{}, time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 3, 22, 0, 0, 0, time.UTC), time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, c := range cmds {
		if ValidationReadsNow(c) {
			t.Errorf("%#v: said to read now", c)
			continue
		}
		want := fmt.Sprint(c.Validate(nows[2]))
		for _, now := range nows {
			if got := fmt.Sprint(c.Validate(now)); got != want {
				t.Errorf("%#v at %v: %s; at %v: %s", c, now, got, nows[2], want)
			}
		}
	}
	past := SetStatus{Content: "out", ContentType: "text", Expiry: &DateTimeTimeZone{DateTime: "2026-01-01T00:00:00", TimeZone: "UTC"}}
	if !ValidationReadsNow(past) {
		t.Errorf("setStatusMessage: said not to read now")
	}
	if a, b := past.Validate(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)), past.Validate(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)); fmt.Sprint(a) == fmt.Sprint(b) {
		t.Logf("setStatusMessage's expiry validates alike before and after it (%v): nothing to compare", a)
	}
}
