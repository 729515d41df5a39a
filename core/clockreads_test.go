package core_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/presence"
)

// countingClock counts its readings.
type countingClock struct {
	clock.Real
	n atomic.Int64
}

func (c *countingClock) Now() time.Time { c.n.Add(1); return c.Real.Now() }

// TestSetPresenceReadsClockOnce: a setPresence, whose validation reads no
// time, reads the clock once a write (its instant, under the user's lock);
// a command whose validation reads it, twice.
func TestSetPresenceReadsClockOnce(t *testing.T) {
	clk := &countingClock{}
	c := core.New(core.Options{KV: nullKV{}, Clock: clk})
	u := core.UserRef{TenantID: "0f8fad5b-d9cb-469f-a165-70867728950e", UserID: "00000001-9c0b-4ef8-bb6d-6bb9bd380a11"}
	ctx := context.Background()
	for _, cmd := range []presence.Command{
		presence.SetPresence{SessionID: "7c9e6679-7425-40de-944b-e07fc1f90ae7", Pair: presence.Pair{Availability: "Busy", Activity: "InACall"}, Expiration: time.Hour},
		&presence.SetPresence{SessionID: "7c9e6679-7425-40de-944b-e07fc1f90ae7:b", Pair: presence.Pair{Availability: "Away", Activity: "Away"}},
	} {
		before := clk.n.Load()
		if _, err := c.Write(ctx, u, cmd); err != nil {
			t.Fatal(err)
		}
		if n := clk.n.Load() - before; n != 1 {
			t.Errorf("%#v: %d clock readings, want 1", cmd, n)
		}
	}
	before := clk.n.Load()
	if _, err := c.Write(ctx, u, presence.SetStatus{Content: "here", ContentType: "text"}); err != nil {
		t.Fatal(err)
	}
	if n := clk.n.Load() - before; n != 2 {
		t.Errorf("setStatusMessage: %d clock readings, want 2 (its validation's and its instant)", n)
	}
}
