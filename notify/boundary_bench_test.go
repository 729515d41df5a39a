package notify_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/notify"
	"github.com/presenced/presenced/presence"
)

// BenchmarkMeetingBoundary measures the time-caused notifications the hub
// logs per second when n watched users' meetings all start at one instant
// (09:00:00), on the real engine (file storage): nothing is written to any
// user at the boundary, the hub derives each change from the facts and
// appends it to the change log. Run with
//
//	go test -run '^$' -bench MeetingBoundary -benchtime 1x ./notify/
func BenchmarkMeetingBoundary(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	eng := enginetest.Open(b)
	kv, err := eng.Bucket(ctx, "presence")
	if err != nil {
		b.Fatal(err)
	}
	changes, err := eng.Log(ctx, "CHANGES", natsstore.LogOptions{Subjects: []string{"chg.>"}, MaxAge: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2026, 11, 25, 8, 50, 0, 0, time.UTC)
	nine := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	fake := clock.NewFake(start)
	c := core.New(core.Options{KV: kv, Clock: fake})
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	fan := notify.NewFanout(notify.FanoutOptions{Log: changes, Logger: quiet})
	hub := notify.NewHub(notify.HubOptions{Core: c, Log: changes, Fanout: fan, Clock: fake, Logger: quiet})
	hctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); hub.Run(hctx) }()
	defer func() { stop(); wg.Wait() }()

	us := make([]core.UserRef, n)
	meeting := presence.SetWindow{Events: []presence.Event{{Start: nine, End: nine.Add(30 * time.Minute), ShowAs: presence.ShowAsBusy, IsMeeting: true}},
		Until: start.Add(48 * time.Hour), Rev: 1}
	session := presence.SetPresence{SessionID: "c0ffee00-5a7f-430c-a555-551d652a37b1", Pair: presence.Pair{Availability: presence.Away, Activity: presence.Away}, Expiration: 4 * time.Hour}
	var setup sync.WaitGroup
	for w := range 8 {
		setup.Add(1)
		go func() {
			defer setup.Done()
			for i := w; i < n; i += 8 {
				us[i] = core.UserRef{TenantID: "a5036a1a-166f-4ed5-bf5a-e0ccc1602604", UserID: fmt.Sprintf("%08x-5ca1-4000-8000-%012x", i, i)}
				for _, cmd := range []presence.Command{session, meeting} {
					if _, _, err := c.Do(ctx, us[i], cmd); err != nil {
						b.Error(err)
						return
					}
				}
			}
		}()
	}
	setup.Wait()
	for i := 0; i < n; i += 1000 {
		if _, err := hub.Watch(ctx, us[i:min(i+1000, n)]); err != nil {
			b.Fatal(err)
		}
	}
	before, err := hub.LastSeq(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		t0 := time.Now()
		fake.Set(nine)
		for {
			last, err := hub.LastSeq(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if last-before >= n {
				break
			}
			if time.Since(t0) > 5*time.Minute {
				b.Fatalf("%d of %d changes logged after 5 minutes", last-before, n)
			}
			time.Sleep(5 * time.Millisecond)
		}
		took := time.Since(t0)
		b.ReportMetric(took.Seconds(), "s-for-all")
		b.ReportMetric(float64(n)/took.Seconds(), "changes/s")
	}
}
