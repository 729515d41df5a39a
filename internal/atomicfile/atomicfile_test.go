package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	for _, c := range []struct {
		name  string
		fill  func(io.Writer) error
		err   error
		after string
	}{
		{"a failed fill keeps the old file", func(w io.Writer) error { _, _ = io.WriteString(w, "half"); return boom }, boom, "old"},
		{"a whole fill replaces it", func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }, nil, "new"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := Write(path, ".f-*", c.fill); !errors.Is(err, c.err) {
				t.Fatalf("Write: %v, want %v", err, c.err)
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != c.after {
				t.Fatalf("file holds %q (%v), want %q", got, err, c.after)
			}
			left, _ := filepath.Glob(filepath.Join(dir, ".f-*"))
			if len(left) != 0 {
				t.Fatalf("temporary files left: %v", left)
			}
		})
	}
}

// What a kill -9 between CreateTemp and the rename leaves is removed by
// its pattern, and nothing else is.
func TestRemoveLeftovers(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{".f-123", ".f-456", ".g-1", "f", "keep.f-1"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	gone, err := RemoveLeftovers(dir, ".f-*", ".g-*", ".h-*")
	if err != nil || len(gone) != 3 {
		t.Fatalf("removed %v, %v; want the three temporary files", gone, err)
	}
	left, _ := os.ReadDir(dir)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	if len(names) != 2 || names[0] != "f" || names[1] != "keep.f-1" {
		t.Fatalf("left %v, want [f keep.f-1]", names)
	}
}
