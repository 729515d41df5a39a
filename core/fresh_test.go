package core_test

import (
	"context"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/presence"
)

// A write reports the sequenceNumber it replaced (what the change log
// chains records with), also when this node's copy was stale and the write
// was applied to what another node had stored.
func TestWriteReportsTheSequenceItReplaced(t *testing.T) {
	kv := bucket(t)
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	a := core.New(core.Options{KV: kv, Clock: fake})
	b := core.New(core.Options{KV: kv, Clock: fake})
	var got []core.Snapshot
	a.OnWrite(func(s core.Snapshot) { got = append(got, s) })
	ctx := context.Background()
	first, _, err := a.Do(ctx, alice, set("x", "Busy", "InACall"))
	if err != nil {
		t.Fatal(err)
	}
	fake.Add(time.Minute)
	second, _, err := b.Do(ctx, alice, set("y", "DoNotDisturb", "Presenting")) // a does not see it
	if err != nil {
		t.Fatal(err)
	}
	fake.Add(time.Minute)
	if _, _, err := a.Do(ctx, alice, set("z", "Available", "Available")); err != nil {
		t.Fatal(err)
	}
	// a's first write, b's write (learned by a at its conflict, from a
	// Get: what it replaced is not known), a's second write.
	if len(got) != 3 || !got[0].HasBefore || got[0].Before != (presence.Stamp{}) {
		t.Fatalf("first write: %+v", got)
	}
	if got[1].Seq != second.Seq || got[1].HasBefore {
		t.Fatalf("b's write, learned by a: %+v", got[1])
	}
	if !got[2].HasBefore || got[2].Before != second.Seq || got[2].Before == first.Seq {
		t.Fatalf("a's second write replaced b's (%v), reported %v", second.Seq, got[2].Before)
	}
}

// LockedFresh sees another node's write that this node's cache does not
// have; Locked answers from the cache.
func TestLockedFreshReadsWhatTheEngineHolds(t *testing.T) {
	kv := bucket(t)
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	a := core.New(core.Options{KV: kv, Clock: fake})
	b := core.New(core.Options{KV: kv, Clock: fake})
	ctx := context.Background()
	if _, _, err := a.Do(ctx, alice, set("x", "Busy", "InACall")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Do(ctx, alice, set("x", "DoNotDisturb", "Presenting")); err != nil {
		t.Fatal(err)
	}
	activity := func(lock func(context.Context, core.UserRef, func(core.Snapshot) error) error) string {
		var act string
		if err := lock(ctx, alice, func(s core.Snapshot) error { act = s.View.Pair.Activity; return nil }); err != nil {
			t.Fatal(err)
		}
		return act
	}
	if got := activity(a.Locked); got != "InACall" {
		t.Fatalf("Locked: %s (the cache)", got)
	}
	if got := activity(a.LockedFresh); got != "Presenting" {
		t.Fatalf("LockedFresh: %s", got)
	}
	if got := activity(a.Locked); got != "Presenting" {
		t.Fatalf("Locked after LockedFresh: %s (the cache was updated)", got)
	}
}
