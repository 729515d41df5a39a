package natsstore

import (
	"fmt"
	"log/slog"
	"sync"
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
}

func (s *slogLogger) Noticef(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s *slogLogger) Warnf(format string, v ...any)   { s.l.Warn(s.saw(format, v)) }
func (s *slogLogger) Errorf(format string, v ...any)  { s.l.Error(s.saw(format, v)) }

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
