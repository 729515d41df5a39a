package natsstore

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/presenced/presenced/clock"
)

// slogLogger routes nats-server's logger to slog. Notices go to Debug so
// that an embedded server is quiet unless asked; warnings and errors keep
// their level. Fatal messages are logged as errors and remembered: embedded,
// the server must not exit the process, Open reports them instead.
type slogLogger struct {
	l *slog.Logger
	// hook, when set, sees every warning and error (the full-disk guard
	// watches for write errors).
	hook func(msg string)

	mu    sync.Mutex
	first error
	// A node that cannot reach a peer's route is logged at most once per
	// routeLogEvery (nats-server logs each attempt, every second, for
	// each of its pooled connections, at ERROR).
	routeLogged time.Time
	routeQuiet  int
	// dupName is the name a peer's route was refused for: another server
	// of the cluster has this node's name ("" until one was).
	dupName string
}

// dupNamePrefix starts nats-server's error for a route from a server
// that has this server's name (route.go, on the side that accepts it):
// the route is closed, but the newcomer still reaches the others and
// takes part in JetStream's elections under the other's identity.
const dupNamePrefix = "Remote server has a duplicate name: "

// duplicateName is the name another server of the cluster shares with
// this one, once a route from it was refused ("" otherwise).
func (s *slogLogger) duplicateName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dupName
}

// routeLogEvery is how often an unreachable route is logged.
const routeLogEvery = 30 * time.Second

func (s *slogLogger) Noticef(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s *slogLogger) Warnf(format string, v ...any)   { s.l.Warn(s.saw(format, v)) }

func (s *slogLogger) Errorf(format string, v ...any) {
	msg := s.saw(format, v)
	if i := strings.Index(msg, dupNamePrefix); i >= 0 {
		s.mu.Lock()
		s.dupName = strings.Trim(msg[i+len(dupNamePrefix):], `"`)
		s.mu.Unlock()
	}
	if strings.HasPrefix(msg, "Error trying to connect to route") {
		// Normal while a peer starts or restarts: a warning, now and then.
		now := clock.Real{}.Now()
		s.mu.Lock()
		if now.Sub(s.routeLogged) < routeLogEvery {
			s.routeQuiet++
			s.mu.Unlock()
			return
		}
		quiet := s.routeQuiet
		s.routeLogged, s.routeQuiet = now, 0
		s.mu.Unlock()
		s.l.Warn(msg, "similar_since_last", quiet, "logged_every", routeLogEvery)
		return
	}
	s.l.Error(msg)
}

func (s *slogLogger) saw(format string, v []any) string {
	msg := fmt.Sprintf(format, v...)
	if s.hook != nil {
		s.hook(msg)
	}
	return msg
}
func (s *slogLogger) Debugf(format string, v ...any) {}
func (s *slogLogger) Tracef(format string, v ...any) {}

func (s *slogLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	s.l.Error(msg, "fatal", true)
	s.mu.Lock()
	if s.first == nil {
		s.first = fmt.Errorf("%s", msg)
	}
	s.mu.Unlock()
}

func (s *slogLogger) fatal() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first
}
