package presenced_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/internal/diskfault"
)

// streamDir is where the engine keeps a stream's files under a data
// directory.
func streamDir(data, stream string) string {
	return diskfault.StreamDir(filepath.Join(data, "engine"), stream)
}

// lastBlock is the path of a stream's newest message block.
func lastBlock(t testing.TB, data, stream string) string {
	return diskfault.LastBlock(t, filepath.Join(data, "engine"), stream)
}

// refusedDamages are the ways the presence stream's files were found
// damaged that lose what the engine had on disk: the start refuses.
var refusedDamages = []struct {
	name   string
	damage func(t testing.TB, data string)
}{
	// The engine trusts its index after a clean shutdown; after a crash it
	// rebuilds the block from its records, and cuts it at the first bad
	// one: every later record is gone, and each user falls back to the
	// older write the cut-off ones had replaced.
	{"16 bytes flipped in the last block, rebuilt as after a crash", func(t testing.TB, data string) {
		blk := lastBlock(t, data, "KV_presence")
		diskfault.FlipMiddle(t, blk, 16)
		if err := os.Remove(filepath.Join(filepath.Dir(blk), "index.db")); err != nil {
			t.Fatal(err)
		}
	}},
	{"last block emptied", func(t testing.TB, data string) {
		if err := os.Truncate(lastBlock(t, data, "KV_presence"), 0); err != nil {
			t.Fatal(err)
		}
	}},
	{"stream directory deleted", func(t testing.TB, data string) {
		if err := os.RemoveAll(streamDir(data, "KV_presence")); err != nil {
			t.Fatal(err)
		}
	}},
}

var demoUsers = []string{"adele", "alex", "megan", "lynne", "diego"}

// writeUsers gives every demo user rounds presence writes, so that the
// presence stream holds current and replaced records.
func writeUsers(e *env, rounds int) {
	tok := e.appToken()
	pairs := [][2]string{{"Available", "Available"}, {"Busy", "InACall"}, {"DoNotDisturb", "Presenting"}}
	for r := range rounds {
		for _, name := range demoUsers {
			p := pairs[r%len(pairs)]
			e.must("POST", "/v1.0/users/"+e.user(name)+"/presence/setPresence", tok, setBody(p[0], p[1], "PT4H"))
		}
	}
}

// startsQuietlyAfter stops srv, a start that accepted a loss, and starts
// e's server again: the loss is not reported again (no ERROR), and the
// server works.
func startsQuietlyAfter(t *testing.T, e *env, srv *presenced.Server) {
	t.Helper()
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	rec := &levelLog{}
	e.log = slog.New(rec)
	e.boot()
	if errs := rec.at(slog.LevelError); len(errs) > 0 {
		t.Fatalf("the next start logged errors: %q", errs)
	}
	writeUsers(e, 1)
}

func startLogged(t *testing.T, e *env, accept bool) (*presenced.Server, *levelLog, error) {
	t.Helper()
	rec := &levelLog{}
	srv, err := presenced.New(presenced.Config{Addr: "127.0.0.1:0", DataDir: e.dir, Dev: true, Clock: e.fake, Logger: slog.New(rec), AcceptDataLoss: accept})
	if err != nil {
		t.Fatal(err)
	}
	return srv, rec, srv.Start(context.Background())
}

// A start on damaged engine files says at ERROR which stream lost how much
// and refuses to serve; --accept-data-loss starts with what remains, once,
// after which the loss is not reported again.
func TestDamagedEngineFilesAreReportedAndRefused(t *testing.T) {
	for _, d := range refusedDamages {
		t.Run(d.name, func(t *testing.T) {
			e := start(t)
			writeUsers(e, 3)
			e.stop()
			_, noCache := os.Stat(filepath.Join(e.dir, presenced.CacheFile))
			d.damage(t, e.dir)

			srv, rec, err := startLogged(t, e, false)
			if err == nil {
				srv.Shutdown(context.Background())
				t.Fatal("a server started on damaged engine files")
			}
			if !errors.Is(err, presenced.ErrDataLoss) || !strings.Contains(err.Error(), "--accept-data-loss") || !strings.Contains(err.Error(), "presenced check --data "+e.dir) {
				t.Fatalf("Start: %v, want ErrDataLoss saying what to do", err)
			}
			lines := rec.at(slog.LevelError, "engine data lost", "stream=KV_presence", "on_disk_before=true")
			if len(lines) != 1 {
				t.Fatalf("ERROR lines %q; all %q", lines, rec.lines)
			}
			// How much: 5 users' records, 15 sequences.
			if !strings.Contains(lines[0], "lost_messages=5") && !regexpLostSeqs.MatchString(lines[0]) {
				t.Errorf("%q does not say how much was lost", lines[0])
			}
			if others := rec.at(slog.LevelError, "engine data lost", "stream=KV_meta"); len(others) > 0 {
				t.Errorf("an undamaged stream reported: %q", others)
			}

			srv, rec, err = startLogged(t, e, true)
			if err != nil {
				t.Fatalf("with AcceptDataLoss: %v", err)
			}
			if len(rec.at(slog.LevelError, "engine data lost", "stream=KV_presence")) != 1 || len(rec.at(slog.LevelError, "starting with what remains")) != 1 {
				t.Errorf("accepted start did not say so at ERROR: %q", rec.lines)
			}
			// The cache saved at the stop holds what was lost: not used.
			if noCache == nil && len(rec.at(slog.LevelWarn, "the engine lost data: the saved cache is not used")) != 1 {
				t.Errorf("the saved cache was not left aside: %q", rec.lines)
			}
			// So may the directory saved at the stop: not used either.
			if len(rec.at(slog.LevelWarn, "the engine lost data: the saved directory is not used")) != 1 {
				t.Errorf("the saved directory was not left aside: %q", rec.lines)
			}
			startsQuietlyAfter(t, e, srv)
		})
	}
}

// A record damaged inside a block the engine trusts (a clean shutdown left
// its index) reads as absent; the warm-up, which reads every stored user,
// says so at ERROR right after the start.
func TestUnreadableRecordIsReportedByTheWarmUp(t *testing.T) {
	e := start(t)
	writeUsers(e, 1) // every record live: the middle of the block is a user's current one
	e.stop()
	diskfault.FlipMiddle(t, lastBlock(t, e.dir, "KV_presence"), 16)

	rec := &levelLog{}
	e.log = slog.New(rec)
	e.boot()
	deadline := time.Now().Add(30 * time.Second)
	for len(rec.at(slog.LevelError, "engine data unreadable")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no ERROR about the unreadable record in 30 s: %q", rec.lines)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if l := rec.at(slog.LevelError, "engine data unreadable", "stream=KV_presence", "unreadable_records=1", "presenced check"); len(l) != 1 {
		t.Fatalf("%q", rec.at(slog.LevelError))
	}
}

// Restarts after a clean shutdown report nothing: the check sees loss,
// never the ordinary ways a server stops.
func TestUndamagedEngineStartsQuietly(t *testing.T) {
	rec := &levelLog{}
	e := &env{t: t, fake: clock.NewFake(t0), dir: t.TempDir(), addr: "127.0.0.1:0", log: slog.New(rec)}
	e.boot()
	writeUsers(e, 3)
	e.restart()
	writeUsers(e, 2)
	e.restart()
	if errs := rec.at(slog.LevelError); len(errs) > 0 {
		t.Fatalf("clean restarts logged errors: %q", errs)
	}
}

var regexpLostSeqs = regexp.MustCompile(`lost_sequences=[1-9]`)
