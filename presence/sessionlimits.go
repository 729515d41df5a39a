package presence

import (
	"fmt"
	"strings"
)

// Caps on a user's live sessions. Teams users have a handful of devices;
// sixteen sessions of one application per user is room for every device
// and then some, and four applications can fill a user together. No single
// application can: whatever one writes, another still finds room.
const (
	// DefaultSessionsPerApp is SessionLimits.PerApp when zero.
	DefaultSessionsPerApp = 16
	// DefaultSessionsPerUser is SessionLimits.PerUser when zero.
	DefaultSessionsPerUser = 64
	// MaxSessionLimit is the largest either cap may be set to. A user's
	// stored record then stays far below what the engine takes in one
	// message (1 MiB): core's TestWorstCaseRecordFitsTheEngine writes it.
	MaxSessionLimit = 1024
)

// SessionLimits caps the live sessions of one user: PerApp those of one
// application (the sessions whose id is its client id, or starts with it
// and ':'), PerUser those of all applications together. A zero field is
// the default. Expired sessions never count. Refreshing a session that
// exists is always allowed: only a new session can be over a cap.
type SessionLimits struct {
	PerApp, PerUser int
}

// Validate reports a cap that is negative or above MaxSessionLimit.
func (l SessionLimits) Validate() error {
	for _, c := range []struct {
		name string
		n    int
	}{{"sessions per application per user", l.PerApp}, {"sessions per user", l.PerUser}} {
		if c.n < 0 || c.n > MaxSessionLimit {
			return fmt.Errorf("%s is %d; it must be between 1 and %d (0 is the default)", c.name, c.n, MaxSessionLimit)
		}
	}
	return nil
}

// orDefaults is l with its zero fields set to the defaults.
func (l SessionLimits) orDefaults() SessionLimits {
	if l.PerApp <= 0 {
		l.PerApp = DefaultSessionsPerApp
	}
	if l.PerUser <= 0 {
		l.PerUser = DefaultSessionsPerUser
	}
	return l
}

// sessionApp is the client id a session id starts with.
func sessionApp(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		return id[:i]
	}
	return id
}

// admit reports a Conflict if the live sessions ss (expired ones already
// dropped) leave no room for a new session id under l. The cap of the
// caller's own application is checked first: it is the one the caller can
// act on.
func (l SessionLimits) admit(ss []Session, id string) error {
	l = l.orDefaults()
	app := sessionApp(id)
	own := 0
	for _, s := range ss {
		if strings.EqualFold(sessionApp(s.ID), app) {
			own++
		}
	}
	const act = "Refresh one of them, clear one with clearPresence, or let one expire (a session lives for its expirationDuration)."
	if own >= l.PerApp {
		return Errorf(Conflict, "sessionId",
			"The user already has %d live presence sessions of application %s; %d is the limit per application per user. %s", own, app, l.PerApp, act)
	}
	if len(ss) >= l.PerUser {
		return Errorf(Conflict, "sessionId",
			"The user already has %d live presence sessions; %d is the limit per user, for all applications together. %s", len(ss), l.PerUser, act)
	}
	return nil
}
