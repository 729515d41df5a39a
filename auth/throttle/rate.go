package throttle

import (
	"math"
	"sync"
	"time"

	"github.com/presenced/presenced/clock"
)

// Rate defaults: generous enough for a CI suite that fetches a token per
// test from one address, far too slow for guessing.
const (
	DefaultRate  = 20  // requests per second per source
	DefaultBurst = 200 // requests a source may send at once
)

// DefaultMaxEntries bounds the sources a Rate, and the (user, source) pairs
// a Lockout, keep at once (about 100 bytes each).
const DefaultMaxEntries = 1 << 16

// RateOptions configure a Rate.
type RateOptions struct {
	// PerSecond is the sustained rate per source (default DefaultRate;
	// negative: no limit).
	PerSecond float64
	// Burst is how many requests a source may send at once (default
	// DefaultBurst).
	Burst int
	// Clock is the server's clock (default the wall clock).
	Clock clock.Clock
	// MaxEntries bounds the sources kept (default DefaultMaxEntries). A
	// source forgotten starts again with a full burst.
	MaxEntries int
}

// Rate is a token bucket per source. Safe for concurrent use.
type Rate struct {
	o  RateOptions
	mu sync.Mutex
	t  *table[Source, bucket]
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

// NewRate returns a Rate; nil when the options turn it off.
func NewRate(o RateOptions) *Rate {
	if o.PerSecond < 0 {
		return nil
	}
	if o.PerSecond == 0 {
		o.PerSecond = DefaultRate
	}
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	return &Rate{o: o, t: newTable[Source, bucket](o.MaxEntries)}
}

// PerSecond and Burst are the limits in force (for messages and docs).
func (r *Rate) PerSecond() float64 { return r.o.PerSecond }

// Burst is how many requests a source may send at once.
func (r *Rate) Burst() int { return r.o.Burst }

// Allow takes one request from src's bucket. When the bucket is empty it
// returns false and how long until the next request is allowed. A nil Rate
// allows everything.
func (r *Rate) Allow(src Source) (bool, time.Duration) {
	if r == nil {
		return true, 0
	}
	now := r.o.Clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.t.get(src)
	if b == nil {
		b = &bucket{tokens: float64(r.o.Burst), at: now}
		r.t.add(src, b)
	}
	if d := now.Sub(b.at); d > 0 { // a clock set back refills nothing
		b.tokens = math.Min(float64(r.o.Burst), b.tokens+d.Seconds()*r.o.PerSecond)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration(math.Ceil((1 - b.tokens) / r.o.PerSecond * float64(time.Second)))
	return false, wait
}
