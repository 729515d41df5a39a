package core_test

import (
	"context"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/presence"
)

// A write's snapshot (OnWrite's, OnChange's and Do's) carries the view
// after it and the sequenceNumber before it as ApplyView computed them:
// they must be what Aggregate and Sequence give at the write's instant —
// across time-caused changes between writes (a session faded, one
// expired: the sequenceNumber before a write is then not the stored one)
// and after the clock stepped back behind the user's last write.
func TestWriteSnapshotAsComputed(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	c := core.New(core.Options{KV: bucket(t), Clock: fake})
	var got int
	check := func(where string, s core.Snapshot) {
		t.Helper()
		if want := presence.Aggregate(s.Facts, s.At); !s.View.Equal(want) {
			t.Errorf("%s: view %+v, want %+v", where, s.View, want)
		}
		if want := presence.Sequence(s.Facts, s.At); s.Seq != want {
			t.Errorf("%s: seq %+v, want %+v", where, s.Seq, want)
		}
		if want := presence.Sequence(s.BeforeFacts, s.BeforeAt); !s.HasBefore || s.Before != want {
			t.Errorf("%s: before %+v (known %v), want %+v", where, s.Before, s.HasBefore, want)
		}
	}
	c.OnWrite(func(s core.Snapshot) { got++; check("OnWrite", s) })
	ctx := context.Background()
	steps := []struct {
		advance time.Duration // the clock moves first (negative: back)
		cmd     presence.Command
	}{
		{0, set("a", "Available", "Available")},
		{time.Minute, set("b", "Busy", "InACall")},
		{time.Minute, set("b", "Available", "Available")},
		{10 * time.Minute, set("c", "Away", "Away")}, // a and b faded to Away before it
		{time.Minute, set("a", "Busy", "InACall")},
		{-30 * time.Minute, set("c", "Available", "Available")}, // before the last write
		{-time.Minute, set("a", "DoNotDisturb", "Presenting")},
		{2 * time.Hour, set("d", "Available", "Available")}, // every other session expired
		{time.Second, presence.ClearPresence{SessionID: app + ":d"}},
		{time.Second, set("e", "Busy", "InACall")},
	}
	for i, st := range steps {
		fake.Add(st.advance)
		snap, _, err := c.Do(ctx, alice, st.cmd)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if want := presence.Aggregate(snap.Facts, snap.At); !snap.View.Equal(want) {
			t.Errorf("step %d: Do's view %+v, want %+v", i, snap.View, want)
		}
	}
	if got != len(steps) {
		t.Fatalf("OnWrite called %d times, want %d", got, len(steps))
	}
}
