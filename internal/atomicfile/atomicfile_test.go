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
