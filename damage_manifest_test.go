package presenced_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/internal/diskfault"
	"github.com/presenced/presenced/natsstore"
)

// The manifest is what lets a start see what the engine lost. Without it
// (deleted, or left out of a restored backup) a start must not go on as if
// the engine were whole: before, it did, silently — with the presence
// stream's last block emptied as well, every demo user read as never set,
// and nothing was logged. A manifest written by a newer presenced is
// refused for what it is, and --accept-data-loss does not override that:
// before, the error called it unreadable and offered --accept-data-loss,
// which would have run this version on the newer data and overwritten the
// newer manifest.
func TestManifestGoneOrNewerIsRefused(t *testing.T) {
	for _, c := range []struct {
		name     string
		damage   func(t *testing.T, data string)
		want     error
		words    []string // in the error
		notWords []string
		accepted bool // --accept-data-loss starts
	}{
		{"manifest deleted", func(t *testing.T, data string) {
			rm(t, filepath.Join(data, presenced.ManifestFile))
		}, presenced.ErrNoManifest, []string{presenced.ManifestFile + " is not there", "records in", "--accept-data-loss", "presenced check --data"}, nil, true},
		{"manifest deleted and the presence stream's last block emptied", func(t *testing.T, data string) {
			rm(t, filepath.Join(data, presenced.ManifestFile))
			if err := os.Truncate(lastBlock(t, data, "KV_presence"), 0); err != nil {
				t.Fatal(err)
			}
		}, presenced.ErrNoManifest, []string{"what the engine lost cannot be known", "--accept-data-loss"}, nil, true},
		{"manifest of a newer presenced", func(t *testing.T, data string) {
			path := filepath.Join(data, presenced.ManifestFile)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b = bytes.Replace(b, []byte(`"version": 1`), []byte(`"version": 2`), 1)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, natsstore.ErrNewerManifest, []string{"version 2", "newer presenced", "reads version 1"}, []string{"--accept-data-loss", "damaged"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := start(t)
			writeUsers(e, 3)
			e.stop()
			c.damage(t, e.dir)
			manifest := filepath.Join(e.dir, presenced.ManifestFile)
			before, _ := os.ReadFile(manifest)

			srv, _, err := startLogged(t, e, false)
			if err == nil {
				srv.Shutdown(context.Background())
				t.Fatal("started")
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("Start: %v, want %v", err, c.want)
			}
			for _, w := range c.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error does not say %q: %v", w, err)
				}
			}
			for _, w := range c.notWords {
				if strings.Contains(err.Error(), w) {
					t.Errorf("the error says %q: %v", w, err)
				}
			}

			srv, rec, err := startLogged(t, e, true)
			if !c.accepted {
				if err == nil {
					srv.Shutdown(context.Background())
					t.Fatal("started with --accept-data-loss")
				}
				if after, _ := os.ReadFile(manifest); !bytes.Equal(after, before) {
					t.Fatal("the newer manifest was changed")
				}
				return
			}
			if err != nil {
				t.Fatalf("with AcceptDataLoss: %v", err)
			}
			if l := rec.at(slog.LevelError, "the engine's manifest is missing", "records="); len(l) != 1 {
				t.Errorf("the accepted start did not say so at ERROR: %q", rec.lines)
			}
			startsQuietlyAfter(t, e, srv)
		})
	}
}

func rm(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// A record damaged inside a block the engine trusts (its index kept) of a
// bucket read whole at start — the subscriptions — fails the start. The
// manifest, which counts what the index says, sees no loss, so before,
// --accept-data-loss had nothing to accept and the server could not be
// started at all: the documented way out (presenced check, then
// --accept-data-loss) ended where it began. Now an accepted start has the
// engine rebuild every stream from its records: the damage is cut, counted
// and reported at ERROR like any other loss, and the server starts.
func TestAcceptDataLossCountsADamagedRecordInATrustedBlock(t *testing.T) {
	e := start(t)
	rc := newReceiver(t)
	for _, name := range demoUsers {
		if r := e.subscribe(e.userToken(name, ""), subBody(rc.srv.URL, []string{e.user("alex")}, t0.Add(45*time.Minute))); r.status != 201 {
			t.Fatalf("subscribe as %s: %d %s", name, r.status, r.raw)
		}
	}
	e.stop()
	diskfault.FlipMiddle(t, lastBlock(t, e.dir, "KV_subscriptions"), 16)

	srv, _, err := startLogged(t, e, false)
	if err == nil {
		srv.Shutdown(context.Background())
		t.Fatal("started on a damaged subscription record")
	}
	if !strings.Contains(err.Error(), "could not be read") {
		t.Fatalf("Start: %v", err)
	}

	srv, rec, err := startLogged(t, e, true)
	if err != nil {
		t.Fatalf("with AcceptDataLoss: %v", err)
	}
	if l := rec.at(slog.LevelError, "engine data lost", "stream=KV_subscriptions", "on_disk_before=true"); len(l) != 1 {
		t.Errorf("the loss was not reported: %q", rec.lines)
	}
	if l := rec.at(slog.LevelWarn, "--accept-data-loss: the engine rebuilds every stream"); len(l) != 1 {
		t.Errorf("the rebuild was not said: %q", rec.lines)
	}
	startsQuietlyAfter(t, e, srv)
}
