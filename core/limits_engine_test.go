package core

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/presence"
)

// TestWorstCaseRecordFitsTheEngine: with the session caps at their
// largest (presence.MaxSessionLimit, all of one application), every
// session id as long as a label allows, a preferred presence and the
// longest status message (280 four-byte characters, with an expiry in a
// long zone name), all at the dev clock's horizon, a user's record is
// still far below the largest message the engine takes, and the engine
// takes it. A user's record that outgrew it (15,000 sessions) made every
// write to that user fail with 503. (Calendar events and automatic
// replies have no writer in the API yet; when they get one, they need a
// cap of their own here.)
func TestWorstCaseRecordFitsTheEngine(t *testing.T) {
	eng := enginetest.Open(t)
	ctx := context.Background()
	kv, err := eng.Bucket(ctx, "presence")
	if err != nil {
		t.Fatal(err)
	}
	maxMsg := eng.Conn().MaxPayload()
	now := clock.Horizon.Add(-time.Second)
	c := New(Options{KV: kv, Clock: clock.NewFake(now)})
	u := UserRef{TenantID: "a5036a1a-166f-4ed5-bf5a-e0ccc1602604", UserID: "07d45181-b0c9-44d6-aabb-913130fdf598"}
	const client = "6dcddc99-5a7f-430c-a555-551d652a37b1"
	limits := presence.SessionLimits{PerApp: presence.MaxSessionLimit, PerUser: presence.MaxSessionLimit}
	for i := range presence.MaxSessionLimit {
		label := fmt.Sprintf("%0*d", presence.MaxSessionLabel, i)
		cmd := presence.SetPresence{SessionID: client + ":" + label, Pair: presence.Pair{Availability: presence.DoNotDisturb, Activity: presence.Presenting},
			Expiration: presence.SessionMaxExpiration, Limits: limits}
		if _, _, err := c.Do(ctx, u, cmd); err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
	}
	if _, _, err := c.Do(ctx, u, presence.SetPresence{SessionID: client, Pair: presence.Pair{Availability: presence.Away, Activity: presence.Away}, Limits: limits}); presence.ErrorCode(err) != presence.Conflict {
		t.Fatalf("a session over the cap: %v", err)
	}
	for _, cmd := range []presence.Command{
		presence.SetPreferred{Pair: presence.Pair{Availability: presence.Offline, Activity: presence.OffWork}, Expiration: presence.PreferredMaxExpiration},
		presence.SetStatus{Content: strings.Repeat("\U0001F600", presence.MaxStatusMessage), ContentType: "text",
			Expiry: &presence.DateTimeTimeZone{DateTime: "2262-01-02T00:00:00.1234567", TimeZone: "America/Argentina/ComodRivadavia"}},
	} {
		if _, _, err := c.Do(ctx, u, cmd); err != nil {
			t.Fatalf("%T: %v", cmd, err)
		}
	}
	snap, err := c.Read(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	size := len(encodeStored(snap.Facts))
	t.Logf("worst-case record: %d sessions, %d bytes; the engine takes %d", len(snap.Facts.Sessions), size, maxMsg)
	// A quarter of the engine's limit leaves room for the headers, and for
	// facts this test does not know about yet.
	if len(snap.Facts.Sessions) != presence.MaxSessionLimit || snap.Facts.Status == nil || int64(size) > maxMsg/4 {
		t.Fatalf("worst-case record: %d sessions, %d bytes (the engine takes %d)", len(snap.Facts.Sessions), size, maxMsg)
	}
}
