package presenced_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/clock"
)

// levelLog keeps what a server logs, each line "LEVEL message key=value…".
type levelLog struct {
	mu    sync.Mutex
	lines []string
}

func (h *levelLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *levelLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *levelLog) WithGroup(string) slog.Handler            { return h }
func (h *levelLog) Handle(_ context.Context, r slog.Record) error {
	line := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	h.mu.Lock()
	h.lines = append(h.lines, line)
	h.mu.Unlock()
	return nil
}

// at returns the lines logged at level that contain every one of words.
func (h *levelLog) at(level slog.Level, words ...string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
next:
	for _, l := range h.lines {
		if !strings.HasPrefix(l, level.String()+" ") {
			continue
		}
		for _, w := range words {
			if !strings.Contains(l, w) {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

// A deleted signing key is replaced by a new one with a warning that says
// what it means: the tokens in use are void. A first start and an ordinary
// restart say nothing about the key; a corrupt key file still stops the
// start.
func TestDeletedSigningKeyIsReplacedWithAWarning(t *testing.T) {
	rec := &levelLog{}
	e := &env{t: t, fake: clock.NewFake(t0), dir: t.TempDir(), addr: "127.0.0.1:0", log: slog.New(rec)}
	e.boot()
	if w := rec.at(slog.LevelWarn, "signing key"); len(w) > 0 {
		t.Fatalf("first start warned: %q", w)
	}
	oldKid := e.srv.Issuer().KeyID()
	tok := e.appToken()
	e.restart()
	if w := rec.at(slog.LevelWarn, "signing key"); len(w) > 0 {
		t.Fatalf("restart with the same key warned: %q", w)
	}

	e.stop()
	if err := os.Remove(filepath.Join(e.dir, "issuer-key.pem")); err != nil {
		t.Fatal(err)
	}
	e.boot()
	newKid := e.srv.Issuer().KeyID()
	w := rec.at(slog.LevelWarn, "new key was generated", "every token issued before", "kid="+newKid, "previous_kid="+oldKid)
	if len(w) != 1 {
		t.Fatalf("after deleting the key, warnings %q; all lines %q", w, rec.lines)
	}
	// What the warning says is so: the old token is refused.
	if r := e.call("GET", "/v1.0/users/"+e.user("adele")+"/presence", tok, nil); r.status != 401 {
		t.Fatalf("token of the deleted key: %d, want 401", r.status)
	}
	e.restart()
	if w := rec.at(slog.LevelWarn, "signing key"); len(w) != 1 {
		t.Fatalf("the next restart warned again: %q", w)
	}

	e.stop()
	if err := os.WriteFile(filepath.Join(e.dir, "issuer-key.pem"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := presenced.New(presenced.Config{Addr: "127.0.0.1:0", DataDir: e.dir, Dev: true, Clock: e.fake, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "is not a PEM file") {
		srv.Shutdown(context.Background())
		t.Fatalf("corrupt key: Start returned %v, want the key refused", err)
	}
}
