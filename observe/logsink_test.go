package observe_test

import (
	"strconv"
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

// gateWriter blocks its first Write until release is closed.
type gateWriter struct {
	syncBuffer
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *gateWriter) Write(p []byte) (int, error) {
	g.once.Do(func() {
		close(g.entered)
		<-g.release
	})
	return g.syncBuffer.Write(p)
}

// A full buffer is written outside the lock lines are added under: while
// its write is under way (a slow disk, a pipe nobody reads for a moment),
// other lines are still taken at once; they come out after it, in order,
// and a Flush returns only once everything before it is out. Before, the
// write held the sink's one lock, and every line waited behind it.
func TestLogSinkLinesDoNotWaitForAWrite(t *testing.T) {
	g := &gateWriter{entered: make(chan struct{}), release: make(chan struct{})}
	sink := observe.NewLogSink(g, time.Hour)
	defer sink.Close()
	line := []byte(strings.Repeat("a", 1023) + "\n")
	filled := make(chan struct{})
	go func() {
		defer close(filled)
		for i := 0; i < 65; i++ { // 64 KB and one more line: the 65th swaps and writes
			_, _ = sink.Write(line)
		}
	}()
	<-g.entered // the first 64 lines' write has started, and waits
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		_, _ = sink.Write([]byte("b\n"))
	}()
	select {
	case <-wrote:
	case <-time.After(5 * time.Second):
		close(g.release)
		t.Fatal("a line waited for the write of the buffer before it")
	}
	flushed := make(chan error)
	go func() { flushed <- sink.Flush() }()
	select {
	case <-flushed:
		t.Fatal("Flush returned while an earlier buffer's write was still under way")
	case <-time.After(50 * time.Millisecond):
	}
	close(g.release)
	<-filled
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	want := strings.Repeat(string(line), 65) + "b\n"
	if got := g.String(); got != want {
		t.Fatalf("%d bytes out, want %d in order (first difference at %d)", len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// Lines written from many goroutines at once through swaps of the buffer
// all come out, each goroutine's in its order.
func TestLogSinkKeepsOrderAcrossSwaps(t *testing.T) {
	var out syncBuffer
	sink := observe.NewLogSink(&out, time.Millisecond)
	const writers, lines = 8, 3000 // ~2 MB: some 30 swaps
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				_, _ = sink.Write([]byte(strings.Repeat("x", 64) + " " + strconv.Itoa(w) + " " + strconv.Itoa(i) + "\n"))
			}
		}()
	}
	wg.Wait()
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	next := make([]int, writers)
	for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		f := strings.Fields(l)
		w, _ := strconv.Atoi(f[1])
		i, _ := strconv.Atoi(f[2])
		if i != next[w] {
			t.Fatalf("writer %d: line %d where %d was due", w, i, next[w])
		}
		next[w]++
	}
	for w, n := range next {
		if n != lines {
			t.Fatalf("writer %d: %d lines of %d", w, n, lines)
		}
	}
}
