package clock

import (
	"testing"
	"time"
)

func TestOffsetOnlyMovesForward(t *testing.T) {
	base := NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	c := NewOffset(base, time.Minute)
	var heard []time.Duration
	c.OnAdvance(func(total time.Duration) { heard = append(heard, total) })
	if got := c.Now(); !got.Equal(base.Now().Add(time.Minute)) {
		t.Fatalf("Now = %v", got)
	}
	c.Advance(10 * time.Minute)
	c.Advance(-time.Hour) // ignored: time never runs backwards
	base.Add(time.Second)
	if got, want := c.Now(), time.Date(2026, 11, 25, 9, 11, 1, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("Now = %v, want %v", got, want)
	}
	if c.Offset() != 11*time.Minute || len(heard) != 2 || heard[0] != 11*time.Minute {
		t.Fatalf("offset %v, heard %v", c.Offset(), heard)
	}
}
