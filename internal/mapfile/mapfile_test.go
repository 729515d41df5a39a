package mapfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestOpenReadsTheFile(t *testing.T) {
	dir := t.TempDir()
	want := bytes.Repeat([]byte("presence "), 100_000)
	for name, content := range map[string][]byte{"full": want, "empty": {}} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.Bytes(), content) {
			t.Fatalf("%s: %d bytes read, want %d", name, len(f.Bytes()), len(content))
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if f.Bytes() != nil {
			t.Fatal("content still there after Close")
		}
	}
	if _, err := Open(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing file: %v, want ErrNotExist", err)
	}
}

// A mapped file cut short under its reader faults on the pages past its
// new end: under Guard that is an error, not the end of the process.
func TestGuardTurnsAFaultIntoAnError(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("only Linux maps the file")
	}
	path := filepath.Join(t.TempDir(), "cut")
	if err := os.WriteFile(path, bytes.Repeat([]byte{1}, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	var sum int
	err = Guard(func() {
		for _, c := range f.Bytes() {
			sum += int(c)
		}
	})
	if !errors.Is(err, ErrFault) {
		t.Fatalf("reading a truncated mapping: %v (sum %d), want ErrFault", err, sum)
	}
	// And a read that does not fault returns nil; other panics pass.
	if err := Guard(func() { sum = 0 }); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r != "other" {
			t.Fatalf("recovered %v, want the panic passed on", r)
		}
	}()
	_ = Guard(func() { panic("other") })
}
