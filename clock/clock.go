// Package clock is the one source of time for presenced. Every time rule
// (fade, expiry, status-message expiry, token lifetimes, dev-mode time
// travel) reads "now" through a Clock, so tests and dev mode can move time
// without sleeping. No other package calls time.Now.
package clock

import (
	"sync"
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

// Offset is a clock that runs with a base clock but can be moved forward.
// It backs dev mode: the server's time is wall-clock time plus an offset that
// only ever grows, so "10 idle minutes later" takes one request. The offset is
// a plain duration so that it can be persisted and restored across restarts.
type Offset struct {
	base Clock
	mu   sync.RWMutex
	off  time.Duration
	subs []func(time.Duration)
}

// NewOffset returns a clock that reads base plus off.
func NewOffset(base Clock, off time.Duration) *Offset {
	if base == nil {
		base = Real{}
	}
	c := &Offset{base: base, off: off}
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
	c.mu.RLock()
	off := c.off
	c.mu.RUnlock()
	return c.base.Now().Add(off)
}

// Offset returns how far the clock has been moved forward in total.
func (c *Offset) Offset() time.Duration {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.off
}

// Advance moves the clock forward by d (d must not be negative: time never
// runs backwards, or stored facts would sit in the future) and returns the
// new total offset. Functions registered with OnAdvance are called with it.
func (c *Offset) Advance(d time.Duration) time.Duration {
	if d <= 0 {
		return c.Offset()
	}
	c.mu.Lock()
	c.off += d
	off := c.off
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
type Fake struct {
	mu   sync.Mutex
	now  time.Time
	subs []func()
}

// NewFake returns a clock stopped at t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now returns the fake's current instant.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Add moves the fake forward by d.
func (f *Fake) Add(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	subs := append([]func(){}, f.subs...)
	f.mu.Unlock()
	for _, s := range subs {
		s()
	}
}

// Set moves the fake to t.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	f.now = t
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
