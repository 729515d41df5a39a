package observe

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// LogSink is a buffered log destination. A busy server writes an access
// line per request, and a write system call per line was most of what the
// access log cost (measured: the write alone was a third of the GET
// handler's time, BenchmarkHTTPObserved): lines are copied into a buffer
// and written in batches — every interval, when the buffer holds
// maxLogBuffer bytes, at Close, and at once after a line at WARN or above
// (NewLogger's handler flushes), so that what precedes a failure is out
// before anything else happens. Lines keep their order. What a kill -9
// can lose is the last interval's INFO lines.
//
// The write itself happens outside the lock the lines are appended under:
// a full buffer is swapped for the spare one under mu, and written under
// wmu, which is taken before mu is let go, so that buffers go out in the
// order they were filled. A request's line then waits for a system call
// only when the buffer it would go into is full while the previous one is
// still being written (a disk slower than the lines come).
type LogSink struct {
	mu  sync.Mutex // buf
	buf []byte
	// wmu is held while w is written; taken only while holding mu (never
	// the other way round), and held until the write is done.
	wmu   sync.Mutex
	w     io.Writer
	spare []byte // under wmu: the buffer written last, emptied
	err   error  // under wmu: the last write error, reported by Flush
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// maxLogBuffer is the most a LogSink holds before it writes.
const maxLogBuffer = 64 << 10

// NewLogSink buffers writes to w, written out every interval.
func NewLogSink(w io.Writer, interval time.Duration) *LogSink {
	s := &LogSink{w: w, buf: make([]byte, 0, maxLogBuffer), spare: make([]byte, 0, maxLogBuffer),
		stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				_ = s.Flush()
			}
		}
	}()
	return s
}

// Write buffers p (one log line: slog's handlers write a record at once).
func (s *LogSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	if len(s.buf)+len(p) <= maxLogBuffer {
		s.buf = append(s.buf, p...)
		s.mu.Unlock()
		return len(p), nil
	}
	full := s.swapLocked()
	big := len(p) > maxLogBuffer
	if !big {
		s.buf = append(s.buf, p...) // after full, before anyone else's
	}
	s.mu.Unlock()
	s.writeLocked(full)
	var err error
	if big {
		_, err = s.w.Write(p)
	}
	s.wmu.Unlock()
	return len(p), err
}

// swapLocked, called with mu held, takes wmu, swaps the buffer for the
// spare and returns the full one, to be written with writeLocked (after
// mu is let go) before wmu is let go.
func (s *LogSink) swapLocked() []byte {
	s.wmu.Lock()
	full := s.buf
	s.buf, s.spare = s.spare[:0], nil
	return full
}

// writeLocked writes full (with wmu held) and keeps it as the spare.
func (s *LogSink) writeLocked(full []byte) {
	if len(full) > 0 {
		if _, err := s.w.Write(full); err != nil {
			s.err = err
		}
	}
	s.spare = full[:0]
}

// Flush writes what is buffered.
func (s *LogSink) Flush() error {
	s.mu.Lock()
	if len(s.buf) == 0 {
		// Nothing of ours to write, but a write of a buffer taken before
		// may still be running: wait for it, so that whatever Flush's
		// caller wrote before is out when it returns.
		s.wmu.Lock()
		s.mu.Unlock()
	} else {
		full := s.swapLocked()
		s.mu.Unlock()
		s.writeLocked(full)
	}
	err := s.err
	s.err = nil
	s.wmu.Unlock()
	return err
}

// Close stops the background writes and writes what is left.
func (s *LogSink) Close() error {
	s.once.Do(func() {
		close(s.stop)
		<-s.done
	})
	return s.Flush()
}

// NewLogger is the server's logger: format "text" or "json" at level,
// into sink, flushed after every line at WARN or above.
func NewLogger(format string, level slog.Leveler, sink *LogSink) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(sink, opts)
	case "json":
		h = slog.NewJSONHandler(sink, opts)
	default:
		return nil, fmt.Errorf("log format %q is neither text nor json", format)
	}
	if level == nil {
		level = slog.LevelInfo // the handlers' default
	}
	return slog.New(flushing{h, sink, format, level}), nil
}

// flushing flushes its sink after a record at WARN or above.
type flushing struct {
	slog.Handler
	sink *LogSink
	// format is the handler's ("json", "text"), for the access line's
	// fast path; "" once attributes or groups were added, which the fast
	// path would leave out.
	format string
	// level is the handler's HandlerOptions.Level (never nil), for the
	// access line's Enabled without the handler's interface calls: a
	// Leveler that changes (a LevelVar) is read again for every line.
	level slog.Leveler
}

func (f flushing) Handle(ctx context.Context, r slog.Record) error {
	err := f.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		_ = f.sink.Flush()
	}
	return err
}

func (f flushing) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushing{f.Handler.WithAttrs(attrs), f.sink, "", f.level}
}

func (f flushing) WithGroup(name string) slog.Handler {
	return flushing{f.Handler.WithGroup(name), f.sink, "", f.level}
}
