package observe_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"log/slog"

	"github.com/presenced/presenced/observe"
)

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// INFO lines wait in the sink for its interval; a WARN line goes out at
// once, with every line before it, in order; Close writes what is left.
func TestLogSinkWritesWarningsAtOnceAndInOrder(t *testing.T) {
	var out syncBuffer
	sink := observe.NewLogSink(&out, time.Hour)
	log, err := observe.NewLogger("text", slog.LevelInfo, sink)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("first")
	if out.String() != "" {
		t.Fatalf("an INFO line was written at once: %q", out.String())
	}
	log.With("k", "v").Warn("second")
	got := out.String()
	if i, j := strings.Index(got, "msg=first"), strings.Index(got, "msg=second k=v"); i < 0 || j < i {
		t.Fatalf("after a WARN line: %q", got)
	}
	log.Info("third")
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "msg=third") {
		t.Fatalf("Close did not write the rest: %q", out.String())
	}
	if _, err := observe.NewLogger("yaml", slog.LevelInfo, sink); err == nil {
		t.Fatal("a yaml logger")
	}
}

// Lines are written by the interval without a flush.
func TestLogSinkWritesOnItsInterval(t *testing.T) {
	var out syncBuffer
	sink := observe.NewLogSink(&out, 10*time.Millisecond)
	defer sink.Close()
	log, _ := observe.NewLogger("json", slog.LevelInfo, sink)
	log.Info("hello")
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), `"msg":"hello"`); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not written within 5 s")
		}
	}
}
