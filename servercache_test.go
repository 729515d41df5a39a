package presenced_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/directory"
)

// waitLog waits up to 30 s for a log line starting with prefix.
func waitLog(t *testing.T, rec *recordLog, prefix string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if line, ok := rec.find(prefix); ok {
			return line
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q logged in 30 s: %q", prefix, rec.recs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startWarmed starts a server and waits until its cache is warmed: only a
// complete cache is saved.
func startWarmed(t *testing.T, cfg func(*presenced.Config)) *env {
	t.Helper()
	rec := &recordLog{}
	e := &env{t: t, fake: clock.NewFake(t0), dir: t.TempDir(), addr: "127.0.0.1:0", log: slog.New(rec), cfg: cfg}
	e.boot()
	waitLog(t, rec, "cache warmed")
	return e
}

// presences is what GET .../presence answers for each demo user.
func presences(e *env, tok string) map[string]string {
	out := map[string]string{}
	for _, name := range []string{"adele", "alex", "megan", "lynne", "diego"} {
		r := e.get(tok, e.user(name))
		out[name] = pair(r) + " " + r.str("sequenceNumber")
	}
	return out
}

// A graceful stop saves the cache; the next start loads it and serves from
// it at once: no warm-up, every written user the same.
func TestRestartLoadsTheSavedCache(t *testing.T) {
	e := startWarmed(t, func(c *presenced.Config) { presenced.DelayCacheCheck(c, time.Hour) })
	tok := e.appToken()
	for _, name := range []string{"adele", "alex", "megan"} {
		e.must("POST", "/v1.0/users/"+e.user(name)+"/presence/setPresence", tok, setBody("Busy", "InACall", "PT1H"))
	}
	before := presences(e, tok)
	rec := &recordLog{}
	e.log = slog.New(rec)
	e.restart()
	if line := waitLog(t, rec, "saved cache loaded"); !strings.Contains(line, "users=") {
		t.Fatalf("%q", line)
	}
	waitLog(t, rec, "saved cache up to date with the engine")
	if _, ok := rec.find("cache warmed"); ok {
		t.Fatal("warmed the cache though it was loaded")
	}
	if after := presences(e, tok); !equalMaps(before, after) {
		t.Fatalf("before the restart %v, after %v", before, after)
	}
}

// The saved cache is read and loaded while the engine recovers, not after
// it: here the engine's opening waits (up to 20 s) until the start says the
// cache is loaded, which it does, and the cache is then adopted and
// serves every user as before the restart.
func TestSavedCacheLoadsWhileTheEngineRecovers(t *testing.T) {
	e := startWarmed(t, func(c *presenced.Config) { presenced.DelayCacheCheck(c, time.Hour) })
	tok := e.appToken()
	for _, name := range []string{"adele", "alex", "megan"} {
		e.must("POST", "/v1.0/users/"+e.user(name)+"/presence/setPresence", tok, setBody("Busy", "InACall", "PT1H"))
	}
	before := presences(e, tok)
	rec := &recordLog{}
	e.log = slog.New(rec)
	var sawLoad atomic.Bool
	e.cfg = func(c *presenced.Config) {
		presenced.DelayCacheCheck(c, time.Hour)
		presenced.SlowEngineStart(c, func(ctx context.Context) {
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(5 * time.Millisecond) {
				// Any line that says the cache's users are loaded.
				if line, ok := rec.find("saved cache"); ok && strings.Contains(line, "users=") {
					sawLoad.Store(true)
					return
				}
			}
		})
	}
	e.restart()
	if !sawLoad.Load() {
		t.Fatalf("the saved cache was not loaded before the engine opened: %q", rec.recs)
	}
	if line := waitLog(t, rec, "saved cache read"); !strings.Contains(line, "users=") {
		t.Fatalf("%q", line)
	}
	waitLog(t, rec, "saved cache loaded")
	waitLog(t, rec, "saved cache up to date with the engine")
	if _, ok := rec.find("cache warmed"); ok {
		t.Fatal("warmed the cache though it was loaded")
	}
	if after := presences(e, tok); !equalMaps(before, after) {
		t.Fatalf("before the restart %v, after %v", before, after)
	}
}

// A saved cache older than the engine (saved, then more writes, a user's
// presence deleted, then a crash that saved nothing: here the older file
// put back) is brought up to date at start: every user shows what the
// engine holds, the loaded cache alone (its check runs later).
func TestRestartFromAStaleSavedCache(t *testing.T) {
	e := startWarmed(t, func(c *presenced.Config) { presenced.DelayCacheCheck(c, time.Hour) })
	tok := e.appToken()
	for _, name := range []string{"adele", "alex", "megan", "lynne"} {
		e.must("POST", "/v1.0/users/"+e.user(name)+"/presence/setPresence", tok, setBody("Busy", "InACall", "PT1H"))
	}
	e.srv.SaveCache()
	file := filepath.Join(e.dir, presenced.CacheFile)
	stale, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	e.fake.Add(time.Minute)
	e.must("POST", "/v1.0/users/"+e.user("adele")+"/presence/setPresence", tok, setBody("Away", "Away", "PT1H"))
	e.must("POST", "/v1.0/users/"+e.user("diego")+"/presence/setPresence", tok, setBody("DoNotDisturb", "Presenting", "PT1H"))
	if err := e.srv.Core().Remove(context.Background(), core.UserRef{TenantID: directory.DemoTenantID, UserID: e.user("megan")}); err != nil {
		t.Fatal(err)
	}
	before := presences(e, tok)
	e.stop()
	if err := os.WriteFile(file, stale, 0o600); err != nil {
		t.Fatal(err)
	}
	rec := &recordLog{}
	e.log = slog.New(rec)
	e.boot()
	waitLog(t, rec, "saved cache up to date with the engine")
	if after := presences(e, tok); !equalMaps(before, after) {
		t.Fatalf("before the restart %v, after %v", before, after)
	}
}

// A damaged saved cache is reported at WARN and left aside: the server
// warms the cache as without one, and nothing is lost.
func TestRestartWithADamagedSavedCache(t *testing.T) {
	e := startWarmed(t, nil)
	tok := e.appToken()
	for _, name := range []string{"adele", "alex"} {
		e.must("POST", "/v1.0/users/"+e.user(name)+"/presence/setPresence", tok, setBody("Busy", "InACall", "PT1H"))
	}
	before := presences(e, tok)
	e.stop()
	file := filepath.Join(e.dir, presenced.CacheFile)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	rec := &recordLog{}
	e.log = slog.New(rec)
	e.boot()
	if line := waitLog(t, rec, "the saved cache cannot be used"); !strings.Contains(line, "checksum") {
		t.Fatalf("%q: want the checksum named", line)
	}
	waitLog(t, rec, "cache warmed")
	if after := presences(e, tok); !equalMaps(before, after) {
		t.Fatalf("before the restart %v, after %v", before, after)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A save interrupted by a kill -9 leaves its temporary file in the data
// directory; the next start removes it, and says so.
func TestStartRemovesWhatAnInterruptedSaveLeft(t *testing.T) {
	e := startWarmed(t, nil)
	e.stop()
	for _, n := range []string{".cache-1", ".directory-2", ".manifest-3"} {
		if err := os.WriteFile(filepath.Join(e.dir, n), []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rec := &recordLog{}
	e.log = slog.New(rec)
	e.boot()
	line := waitLog(t, rec, "removed what an interrupted save left")
	for _, n := range []string{".cache-1", ".directory-2", ".manifest-3"} {
		if !strings.Contains(line, n) {
			t.Fatalf("%q does not name %s", line, n)
		}
		if _, err := os.Stat(filepath.Join(e.dir, n)); !os.IsNotExist(err) {
			t.Fatalf("%s still there (%v)", n, err)
		}
	}
}
