package presence

import (
	"slices"
	"time"
)

// candidates returns, sorted and without duplicates, every instant strictly
// after lo (and at or before hi, unless hi is zero) at which the view of f
// can change without a write: fades and expiries of sessions, expiry of the
// preferred presence and of the status message, event starts and ends, the
// automatic-replies window, and the work location's day boundaries and
// scheduled spans. Between two candidates Aggregate is constant.
// They are appended to buf[:0].
func candidates(buf []time.Time, f Facts, lo, hi time.Time) []time.Time {
	out := buf[:0]
	add := func(t time.Time) {
		if t.IsZero() || !t.After(lo) || (!hi.IsZero() && t.After(hi)) {
			return
		}
		out = append(out, t)
	}
	for _, s := range f.Sessions {
		if s.Pair == (Pair{Available, Available}) {
			add(s.RefreshedAt.Add(FadeInactive))
			add(s.RefreshedAt.Add(FadeAway))
		}
		add(s.ExpiresAt)
	}
	if f.Preferred != nil {
		add(f.Preferred.ExpiresAt)
	}
	if f.Status != nil {
		add(f.Status.ExpiresAt)
	}
	for _, e := range f.Events {
		add(e.Start)
		add(e.End)
	}
	if a := f.AutoReplies; a != nil && a.Status == RepliesScheduled {
		add(a.ScheduledStart)
		add(a.ScheduledEnd)
	}
	f.Location.addCandidates(add)
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return slices.CompactFunc(out, time.Time.Equal)
}

// Sequence is the stamp of the last visible change of f at or before now
// (semantics §4). f.Seq covers everything up to f.LastWrite; after that
// only time changes the view, at the instants candidates lists, so each is
// evaluated against the view just before it. A time-caused change at t is
// stamped {t, 0}: t is strictly after LastWrite, hence after f.Seq, in any
// consistent Facts, so only the last change counts, and the candidates are
// walked from the newest down until one changed the view. A user with a
// day of meetings in the window costs two or three Aggregates a read, not
// one per boundary since the last write. Inconsistent Facts (f.Seq after
// LastWrite) take the forward walk, whose Bumps keep the order.
func Sequence(f Facts, now time.Time) Stamp {
	if !now.After(f.LastWrite) {
		return f.Seq
	}
	if f.Seq.At > f.LastWrite.UnixNano() {
		return sequenceWalk(f, now)
	}
	return sequenceBack(f, now)
}

// sequenceBack is Sequence's backward walk. It is a function of its own,
// not inlined, so that its candidates' buffer (768 bytes) is not in
// Sequence's frame under sequenceWalk's, which has one too: together they
// took a GET's stack past 8 KiB, and every collection shrank it back, so
// that the connection's next request paid for copying it to grow again
// (docs/performance.md, branch getpath).
//
//go:noinline
func sequenceBack(f Facts, now time.Time) Stamp {
	var buf [32]time.Time // room for the candidates of most users: no allocation
	cs := candidates(buf[:], f, f.LastWrite, now)
	if len(cs) == 0 {
		return f.Seq
	}
	v := Aggregate(f, cs[len(cs)-1])
	for i := len(cs) - 1; i >= 0; i-- {
		before := f.LastWrite
		if i > 0 {
			before = cs[i-1]
		}
		prev := Aggregate(f, before)
		if !v.Equal(prev) {
			return Stamp{At: cs[i].UnixNano()}
		}
		v = prev
	}
	return f.Seq
}

// sequenceWalk is Sequence walking forward through every candidate: the
// reference the backward walk is tested against, and the walk for
// inconsistent Facts.
func sequenceWalk(f Facts, now time.Time) Stamp {
	seq := f.Seq
	if !now.After(f.LastWrite) {
		return seq
	}
	var buf [32]time.Time
	prev := Aggregate(f, f.LastWrite)
	for _, t := range candidates(buf[:], f, f.LastWrite, now) {
		v := Aggregate(f, t)
		if !v.Equal(prev) {
			seq = Bump(seq, t)
		}
		prev = v
	}
	return seq
}

// NextChange is the earliest instant strictly after `after` at which the
// view of f changes by time alone; false when nothing is scheduled to
// change. The engine uses it to time change notifications.
func NextChange(f Facts, after time.Time) (time.Time, bool) {
	var buf [32]time.Time
	prev := Aggregate(f, after)
	for _, t := range candidates(buf[:], f, after, time.Time{}) {
		v := Aggregate(f, t)
		if !v.Equal(prev) {
			return t, true
		}
		prev = v
	}
	return time.Time{}, false
}

// Bump is the stamp of a change at now that follows prev: {now, 0} when now
// is after prev, else {prev.At, prev.N+1}, so that stamps keep increasing
// when several changes share an instant or the clock steps back.
func Bump(prev Stamp, now time.Time) Stamp {
	if at := now.UnixNano(); at > prev.At {
		return Stamp{At: at}
	}
	return Stamp{At: prev.At, N: prev.N + 1}
}
