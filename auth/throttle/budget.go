package throttle

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/clock"
)

// Graph's documented presence budget: 1,500 requests per 30 seconds per
// application per tenant (graph-presence.md §7.1).
const (
	DefaultBudgetRequests = 1500
	DefaultBudgetWindow   = 30 * time.Second
)

// BudgetOptions configure a Budget.
type BudgetOptions struct {
	// Requests is how many requests a key may make per Window (default
	// DefaultBudgetRequests; negative: no budget).
	Requests int
	// Window is the period Requests refill over (default
	// DefaultBudgetWindow).
	Window time.Duration
	// Clock is the server's clock (default the wall clock).
	Clock clock.Clock
}

// BudgetKey is what a budget is kept for: an application in a tenant.
type BudgetKey struct {
	TenantID, AppID string
}

// Budget is a request budget per key, Graph's throttling: Requests at
// once, refilled continuously at Requests per Window. It is the generic
// cell-rate algorithm: per key one number, the theoretical arrival time of
// the next request (TAT); a request is allowed when, after adding one
// interval (Window/Requests) to max(TAT, now), the TAT is at most one
// Window ahead of now.
//
// Safe for concurrent use, and cheap on the request path: the key's entry
// is found under a read lock of one of 64 shards, and updated with a
// compare-and-swap. Requests of different applications share no lock that
// every request takes.
type Budget struct {
	o        BudgetOptions
	interval int64 // nanoseconds one request costs
	window   int64
	seed     maphash.Seed
	shards   [budgetShards]budgetShard
}

const budgetShards = 64

// sweepAt is the size of a shard at which adding a key first drops the
// keys that are idle (their TAT has passed: a fresh entry is the same).
const sweepAt = 256

type budgetShard struct {
	// m finds an entry by its key's hash: a uint64 key hashes and compares
	// in a few nanoseconds, two strings take several times that. The map
	// is never changed once published: a new key copies it (keys are the
	// applications in use, added rarely), so a lookup is an atomic load and
	// a map read, with no lock for readers to contend on. A different key
	// with the same 64-bit hash (never seen in practice) goes to other.
	m     atomic.Pointer[map[uint64]*budgetEntry]
	mu    sync.Mutex // serialises writers of m and other
	other map[BudgetKey]*budgetEntry
	_     [40]byte // keep shards on separate cache lines
}

// budgetEntry is one key's theoretical arrival time, in nanoseconds.
type budgetEntry struct {
	key BudgetKey
	tat atomic.Int64
}

// NewBudget returns a Budget; nil when the options turn it off.
func NewBudget(o BudgetOptions) *Budget {
	if o.Requests < 0 {
		return nil
	}
	if o.Requests == 0 {
		o.Requests = DefaultBudgetRequests
	}
	if o.Window <= 0 {
		o.Window = DefaultBudgetWindow
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	b := &Budget{o: o, window: int64(o.Window), seed: maphash.MakeSeed()}
	b.interval = max(int64(o.Window)/int64(o.Requests), 1)
	for i := range b.shards {
		m := make(map[uint64]*budgetEntry)
		b.shards[i].m.Store(&m)
		b.shards[i].other = make(map[BudgetKey]*budgetEntry)
	}
	return b
}

// Requests and Window are the budget in force (for messages and docs).
func (b *Budget) Requests() int { return b.o.Requests }

// Window is the period the budget refills over.
func (b *Budget) Window() time.Duration { return b.o.Window }

// Allow takes one request from k's budget. When it is spent, it returns
// false and how long until the next request fits. A nil Budget allows
// everything.
func (b *Budget) Allow(k BudgetKey) (bool, time.Duration) {
	if b == nil {
		return true, 0
	}
	return b.AllowAt(k, b.o.Clock.Now())
}

// AllowAt is Allow at the instant at, read from the same clock by the
// caller (the request path reads it once for the token and the budget: on
// some machines a clock read costs as much as the rest of Allow).
func (b *Budget) AllowAt(k BudgetKey, at time.Time) (bool, time.Duration) {
	if b == nil {
		return true, 0
	}
	now := at.UnixNano()
	tat := &b.entry(k, now).tat
	for {
		old := tat.Load()
		next := max(old, now) + b.interval
		if next-now > b.window {
			return false, time.Duration(next - b.window - now)
		}
		if tat.CompareAndSwap(old, next) {
			return true, 0
		}
	}
}

// entry finds or adds k's entry.
func (b *Budget) entry(k BudgetKey, now int64) *budgetEntry {
	h := maphash.String(b.seed, k.TenantID)*31 ^ maphash.String(b.seed, k.AppID)
	s := &b.shards[h%budgetShards]
	if e := (*s.m.Load())[h]; e != nil && e.key == k {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := *s.m.Load()
	switch e := m[h]; {
	case e != nil && e.key == k:
		return e
	case e != nil:
		if e := s.other[k]; e != nil {
			return e
		}
		e = &budgetEntry{key: k}
		s.other[k] = e
		return e
	}
	next := make(map[uint64]*budgetEntry, len(m)+1)
	for h, e := range m {
		// Entries whose TAT has passed are as good as new: a shard that
		// grew drops them as it copies.
		if len(m) < sweepAt || e.tat.Load() > now {
			next[h] = e
		}
	}
	if len(m) >= sweepAt {
		for k, e := range s.other {
			if e.tat.Load() <= now {
				delete(s.other, k)
			}
		}
	}
	e := &budgetEntry{key: k}
	next[h] = e
	s.m.Store(&next)
	return e
}

// RetryAfterSeconds is d rounded up to whole seconds, at least 1: the
// value of a Retry-After header.
func RetryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
