package presenced_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// logTail keeps the last lines a node logs at INFO and above, shown when
// the test fails: a cluster's 500 says nothing to its client by design,
// and a test's quiet nodes would otherwise take the cause with them.
type logTail struct {
	mu    sync.Mutex
	lines []string // a ring of len tailLines
	n     int      // lines seen
}

const tailLines = 40

func tailOnFailure(t *testing.T, node int) *logTail {
	h := &logTail{lines: make([]string, tailLines)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node %d logged %d lines at INFO and above; the last of them:\n%s", node, h.n, h.String())
		}
	})
	return h
}

func (h *logTail) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h *logTail) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *logTail) WithGroup(string) slog.Handler                { return h }
func (h *logTail) Handle(_ context.Context, r slog.Record) error {
	line := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	h.mu.Lock()
	h.lines[h.n%tailLines] = line
	h.n++
	h.mu.Unlock()
	return nil
}

func (h *logTail) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for i := max(0, h.n-tailLines); i < h.n; i++ {
		b.WriteString(h.lines[i%tailLines])
		b.WriteByte('\n')
	}
	return b.String()
}
