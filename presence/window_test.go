package presence

import (
	"math/rand/v2"
	"testing"
	"time"
)

// randomFacts are consistent facts (Seq at or before LastWrite) with a
// calendar window: what Sequence's backward walk must read exactly as the
// forward walk does.
func randomFacts(r *rand.Rand) Facts {
	d := func(max time.Duration) time.Duration { return time.Duration(r.Int64N(int64(max))) }
	pairs := []Pair{pAvailable, pAway, pInACall, pPresenting, pDND, pBusyBusy, pBRB}
	var f Facts
	for i := range r.IntN(3) {
		start := d(2 * time.Hour)
		f.Sessions = append(f.Sessions, sess(string(rune('a'+i)), pairs[r.IntN(len(pairs))], start, start+time.Minute+d(4*time.Hour)))
	}
	showAs := []string{ShowAsBusy, ShowAsTentative, ShowAsOOF}
	for range r.IntN(12) {
		start := d(10 * time.Hour)
		f.Events = append(f.Events, Event{Start: at(start), End: at(start + time.Minute + d(3*time.Hour)), ShowAs: showAs[r.IntN(3)], IsMeeting: r.IntN(4) > 0, IsAllDay: r.IntN(6) == 0})
	}
	switch r.IntN(3) {
	case 1:
		f.AutoReplies = &AutoReplies{Status: RepliesAlwaysEnabled, InternalReplyMessage: "away"}
	case 2:
		s := d(8 * time.Hour)
		f.AutoReplies = &AutoReplies{Status: RepliesScheduled, ScheduledStart: at(s), ScheduledEnd: at(s + d(8*time.Hour) + 1)}
	}
	if r.IntN(3) == 0 {
		f.Preferred = pref(pairs[r.IntN(len(pairs))], d(6*time.Hour)+1)
	}
	f.LastWrite = at(d(time.Hour))
	f.Seq = Stamp{At: f.LastWrite.UnixNano() - int64(d(time.Hour)), N: uint32(r.IntN(3))}
	return f
}

func TestSequenceBackwardIsTheWalk(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	for i := range 20000 {
		f := randomFacts(r)
		now := f.LastWrite.Add(time.Duration(r.Int64N(int64(14 * time.Hour))))
		if got, want := Sequence(f, now), sequenceWalk(f, now); got != want {
			t.Fatalf("case %d at %v: Sequence = %v, the forward walk %v; facts %+v", i, now.Sub(t0), got, want, f)
		}
	}
}

func TestSetWindow(t *testing.T) {
	base := Facts{Sessions: []Session{sess("a", pAvailable, 0, 4*time.Hour)}}
	w5 := SetWindow{Events: []Event{meeting(time.Hour, 2*time.Hour)}, Until: at(48 * time.Hour), Rev: 5}
	f, changed, err := Apply(base, w5, at(time.Minute))
	if err != nil || changed || len(f.Events) != 1 || f.CalendarRev != 5 || !f.CalendarUntil.Equal(at(48*time.Hour)) {
		t.Fatalf("Apply(window 5) = %+v, %v, %v", f, changed, err)
	}
	t.Run("a window of an older revision is not applied", func(t *testing.T) {
		g, changed, err := Apply(f, SetWindow{Until: at(50 * time.Hour), Rev: 4}, at(2*time.Minute))
		if err != nil || changed || len(g.Events) != 1 || g.CalendarRev != 5 || !g.CalendarUntil.Equal(at(48*time.Hour)) {
			t.Fatalf("Apply(window 4) = %+v, %v, %v", g, changed, err)
		}
	})
	t.Run("a reset applies a window of any revision: the calendar was lost", func(t *testing.T) {
		oof := SetWindow{AutoReplies: &AutoReplies{Status: RepliesAlwaysEnabled}, Until: at(48 * time.Hour), Rev: 5}
		g, _, err := Apply(f, oof, at(2*time.Minute))
		if err != nil || g.AutoReplies == nil {
			t.Fatalf("Apply(oof) = %+v, %v", g, err)
		}
		h, changed, err := Apply(g, SetWindow{Reset: true}, at(3*time.Minute))
		if err != nil || !changed || h.Events != nil || h.AutoReplies != nil || h.CalendarRev != 0 || !h.CalendarUntil.IsZero() {
			t.Fatalf("Apply(reset to nothing) = %+v, %v, %v", h, changed, err)
		}
		if Aggregate(h, at(3*time.Minute)).OutOfOffice.IsOutOfOffice {
			t.Fatal("still out of office after the reset")
		}
		h, _, err = Apply(g, SetWindow{Events: []Event{meeting(0, time.Hour)}, Until: at(48 * time.Hour), Rev: 2, Reset: true}, at(3*time.Minute))
		if err != nil || len(h.Events) != 1 || h.CalendarRev != 2 || h.AutoReplies != nil {
			t.Fatalf("Apply(reset to revision 2) = %+v, %v", h, err)
		}
	})
	t.Run("a window of the same revision extends it (a refresh)", func(t *testing.T) {
		g, _, err := Apply(f, SetWindow{Events: w5.Events, Until: at(60 * time.Hour), Rev: 5}, at(2*time.Minute))
		if err != nil || !g.CalendarUntil.Equal(at(60*time.Hour)) {
			t.Fatalf("Apply(refresh) = %+v, %v", g, err)
		}
	})
	t.Run("a window that starts a meeting now is a visible change", func(t *testing.T) {
		g, changed, err := Apply(f, SetWindow{Events: []Event{meeting(0, time.Hour)}, Until: at(48 * time.Hour), Rev: 6}, at(2*time.Minute))
		if err != nil || !changed || Aggregate(g, at(2*time.Minute)).Pair != pInAMeeting {
			t.Fatalf("Apply(window 6) = %+v, %v, %v", g, changed, err)
		}
	})
	t.Run("events over by the write are dropped", func(t *testing.T) {
		g, _, err := Apply(f, SetWindow{Events: []Event{meeting(0, time.Hour), meeting(3*time.Hour, 4*time.Hour)}, Until: at(48 * time.Hour), Rev: 7}, at(2*time.Hour))
		if err != nil || len(g.Events) != 1 || !g.Events[0].Start.Equal(at(3*time.Hour)) {
			t.Fatalf("Apply = %+v, %v", g.Events, err)
		}
	})
	t.Run("bad input is refused and changes nothing", func(t *testing.T) {
		for _, c := range []SetWindow{
			{Events: []Event{{Start: at(2 * time.Hour), End: at(time.Hour), ShowAs: ShowAsBusy}}, Rev: 9},
			{Events: []Event{{Start: at(time.Hour), End: at(2 * time.Hour), ShowAs: "maybe"}}, Rev: 9},
			{AutoReplies: &AutoReplies{Status: RepliesScheduled}, Rev: 9},
		} {
			if g, _, err := Apply(f, c, at(2*time.Minute)); err == nil || ErrorCode(err) != Invalid || g.CalendarRev != 5 {
				t.Errorf("Apply(%+v) = %v, %v", c, g.CalendarRev, err)
			}
		}
	})
}

// The window carries the work plan as the scheduled layer: set with it,
// kept with the manual signal, replaced by a newer window, its spans over
// by now dropped, an older window's ignored.
func TestSetWindowScheduledLayer(t *testing.T) {
	office := ScheduledLocation{Start: at(time.Hour), End: at(2 * time.Hour), Type: "OFFICE", PlaceID: "hq"}
	over := ScheduledLocation{Start: at(0), End: at(time.Minute), Type: WorkLocationRemote}
	f, _, err := Apply(Facts{}, SetWindow{Scheduled: []ScheduledLocation{office, over}, Until: at(48 * time.Hour), Rev: 2}, at(30*time.Minute))
	if err != nil || f.Location == nil || len(f.Location.Scheduled) != 1 || f.Location.Scheduled[0].Type != WorkLocationOffice {
		t.Fatalf("Apply = %+v, %v", f.Location, err)
	}
	if got := workLocationAt(f.Location, at(90*time.Minute)); got.Source != WorkLocationSourceScheduled || got.PlaceID == nil || *got.PlaceID != "hq" {
		t.Errorf("during the span: %+v", got)
	}
	f, _, _ = Apply(f, SetLocation{Layer: LayerManual, Type: WorkLocationRemote}, at(40*time.Minute))
	if g, _, _ := Apply(f, SetWindow{Until: at(48 * time.Hour), Rev: 1}, at(41*time.Minute)); len(g.Location.Scheduled) != 1 {
		t.Errorf("an older window changed the layer: %+v", g.Location)
	}
	g, _, err := Apply(f, SetWindow{Until: at(48 * time.Hour), Rev: 3}, at(41*time.Minute))
	if err != nil || g.Location == nil || g.Location.Manual == nil || len(g.Location.Scheduled) != 0 {
		t.Errorf("a newer window without spans: %+v, %v", g.Location, err)
	}
	if _, _, err := Apply(Facts{}, SetWindow{Scheduled: []ScheduledLocation{{Start: at(time.Hour), End: at(time.Hour), Type: WorkLocationOffice}}, Rev: 4}, at(0)); ErrorCode(err) != Invalid {
		t.Errorf("an empty span: %v", err)
	}
}
