package mailbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/presence"
)

// Rebuild makes every stored window the calendar's as it is now, over
// windows of a higher revision (written from a calendar stream that was
// lost): one whose calendar is gone is cleared, one whose calendar is
// left gets its window, a user without any calendar part is not written.
func TestRebuildAfterTheCalendarWasLost(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ev, err := f.mb.Create(ctx, alex, daily("2026-11-25"))
	if err != nil {
		t.Fatal(err)
	}
	kept := f.facts(t)
	// What the lost stream left in presence: a later revision, a meeting
	// now and automatic replies.
	lost := presence.SetWindow{
		Events:      []presence.Event{{Start: t0.Add(-time.Hour), End: t0.Add(time.Hour), ShowAs: presence.ShowAsBusy}},
		AutoReplies: &presence.AutoReplies{Status: presence.RepliesAlwaysEnabled},
		Until:       t0.Add(48 * time.Hour), Rev: kept.CalendarRev + 100,
	}
	megan := core.UserRef{TenantID: "t", UserID: "megan"}
	plain := core.UserRef{TenantID: "t", UserID: "plain"}
	for _, u := range []core.UserRef{alex, megan} {
		if _, _, err := f.core.Do(ctx, u, lost); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := f.core.Do(ctx, plain, presence.SetStatus{Content: "hi", ContentType: "text"}); err != nil {
		t.Fatal(err)
	}
	before, _ := f.core.Read(ctx, plain)

	n, err := f.mb.Rebuild(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Rebuild = %d, %v; want 2 users", n, err)
	}
	a := f.facts(t)
	if a.CalendarRev != kept.CalendarRev || a.AutoReplies != nil || len(a.Events) != len(kept.Events) || !a.Events[0].Start.Equal(kept.Events[0].Start) {
		t.Fatalf("alex after the rebuild: rev %d, %d events, replies %v; want the calendar's (rev %d, %d events, %s)", a.CalendarRev, len(a.Events), a.AutoReplies, kept.CalendarRev, len(kept.Events), ev.ID)
	}
	m, err := f.core.Read(ctx, megan)
	if err != nil {
		t.Fatal(err)
	}
	if m.Facts.Events != nil || m.Facts.AutoReplies != nil || m.Facts.CalendarRev != 0 || !m.Facts.CalendarUntil.IsZero() {
		t.Fatalf("megan, whose calendar is gone, still has %+v", m.Facts)
	}
	if v := presence.Aggregate(m.Facts, t0); v.OutOfOffice.IsOutOfOffice {
		t.Fatal("megan still out of office")
	}
	after, _ := f.core.Read(ctx, plain)
	if after.Seq != before.Seq || !after.Facts.LastWrite.Equal(before.Facts.LastWrite) {
		t.Fatal("a user without a calendar part was written")
	}
}
