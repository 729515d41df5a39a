package graphapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
)

// deadlineRecorder records the write deadlines a stream sets.
type deadlineRecorder struct {
	*httptest.ResponseRecorder
	set []time.Time
}

func (d *deadlineRecorder) SetWriteDeadline(t time.Time) error {
	d.set = append(d.set, t)
	return nil
}

// A stream's write deadline is moved only once less than half of the write
// timeout is left, so every write has at least half of it; without a
// timeout it is cleared once.
func TestStreamWriteDeadline(t *testing.T) {
	const timeout = 10 * time.Second
	for _, c := range []struct {
		name    string
		timeout time.Duration
		left    time.Duration // of the deadline set before (0: none set)
		moved   bool
	}{
		{"first write", timeout, 0, true},
		{"most of it left", timeout, 9 * time.Second, false},
		{"just over half left", timeout, 5*time.Second + 500*time.Millisecond, false},
		{"under half left", timeout, 4 * time.Second, true},
		{"passed", timeout, -time.Second, true},
		{"no timeout", 0, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
			s := &sseWriter{w: rec, rc: http.NewResponseController(rec), timeout: c.timeout}
			now := clock.Real{}.Now()
			if c.left != 0 {
				s.until = now.Add(c.left)
			}
			s.deadline()
			if moved := len(rec.set) == 1; moved != c.moved {
				t.Fatalf("deadline set %d times, want moved=%v", len(rec.set), c.moved)
			}
			if c.moved && c.timeout > 0 && rec.set[0].Sub(now) < c.timeout {
				t.Fatalf("deadline %v from now, want at least %v", rec.set[0].Sub(now), c.timeout)
			}
			if c.moved && c.timeout <= 0 && !rec.set[0].IsZero() {
				t.Fatalf("deadline %v without a timeout, want none", rec.set[0])
			}
			s.deadline() // at once again: nothing to move
			if len(rec.set) > 1 {
				t.Fatalf("deadline set again at once: %v", rec.set)
			}
		})
	}
}
