package graphapi

import (
	"time"

	"github.com/presenced/presenced/clock"
)

// deadline gives the stream's next write (an event or a heartbeat)
// StreamWriteTimeout of its own: the server's WriteTimeout bounds a whole
// response and would end every stream, while a stream must end only when
// its client stops reading. A write that times out fails the connection,
// which ends the stream. Network deadlines are wall-clock instants,
// whatever the server's (movable) clock says.
//
// The deadline is moved only once less than half of the timeout is left,
// so a write may take between half the timeout and all of it. Measured at
// 10,000 streams, setting it before every event was a tenth of the
// server's CPU per event beside the write itself (docs/performance.md);
// a client that stops reading is still cut off within the timeout.
func (s *sseWriter) deadline() {
	if s.timeout <= 0 {
		if !s.unbounded {
			s.unbounded = true
			_ = s.rc.SetWriteDeadline(time.Time{}) // not supported (a test's recorder): no bound
		}
		return
	}
	now := clock.Real{}.Now()
	if s.until.Sub(now) >= s.timeout/2 {
		return
	}
	s.until = now.Add(s.timeout)
	_ = s.rc.SetWriteDeadline(s.until)
}
