package throttle

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"sync"
	"time"

	"github.com/presenced/presenced/clock"
)

// Smart lockout defaults, Entra ID's documented ones: 10 failed sign-ins
// lock the user for a minute, and each failure after a lock locks again,
// for longer each time.
const (
	DefaultLockoutThreshold = 10
	DefaultLockoutDuration  = time.Minute
)

// maxLock caps a lock that doubled with each repeated lockout (unless the
// configured first lock is longer), and is how long failures are
// remembered: a user with no failure and no lock for maxLock starts over.
const maxLock = time.Hour

// LockoutOptions configure a Lockout.
type LockoutOptions struct {
	// Threshold is how many failed sign-ins of a user from one source lock
	// it there (default DefaultLockoutThreshold; negative: no lockout).
	Threshold int
	// Duration is the first lock (default DefaultLockoutDuration); each
	// further lock doubles it, up to an hour.
	Duration time.Duration
	// Clock is the server's clock (default the wall clock).
	Clock clock.Clock
	// MaxEntries bounds the (user, source) pairs kept (default
	// DefaultMaxEntries).
	MaxEntries int
}

// Lockout is smart lockout as Entra ID does it: failed sign-ins are counted
// per user and per source, so an attacker at one address locks the user
// out there only, never where the user signs in from. A locked user is
// refused even with the right password. Failures with one of the last three
// wrong passwords are not counted again (Entra does the same: a client that
// keeps retrying a stale password does not lock its user out). Unknown
// user names are counted like known ones, so lockout does not tell which
// names exist. Safe for concurrent use.
type Lockout struct {
	o   LockoutOptions
	key [32]byte // keys the password hashes, which are kept only in memory
	mu  sync.Mutex
	t   *table[lockKey, lockState]
}

type lockKey struct {
	tenant, user string
	src          Source
}

type lockState struct {
	failures    int
	locks       int // how many times locked; each lock is twice the one before
	lastFailure time.Time
	lockedUntil time.Time
	recent      [3]uint64 // hashes of the last wrong passwords
	next        int       // where the next hash goes in recent
}

// NewLockout returns a Lockout; nil when the options turn it off.
func NewLockout(o LockoutOptions) *Lockout {
	if o.Threshold < 0 {
		return nil
	}
	if o.Threshold == 0 {
		o.Threshold = DefaultLockoutThreshold
	}
	if o.Duration <= 0 {
		o.Duration = DefaultLockoutDuration
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	l := &Lockout{o: o, t: newTable[lockKey, lockState](o.MaxEntries)}
	_, _ = rand.Read(l.key[:]) // crypto/rand.Read never fails (Go 1.24+)
	return l
}

func keyOf(tenant, user string, src Source) lockKey {
	return lockKey{strings.ToLower(tenant), strings.ToLower(user), src}
}

// entry returns the live state of k, nil if there is none: a user without
// a failure for maxLock after its last failure and its last lock starts
// over.
func (l *Lockout) entry(k lockKey, now time.Time) *lockState {
	s := l.t.get(k)
	if s == nil {
		return nil
	}
	quiet := s.lastFailure
	if s.lockedUntil.After(quiet) {
		quiet = s.lockedUntil
	}
	if now.Sub(quiet) >= maxLock {
		l.t.del(k)
		return nil
	}
	return s
}

// Locked reports whether user of tenant is locked for sign-ins from src,
// and until when. A nil Lockout locks nobody.
func (l *Lockout) Locked(tenant, user string, src Source) (bool, time.Time) {
	if l == nil {
		return false, time.Time{}
	}
	now := l.o.Clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.entry(keyOf(tenant, user, src), now)
	if s == nil || !now.Before(s.lockedUntil) {
		return false, time.Time{}
	}
	return true, s.lockedUntil
}

// Failed counts a failed sign-in of user from src with password (a wrong
// one, or any for a user that does not exist). It reports whether this
// failure locked the user, and until when.
func (l *Lockout) Failed(tenant, user string, src Source, password string) (bool, time.Time) {
	if l == nil {
		return false, time.Time{}
	}
	now := l.o.Clock.Now()
	h := l.hash(password)
	k := keyOf(tenant, user, src)
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.entry(k, now)
	if s == nil {
		s = &lockState{}
		l.t.add(k, s)
	}
	for _, r := range s.recent {
		if r == h {
			return false, time.Time{} // the same wrong password again
		}
	}
	s.recent[s.next] = h
	s.next = (s.next + 1) % len(s.recent)
	s.failures++
	s.lastFailure = now
	// The first lock after Threshold failures; after that, every failure
	// locks again.
	if s.locks == 0 && s.failures < l.o.Threshold {
		return false, time.Time{}
	}
	d := l.o.Duration << min(s.locks, 30)
	if limit := max(maxLock, l.o.Duration); d > limit || d <= 0 {
		d = limit
	}
	s.locks++
	s.lockedUntil = now.Add(d)
	return true, s.lockedUntil
}

// Succeeded forgets the failures of user from src: it signed in.
func (l *Lockout) Succeeded(tenant, user string, src Source) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.t.del(keyOf(tenant, user, src))
	l.mu.Unlock()
}

func (l *Lockout) hash(password string) uint64 {
	m := hmac.New(sha256.New, l.key[:])
	m.Write([]byte(password))
	return binary.BigEndian.Uint64(m.Sum(nil))
}
