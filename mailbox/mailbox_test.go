package mailbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/presenced/presenced/calendar"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/mailbox"
	"github.com/presenced/presenced/presence"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

type fixture struct {
	fake *clock.Fake
	core *core.Core
	mb   *mailbox.Mailbox
	opts mailbox.Options
}

func newFixture(t *testing.T) *fixture {
	e := enginetest.Open(t)
	ctx := context.Background()
	pkv, err := e.Bucket(ctx, "presence")
	if err != nil {
		t.Fatal(err)
	}
	ckv, err := e.Bucket(ctx, "calendar")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{fake: clock.NewFake(t0)}
	f.core = core.New(core.Options{KV: pkv, Clock: f.fake})
	f.opts = mailbox.Options{KV: ckv, Core: f.core, Clock: f.fake}
	f.mb = mailbox.New(f.opts)
	return f
}

var alex = core.UserRef{TenantID: "t", UserID: "alex"}

func daily(start string) mailbox.Input {
	s := calendar.DateTimeTimeZone{DateTime: start + "T10:00:00", TimeZone: "UTC"}
	e := calendar.DateTimeTimeZone{DateTime: start + "T10:30:00", TimeZone: "UTC"}
	return mailbox.Input{Start: &s, End: &e, Recurrence: &calendar.Recurrence{Pattern: calendar.Pattern{Type: "daily", Interval: 1}, Range: calendar.Range{Type: "noEnd", StartDate: start}}}
}

func (f *fixture) facts(t *testing.T) presence.Facts {
	s, err := f.core.Read(context.Background(), alex)
	if err != nil {
		t.Fatal(err)
	}
	return s.Facts
}

// A daily series with no end keeps a window of two days in the presence
// record, never more, and the refresher extends it before it runs out.
func TestWindowIsKeptAndRefreshed(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); f.mb.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if _, err := f.mb.Create(ctx, alex, daily("2026-11-25")); err != nil {
		t.Fatal(err)
	}
	fs := f.facts(t)
	if len(fs.Events) != 2 || !fs.CalendarUntil.Equal(t0.Add(mailbox.Window)) || fs.CalendarRev == 0 {
		t.Fatalf("window = %d events until %v rev %d", len(fs.Events), fs.CalendarUntil, fs.CalendarRev)
	}
	// 30 hours on, the window is due (it had 18 hours left): the
	// refresher extends it to 48 hours from then.
	f.fake.Add(30 * time.Hour)
	deadline := time.Now().Add(10 * time.Second)
	for !f.facts(t).CalendarUntil.After(t0.Add(mailbox.Window)) {
		if time.Now().After(deadline) {
			t.Fatal("the refresher did not extend the window")
		}
		time.Sleep(10 * time.Millisecond)
	}
	fs = f.facts(t)
	if !fs.CalendarUntil.Equal(t0.Add(30*time.Hour + mailbox.Window)) {
		t.Fatalf("window until %v", fs.CalendarUntil)
	}
	if n := len(fs.Events); n < 2 || n > 3 {
		t.Fatalf("the window holds %d occurrences; a series costs per window, not per occurrence", n)
	}
	if got := presence.Aggregate(fs, time.Date(2026, 11, 27, 10, 10, 0, 0, time.UTC)).Pair; got.Availability != presence.Offline {
		t.Fatalf("no session: %v", got)
	}
}

// A window built from an older index (the process stopped between the
// index write and the presence write) is rebuilt as soon as the refresher
// starts; and two nodes refreshing one user leave the same window.
func TestRefresherRepairsAndIsIdempotent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.mb.Create(ctx, alex, daily("2026-11-25")); err != nil {
		t.Fatal(err)
	}
	// A write whose presence half is lost: its presence writes go to a
	// bucket nobody reads.
	lost, err := enginetest.Open(t).Bucket(ctx, "presence")
	if err != nil {
		t.Fatal(err)
	}
	crashed := f.opts
	crashed.Core = core.New(core.Options{KV: lost, Clock: f.fake})
	s := calendar.DateTimeTimeZone{DateTime: "2026-11-25T11:00:00", TimeZone: "UTC"}
	e := calendar.DateTimeTimeZone{DateTime: "2026-11-25T12:00:00", TimeZone: "UTC"}
	if _, err := mailbox.New(crashed).Create(ctx, alex, mailbox.Input{Start: &s, End: &e}); err != nil {
		t.Fatal(err)
	}
	if n := len(f.facts(t).Events); n != 2 {
		t.Fatalf("before the restart the window holds %d events", n)
	}
	restarted := mailbox.New(f.opts)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); restarted.Run(rctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for len(f.facts(t).Events) != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the refresher did not rebuild the stale window: %d events", len(f.facts(t).Events))
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := f.facts(t)
	if err := f.mb.Refresh(ctx, alex); err != nil {
		t.Fatal(err)
	}
	if err := restarted.Refresh(ctx, alex); err != nil {
		t.Fatal(err)
	}
	after := f.facts(t)
	if len(after.Events) != 3 || after.CalendarRev != before.CalendarRev || presence.Sequence(after, t0) != presence.Sequence(before, t0) {
		t.Fatalf("two refreshes changed the window: %+v → %+v", before, after)
	}
}
