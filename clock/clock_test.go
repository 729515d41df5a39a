package clock

import (
	"errors"
	"math"
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
	if _, err := c.Advance(10 * time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Advance(-time.Hour); err != nil { // ignored: time never runs backwards
		t.Fatal(err)
	}
	base.Add(time.Second)
	if got, want := c.Now(), time.Date(2026, 11, 25, 9, 11, 1, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("Now = %v, want %v", got, want)
	}
	if c.Offset() != 11*time.Minute || len(heard) != 2 || heard[0] != 11*time.Minute {
		t.Fatalf("offset %v, heard %v", c.Offset(), heard)
	}
}

// The offset clock may be moved to Horizon exactly and not a nanosecond
// further; a refused move changes nothing and wakes nobody.
func TestOffsetStopsAtTheHorizon(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	c := NewOffset(NewFake(t0), 0)
	heard := 0
	c.OnAdvance(func(time.Duration) { heard++ })
	room := Horizon.Sub(t0)
	if got := c.Room(); got != room {
		t.Fatalf("Room = %v, want %v", got, room)
	}
	for _, d := range []time.Duration{15000 * 7 * 24 * time.Hour, room + time.Nanosecond, math.MaxInt64} {
		_, err := c.Advance(d)
		var tf *TooFarError
		if !errors.As(err, &tf) || tf.By != d || tf.Room != room || !tf.Now.Equal(t0) {
			t.Fatalf("Advance(%v) = %v, want a TooFarError with room %v", d, err, room)
		}
	}
	if c.Offset() != 0 || heard != 0 {
		t.Fatalf("a refused move moved the clock: offset %v, heard %d", c.Offset(), heard)
	}
	if off, err := c.Advance(room); err != nil || off != room || !c.Now().Equal(Horizon) || heard != 1 {
		t.Fatalf("Advance to the horizon: %v, %v; now %v", off, err, c.Now())
	}
	if _, err := c.Advance(time.Nanosecond); err == nil || c.Room() != 0 || !c.Now().Equal(Horizon) {
		t.Fatalf("a nanosecond past the horizon: %v; now %v", err, c.Now())
	}
}

// P15000W twice used to wrap the offset negative and run time backwards.
// Whatever is asked, the clock never moves back.
func TestOffsetNeverOverflows(t *testing.T) {
	// A base clock far in the past leaves more room before Horizon than a
	// time.Duration holds: the offset's own limit is what refuses.
	base := NewFake(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC))
	c := NewOffset(base, 0)
	start := c.Now()
	const week = 7 * 24 * time.Hour
	if _, err := c.Advance(15000 * week); err != nil {
		t.Fatal(err)
	}
	prev := c.Now()
	for _, d := range []time.Duration{15000 * week, math.MaxInt64, time.Duration(math.MaxInt64 - c.Offset() + 1)} {
		if _, err := c.Advance(d); err == nil {
			t.Fatalf("Advance(%v) from offset %v was taken", d, c.Offset())
		}
		if now := c.Now(); now.Before(prev) || now.Before(start) {
			t.Fatalf("time ran backwards: %v after %v", now, prev)
		}
	}
	if room := c.Room(); room != time.Duration(math.MaxInt64)-c.Offset() {
		t.Fatalf("Room = %v with offset %v", room, c.Offset())
	}
	if _, err := c.Advance(c.Room()); err != nil || c.Offset() != math.MaxInt64 {
		t.Fatalf("Advance to the largest offset: %v (offset %v)", err, c.Offset())
	}
}

// AdvanceTo follows an offset decided elsewhere: forward only, and a jump
// is announced like an Advance.
func TestAdvanceToOnlyMovesForward(t *testing.T) {
	base := NewFake(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	c := NewOffset(base, time.Hour)
	jumps := 0
	c.OnJump(func() { jumps++ })
	for _, step := range []struct {
		to, want time.Duration
		jumped   bool
	}{{30 * time.Minute, time.Hour, false}, {time.Hour, time.Hour, false}, {3 * time.Hour, 3 * time.Hour, true}} {
		before := jumps
		if got := c.AdvanceTo(step.to); got != step.want || c.Offset() != step.want {
			t.Fatalf("AdvanceTo(%v) = %v, offset %v; want %v", step.to, got, c.Offset(), step.want)
		}
		if (jumps > before) != step.jumped {
			t.Fatalf("AdvanceTo(%v): jumped %v", step.to, jumps > before)
		}
	}
	if want := base.Now().Add(3 * time.Hour); !c.Now().Equal(want) {
		t.Fatalf("Now %v, want %v", c.Now(), want)
	}
}

// A Stamp measures what the wall clock's monotonic reading measures, from
// either side: it is never more than a duration timed around it, never
// less than one timed within it.
func TestStampMeasuresElapsedTime(t *testing.T) {
	outer := Real{}.Now()
	s := Mono()
	inner := Real{}.Now()
	time.Sleep(5 * time.Millisecond)
	in := Since(Real{}, inner)
	got := s.Elapsed()
	out := Since(Real{}, outer)
	if got < in || got > out {
		t.Fatalf("Elapsed %v, want within [%v, %v]", got, in, out)
	}
	if a, b := Mono(), Mono(); b < a {
		t.Fatalf("the monotonic clock ran backwards: %d then %d", a, b)
	}
}

func BenchmarkStamp(b *testing.B) {
	var d time.Duration
	b.Run("Real.Now-twice", func(b *testing.B) {
		for b.Loop() {
			t0 := Real{}.Now()
			d += Real{}.Now().Sub(t0)
		}
	})
	b.Run("Mono-Elapsed", func(b *testing.B) {
		for b.Loop() {
			d += Mono().Elapsed()
		}
	})
	_ = d
}
