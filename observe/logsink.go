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
type LogSink struct {
	mu   sync.Mutex
	w    io.Writer
	buf  []byte
	err  error // the last write error, reported by Flush
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// maxLogBuffer is the most a LogSink holds before it writes.
const maxLogBuffer = 64 << 10

// NewLogSink buffers writes to w, written out every interval.
func NewLogSink(w io.Writer, interval time.Duration) *LogSink {
	s := &LogSink{w: w, buf: make([]byte, 0, maxLogBuffer), stop: make(chan struct{}), done: make(chan struct{})}
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
	defer s.mu.Unlock()
	if len(s.buf)+len(p) > maxLogBuffer {
		s.flushLocked()
	}
	if len(p) > maxLogBuffer {
		_, err := s.w.Write(p)
		return len(p), err
	}
	s.buf = append(s.buf, p...)
	return len(p), nil
}

// Flush writes what is buffered.
func (s *LogSink) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
	err := s.err
	s.err = nil
	return err
}

func (s *LogSink) flushLocked() {
	if len(s.buf) == 0 {
		return
	}
	if _, err := s.w.Write(s.buf); err != nil {
		s.err = err
	}
	s.buf = s.buf[:0]
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
	return slog.New(flushing{h, sink, format}), nil
}

// flushing flushes its sink after a record at WARN or above.
type flushing struct {
	slog.Handler
	sink *LogSink
	// format is the handler's ("json", "text"), for the access line's
	// fast path; "" once attributes or groups were added, which the fast
	// path would leave out.
	format string
}

func (f flushing) Handle(ctx context.Context, r slog.Record) error {
	err := f.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		_ = f.sink.Flush()
	}
	return err
}

func (f flushing) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushing{f.Handler.WithAttrs(attrs), f.sink, ""}
}

func (f flushing) WithGroup(name string) slog.Handler {
	return flushing{f.Handler.WithGroup(name), f.sink, ""}
}
