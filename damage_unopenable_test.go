package presenced_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/presenced/presenced"
)

// A stream the engine cannot open at start (a block it cannot read: here
// the presence stream's block replaced by the header of a compressed block
// with nothing after it) is refused like any loss, and its files are left
// where they were, for the operator to copy away or repair — nats-server
// 2.15.2 deleted such a stream's directory when its store failed to open
// (checked: this test fails there). --accept-data-loss then sets the files
// aside under the data directory and creates the stream again.
func TestUnopenableStreamKeepsItsFiles(t *testing.T) {
	e := start(t)
	writeUsers(e, 3)
	e.stop()
	blk := lastBlock(t, e.dir, "KV_presence")
	orig, err := os.ReadFile(blk)
	if err != nil {
		t.Fatal(err)
	}
	meta := server.CompressionInfo{Algorithm: server.S2Compression, OriginalSize: uint64(len(orig))}
	damaged := meta.MarshalMetadata()
	if err := os.WriteFile(blk, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(filepath.Dir(blk), "index.db")); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}

	srv, rec, err := startLogged(t, e, false)
	if err == nil {
		srv.Shutdown(t.Context())
		t.Fatal("a server started on a stream the engine could not open")
	}
	if !errors.Is(err, presenced.ErrDataLoss) {
		t.Fatalf("Start: %v, want ErrDataLoss", err)
	}
	if l := rec.at(slog.LevelError, "engine data lost", "stream=KV_presence", "missing=true"); len(l) != 1 {
		t.Fatalf("ERROR lines %q", rec.at(slog.LevelError))
	}
	if b, err := os.ReadFile(blk); err != nil || !bytes.Equal(b, damaged) {
		t.Fatalf("the unopenable stream's block after the refused start: %v (changed: %t)", err, err == nil)
	}

	srv, rec, err = startLogged(t, e, true)
	if err != nil {
		t.Fatalf("with AcceptDataLoss: %v; %q", err, rec.at(slog.LevelError))
	}
	l := rec.at(slog.LevelError, "set aside", "stream=KV_presence")
	set, _ := filepath.Glob(filepath.Join(e.dir, presenced.SetAsideDir, "KV_presence-*", "msgs", filepath.Base(blk)))
	if len(l) != 1 || len(set) != 1 {
		t.Fatalf("set aside: ERROR %q, files %q", l, set)
	}
	if b, err := os.ReadFile(set[0]); err != nil || !bytes.Equal(b, damaged) {
		t.Fatalf("the set-aside block: %v", err)
	}
	startsQuietlyAfter(t, e, srv)
}
