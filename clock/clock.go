// Package clock is the one source of time for presenced. Every time rule
// (fade, expiry, status-message expiry, token lifetimes, dev-mode time
// travel) reads "now" through a Clock, so tests and dev mode can move time
// without sleeping. No other package calls time.Now.
package clock

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Clock tells the current instant.
type Clock interface {
	Now() time.Time
}

// Jumper is a clock that can jump forward (dev mode's clock, a test's
// fake). Timers that wait for an instant on such a clock must re-check it
// when it jumps: OnJump registers a function called after every jump.
type Jumper interface {
	OnJump(func())
}

// Real is the wall clock.
type Real struct{}

// Now returns the wall-clock time.
func (Real) Now() time.Time { return time.Now() }

// Since is time.Since measured on c.
func Since(c Clock, t time.Time) time.Duration { return c.Now().Sub(t) }

// Stamp is a reading of the machine's monotonic clock alone, for timing
// how long something takes (a request's latency, an engine call's): one
// read of the system's clock where Real.Now makes two, the wall time and
// the monotonic (~25 against ~43 ns, BenchmarkStamp). A Stamp is no
// instant: it is only subtracted from another (Elapsed), so a server's
// moved clock and a step of the wall clock do not change what it measures.
type Stamp int64

// monoBase is what Stamps count from (its monotonic reading).
var monoBase = time.Now()

// Mono reads the monotonic clock.
func Mono() Stamp { return Stamp(time.Since(monoBase)) }

// Elapsed is how long ago s was read.
func (s Stamp) Elapsed() time.Duration { return time.Duration(Mono() - s) }

// Offset is a clock that runs with a base clock but can be moved forward.
// It backs dev mode: the server's time is wall-clock time plus an offset that
// only ever grows, so "10 idle minutes later" takes one request. The offset is
// a plain duration so that it can be persisted and restored across restarts.
//
// Now is read on every request, several times: it reads the offset with
// one atomic load instead of a lock shared by all cores (a read lock's
// counter is one cache line every reader writes). Moves still take mu, so
// that a check against Room and the move it allows are one step.
type Offset struct {
	base Clock
	mu   sync.RWMutex
	off  atomic.Int64 // a time.Duration; written under mu
	subs []func(time.Duration)
}

// NewOffset returns a clock that reads base plus off.
func NewOffset(base Clock, off time.Duration) *Offset {
	if base == nil {
		base = Real{}
	}
	c := &Offset{base: base}
	c.off.Store(int64(off))
	if j, ok := base.(Jumper); ok {
		j.OnJump(func() { c.notify(c.Offset()) })
	}
	return c
}

// OnJump registers f to be called after every jump of the clock: an
// Advance, or a jump of the base clock.
func (c *Offset) OnJump(f func()) { c.OnAdvance(func(time.Duration) { f() }) }

func (c *Offset) notify(off time.Duration) {
	c.mu.RLock()
	subs := append([]func(time.Duration){}, c.subs...)
	c.mu.RUnlock()
	for _, f := range subs {
		f(off)
	}
}

// Now returns base time plus the offset.
func (c *Offset) Now() time.Time {
	return c.base.Now().Add(time.Duration(c.off.Load()))
}

// Offset returns how far the clock has been moved forward in total.
func (c *Offset) Offset() time.Duration {
	return time.Duration(c.off.Load())
}

// Horizon is the latest instant an Offset clock may be moved to. Past
// 2262-04-11T23:47:16Z nanoseconds since 1970 no longer fit in 64 bits:
// time.Time.UnixNano wraps, and with it every sequenceNumber and every
// comparison made in Unix nanoseconds, so time would seem to run
// backwards. The horizon stays a hundred days short of that, for the base
// clock to run on after a move to the horizon. (Year 9999, the end of
// Graph's DateTimeOffset, lies beyond it.)
var Horizon = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)

// TooFarError is the refusal of a move that would take an Offset clock
// past Horizon, or its offset past what a time.Duration holds (which would
// wrap it negative and run time backwards).
type TooFarError struct {
	By   time.Duration // the move asked for
	Now  time.Time     // the clock's time when the move was refused
	Room time.Duration // the furthest the clock may still move forward
}

func (e *TooFarError) Error() string {
	return fmt.Sprintf("clock: moving forward by %v from %s would pass %s; at most %v more is possible",
		e.By, e.Now.UTC().Format(time.RFC3339Nano), Horizon.Format(time.RFC3339), e.Room)
}

// Room is how far the clock may still move forward: up to Horizon, and
// never so far that the offset overflows.
func (c *Offset) Room() time.Duration {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, room := c.roomLocked()
	return room
}

func (c *Offset) roomLocked() (now time.Time, room time.Duration) {
	off := time.Duration(c.off.Load())
	now = c.base.Now().Add(off)
	room = max(Horizon.Sub(now), 0) // Sub saturates: no overflow here
	return now, min(room, math.MaxInt64-off)
}

// Check reports a *TooFarError if moving forward by d now would pass Room.
func (c *Offset) Check(d time.Duration) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.checkLocked(d)
}

func (c *Offset) checkLocked(d time.Duration) error {
	if now, room := c.roomLocked(); d > room {
		return &TooFarError{By: d, Now: now, Room: room}
	}
	return nil
}

// Advance moves the clock forward by d and returns the new total offset.
// Functions registered with OnAdvance are called with it. A negative d is
// ignored: time never runs backwards, or stored facts would sit in the
// future. A d larger than Room is refused with a *TooFarError, and the
// clock does not move.
func (c *Offset) Advance(d time.Duration) (time.Duration, error) {
	if d <= 0 {
		return c.Offset(), nil
	}
	c.mu.Lock()
	if err := c.checkLocked(d); err != nil {
		c.mu.Unlock()
		return time.Duration(c.off.Load()), err
	}
	off := time.Duration(c.off.Load()) + d
	c.off.Store(int64(off))
	c.mu.Unlock()
	c.notify(off)
	return off, nil
}

// AdvanceTo moves the clock forward to a total offset of off, if that is
// ahead of its offset now, and returns the offset it then has. It follows
// an offset decided elsewhere (another node of a cluster moved the shared
// dev clock, which checked the move against Room): it does not check
// Room. Functions registered with OnAdvance are called when it moved.
func (c *Offset) AdvanceTo(off time.Duration) time.Duration {
	c.mu.Lock()
	if cur := time.Duration(c.off.Load()); off <= cur {
		c.mu.Unlock()
		return cur
	}
	c.off.Store(int64(off))
	c.mu.Unlock()
	c.notify(off)
	return off
}

// OnAdvance registers f to be called after every Advance with the new total
// offset (to persist it, or to wake timers that must fire earlier).
func (c *Offset) OnAdvance(f func(total time.Duration)) {
	c.mu.Lock()
	c.subs = append(c.subs, f)
	c.mu.Unlock()
}

// Fake is a manually driven clock for tests. Its zero value is not usable;
// build it with NewFake.
//
// Now loads the instant atomically: the servers of the HTTP benchmarks run
// on a Fake, and a mutex taken by every read of every request would be a
// cost of the benchmark that the wall clock does not have.
type Fake struct {
	mu   sync.Mutex // serialises moves and guards subs
	now  atomic.Pointer[time.Time]
	subs []func()
}

// NewFake returns a clock stopped at t.
func NewFake(t time.Time) *Fake {
	f := &Fake{}
	f.now.Store(&t)
	return f
}

// Now returns the fake's current instant.
func (f *Fake) Now() time.Time { return *f.now.Load() }

// Add moves the fake forward by d.
func (f *Fake) Add(d time.Duration) {
	f.mu.Lock()
	t := f.now.Load().Add(d)
	f.now.Store(&t)
	subs := append([]func(){}, f.subs...)
	f.mu.Unlock()
	for _, s := range subs {
		s()
	}
}

// Set moves the fake to t.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	f.now.Store(&t)
	subs := append([]func(){}, f.subs...)
	f.mu.Unlock()
	for _, s := range subs {
		s()
	}
}

// OnJump registers s to be called after every Add and Set.
func (f *Fake) OnJump(s func()) {
	f.mu.Lock()
	f.subs = append(f.subs, s)
	f.mu.Unlock()
}

// Sleep waits d of real elapsed time, or less if ctx ends first, and
// reports whether d passed. It is the one pause for retries and back-offs
// (engine, deliveries, load tool): those wait on the machine's time, never
// the dev clock's, whose jumps must not cut a back-off short.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
