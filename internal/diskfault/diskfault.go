// Package diskfault does to an engine's files what the data-safety tests
// need done to real files: find a stream's newest block, flip bytes in it,
// fill a volume to the last byte. It knows where nats-server keeps a
// stream's files, and nothing else about them. Like enginetest, it is for
// tests: a failure fails the test.
package diskfault

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// StreamDir is where the engine opened on engineDir (natsstore.Options.Dir,
// <data>/engine for a server) keeps a stream's files.
func StreamDir(engineDir, stream string) string {
	return filepath.Join(engineDir, "jetstream", "jetstream", "$G", "streams", stream)
}

// LastBlock is the path of a stream's newest message block.
func LastBlock(t testing.TB, engineDir, stream string) string {
	t.Helper()
	blks, _ := filepath.Glob(filepath.Join(StreamDir(engineDir, stream), "msgs", "*.blk"))
	if len(blks) == 0 {
		t.Fatalf("diskfault: no blocks of stream %s under %s", stream, engineDir)
	}
	num := func(p string) int { n, _ := strconv.Atoi(strings.TrimSuffix(filepath.Base(p), ".blk")); return n }
	sort.Slice(blks, func(i, j int) bool { return num(blks[i]) < num(blks[j]) })
	return blks[len(blks)-1]
}

// FlipMiddle inverts n bytes in the middle of the file at path.
func FlipMiddle(t testing.TB, path string, n int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < n {
		t.Fatalf("diskfault: %s has %d bytes, fewer than %d", path, len(b), n)
	}
	for i := range n {
		b[(len(b)-n)/2+i] ^= 0xff
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Fill writes a file named "fill" in dir until its volume takes not one
// byte more, and returns its path.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "fill")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, n := range []int{1 << 20, 4096, 1} {
		buf := make([]byte, n)
		for {
			if _, err := f.Write(buf); err != nil {
				break
			}
		}
	}
	return path
}
