package presence

import (
	"fmt"
	"testing"
	"time"
)

func stampAt(d time.Duration) Stamp { return Stamp{At: at(d).UnixNano()} }

func TestSequence(t *testing.T) {
	written := func(f Facts) Facts { f.Seq, f.LastWrite = stampAt(0), t0; return f }
	available := written(Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}})
	for _, tc := range []struct {
		name string
		f    Facts
		at   time.Duration
		want Stamp
	}{
		{"§4 with no time passed the stamp is the last write's", available, 0, stampAt(0)},
		{"§4 before the fade nothing changed", available, 5*time.Minute - time.Nanosecond, stampAt(0)},
		{"§4 fade changes the sequenceNumber at the fade instant without any write", available, 5 * time.Minute, stampAt(5 * time.Minute)},
		{"§4 between fades the stamp stays at the first fade", available, 9 * time.Minute, stampAt(5 * time.Minute)},
		{"§4 fading to Away changes it again", available, 10 * time.Minute, stampAt(10 * time.Minute)},
		{"§4 session expiry changes it", available, time.Hour, stampAt(time.Hour)},
		{"§4 after everything is over the stamp stays at the last change", available, 100 * time.Hour, stampAt(time.Hour)},
		{"§4 a call does not fade: only its expiry is a change",
			written(Facts{Sessions: []Session{sess("a", pInACall, 0, time.Hour)}}), 30 * time.Minute, stampAt(0)},
		{"§4 expiry of a session hidden by a better one changes nothing",
			written(Facts{Sessions: []Session{sess("a", pInACall, 0, 4*time.Hour), sess("b", pAway, 0, time.Hour)}}), 2 * time.Hour, stampAt(0)},
		{"§4 expiry of a preferred presence changes the view",
			written(Facts{Sessions: []Session{sess("a", pInACall, 0, 4*time.Hour)}, Preferred: pref(pDND, time.Hour)}), 2 * time.Hour, stampAt(time.Hour)},
		{"§4 expiry of a preferred presence equal to the session changes nothing",
			written(Facts{Sessions: []Session{sess("a", pAway, 0, 4*time.Hour)}, Preferred: pref(pAway, time.Hour)}), 2 * time.Hour, stampAt(0)},
		{"§4 expiry of a preferred presence hidden by rule 1 changes nothing",
			written(Facts{Preferred: pref(pDND, time.Hour)}), 2 * time.Hour, stampAt(0)},
		{"§4 meeting start changes it",
			written(Facts{Sessions: []Session{sess("a", pAway, 0, 4*time.Hour)}, Events: []Event{meeting(time.Hour, 2*time.Hour)}}), 90 * time.Minute, stampAt(time.Hour)},
		{"§4 meeting end changes it back, and that is a change too",
			written(Facts{Sessions: []Session{sess("a", pAway, 0, 4*time.Hour)}, Events: []Event{meeting(time.Hour, 2*time.Hour)}}), 3 * time.Hour, stampAt(2 * time.Hour)},
		{"§4 a meeting during a call changes nothing",
			written(Facts{Sessions: []Session{sess("a", pInACall, 0, 4*time.Hour)}, Events: []Event{meeting(time.Hour, 2*time.Hour)}}), 3 * time.Hour, stampAt(0)},
		{"§4 the OOF window opening changes it",
			written(Facts{AutoReplies: &AutoReplies{Status: RepliesScheduled, ScheduledStart: at(time.Hour), ScheduledEnd: at(48 * time.Hour)}}), 2 * time.Hour, stampAt(time.Hour)},
		{"§4 the OOF window closing changes it",
			written(Facts{AutoReplies: &AutoReplies{Status: RepliesScheduled, ScheduledStart: at(time.Hour), ScheduledEnd: at(48 * time.Hour)}}), 50 * time.Hour, stampAt(48 * time.Hour)},
		{"§4 status message expiry changes it",
			written(Facts{Status: &StatusMessage{Content: "x", ContentType: "text", PublishedAt: t0, ExpiresAt: at(time.Hour)}}), 2 * time.Hour, stampAt(time.Hour)},
		{"§4 changes before the last write are already in Seq",
			func() Facts {
				f := available
				f.LastWrite = at(20 * time.Minute)
				f.Seq = Stamp{At: at(20 * time.Minute).UnixNano(), N: 3}
				return f
			}(),
			30 * time.Minute, Stamp{At: at(20 * time.Minute).UnixNano(), N: 3}},
		{"§4 a reading before the last write (clock stepped back) is Seq",
			available, -time.Hour, stampAt(0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Sequence(tc.f, at(tc.at)); got != tc.want {
				t.Fatalf("Sequence = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestSequenceChangesExactlyWithTheView scans a day second by second over
// facts where many things happen: the stamp changes exactly when the view
// does (semantics §4), and only increases.
func TestSequenceChangesExactlyWithTheView(t *testing.T) {
	f := Facts{
		Sessions: []Session{
			sess("a", pAvailable, 0, 4*time.Hour),
			sess("b", pAway, 0, 2*time.Hour),
			sess("c", pInACall, 0, 3*time.Hour+30*time.Minute),
		},
		Preferred:   pref(pAway, 90*time.Minute),
		Status:      &StatusMessage{Content: "x", ContentType: "text", PublishedAt: t0, ExpiresAt: at(5 * time.Hour)},
		Events:      []Event{meeting(30*time.Minute, time.Hour), meeting(2*time.Hour, 3*time.Hour+15*time.Minute), {Start: at(3 * time.Hour), End: at(6 * time.Hour), ShowAs: ShowAsOOF}},
		AutoReplies: &AutoReplies{Status: RepliesScheduled, ScheduledStart: at(150 * time.Minute), ScheduledEnd: at(200 * time.Minute), InternalReplyMessage: "gone"},
		Seq:         stampAt(0),
		LastWrite:   t0,
	}
	prevView, prevSeq := Aggregate(f, t0), Sequence(f, t0)
	changes := 0
	for d := time.Second; d <= 8*time.Hour; d += time.Second {
		now := at(d)
		v, s := Aggregate(f, now), Sequence(f, now)
		viewChanged, seqChanged := !v.Equal(prevView), s != prevSeq
		if viewChanged != seqChanged {
			t.Fatalf("at +%v: view changed %v (%v -> %v) but sequence changed %v", d, viewChanged, prevView.Pair, v.Pair, seqChanged)
		}
		if seqChanged {
			changes++
			if !prevSeq.Less(s) || s != (Stamp{At: now.UnixNano()}) {
				t.Fatalf("at +%v: stamp %+v after %+v, want {%d 0}", d, s, prevSeq, now.UnixNano())
			}
			next, ok := NextChange(f, at(d-time.Second))
			if !ok || !next.Equal(now) {
				t.Fatalf("NextChange before +%v = %v, %v; want %v", d, next, ok, now)
			}
		}
		prevView, prevSeq = v, s
	}
	if changes < 5 {
		t.Errorf("only %d changes in the scenario; it is meant to exercise many rules", changes)
	}
	if next, ok := NextChange(f, at(8*time.Hour)); ok {
		t.Errorf("NextChange after everything = %v, want none", next)
	}
}

func TestNextChange(t *testing.T) {
	for _, tc := range []struct {
		name  string
		f     Facts
		after time.Duration
		want  time.Duration
		ok    bool
	}{
		{"§4 the next fade of an Available session", Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}}, 0, 5 * time.Minute, true},
		{"§4 strictly after: a change at exactly 'after' is not next", Facts{Sessions: []Session{sess("a", pAvailable, 0, time.Hour)}}, 5 * time.Minute, 10 * time.Minute, true},
		{"§4 an expiry that changes nothing is skipped",
			Facts{Sessions: []Session{sess("a", pInACall, 0, 4*time.Hour), sess("b", pAway, 0, time.Hour)}}, 0, 4 * time.Hour, true},
		{"§4 a meeting during a call is skipped, the call's end is not",
			Facts{Sessions: []Session{sess("a", pInACall, 0, 4*time.Hour)}, Events: []Event{meeting(time.Hour, 2*time.Hour)}}, 0, 4 * time.Hour, true},
		{"§4 nothing scheduled", Facts{Status: &StatusMessage{Content: "forever"}}, 0, 0, false},
		{"§4 nothing after the last expiry", Facts{Sessions: []Session{sess("a", pInACall, 0, time.Hour)}}, time.Hour, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := NextChange(tc.f, at(tc.after))
			if ok != tc.ok || (ok && !got.Equal(at(tc.want))) {
				t.Fatalf("NextChange = %v, %v; want +%v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestBump(t *testing.T) {
	for _, tc := range []struct {
		name string
		prev Stamp
		now  time.Time
		want Stamp
	}{
		{"§4 a change after the last one is stamped with its instant", stampAt(0), at(time.Second), stampAt(time.Second)},
		{"§4 two changes at one instant are ordered by N", stampAt(0), t0, Stamp{At: t0.UnixNano(), N: 1}},
		{"§4 a third change at one instant", Stamp{At: t0.UnixNano(), N: 1}, t0, Stamp{At: t0.UnixNano(), N: 2}},
		{"§4 a clock stepping back still moves forward", stampAt(time.Hour), t0, Stamp{At: at(time.Hour).UnixNano(), N: 1}},
		{"§4 the first change ever", Stamp{}, t0, stampAt(0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Bump(tc.prev, tc.now)
			if got != tc.want || !tc.prev.Less(got) || !(tc.prev.String() < got.String()) {
				t.Fatalf("Bump(%+v, %v) = %+v, want %+v (and greater, also as a string)", tc.prev, tc.now, got, tc.want)
			}
		})
	}
}

// A stamp is written as the sequenceNumber format says: At in 16 hex digits
// (two's complement), then N in 8.
func TestStampString(t *testing.T) {
	for _, s := range []Stamp{{}, {At: 1, N: 1}, {At: -1, N: ^uint32(0)}, {At: time.Date(2026, 11, 25, 9, 0, 0, 123, time.UTC).UnixNano(), N: 0xabc}, {At: -1 << 63}} {
		want := fmt.Sprintf("%016x%08x", uint64(s.At), s.N)
		if got := s.String(); got != want {
			t.Errorf("%+v.String() = %s, want %s", s, got, want)
		}
		if got := string(s.Append([]byte("x"))); got != "x"+want {
			t.Errorf("%+v.Append = %s, want x%s", s, got, want)
		}
	}
}

// BenchmarkSequence is the sequence number of a user with the million-user
// benchmark's two sessions (one Available, which fades, and one Busy), read
// hours after the last write: a getPresencesByUserId of 650 ids computes it
// 650 times.
func BenchmarkSequence(b *testing.B) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	f := Facts{
		Sessions: []Session{
			{ID: "a", Pair: Pair{Available, Available}, RefreshedAt: t0, ExpiresAt: t0.Add(4 * time.Hour)},
			{ID: "b", Pair: Pair{Busy, InACall}, RefreshedAt: t0, ExpiresAt: t0.Add(4 * time.Hour)},
		},
		Seq:       Stamp{At: t0.UnixNano()},
		LastWrite: t0,
	}
	now := t0.Add(2 * time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		Sequence(f, now)
	}
}
