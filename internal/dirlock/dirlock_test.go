package dirlock

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A second lock on a held directory is refused, naming the directory and
// the holder; once released the directory can be locked again.
func TestSecondLockIsRefusedWithTheHolder(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir, "presenced serve")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir, "presenced check")
	var he *HeldError
	if !errors.As(err, &he) || !errors.Is(err, ErrHeld) {
		t.Fatalf("second Acquire: %v, want a *HeldError", err)
	}
	if he.PID != os.Getpid() || he.Command != "presenced serve" || he.Dir != dir {
		t.Fatalf("holder %+v, want pid %d presenced serve in %s", he, os.Getpid(), dir)
	}
	for _, want := range []string{dir, "process " + strconv.Itoa(os.Getpid()), "(presenced serve)", "--data"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	l2, err := Acquire(dir, "presenced serve")
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l2.Release()
}

// A lock file left by a process that is gone blocks nothing: what counts is
// the kernel's lock, not the file.
func TestStaleLockFileDoesNotBlock(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("999999 presenced serve\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Acquire(dir, "presenced serve")
	if err != nil {
		t.Fatalf("stale lock file: %v", err)
	}
	defer l.Release()
	b, _ := os.ReadFile(filepath.Join(dir, FileName))
	if want := strconv.Itoa(os.Getpid()) + " presenced serve\n"; string(b) != want {
		t.Fatalf("lock file says %q, want %q", b, want)
	}
}

func TestHeldErrorWithoutHolder(t *testing.T) {
	for _, c := range []struct{ content, want string }{
		{"", "in use by another process"},
		{"garbage", "in use by another process"},
		{"42 presenced serve\n", "in use by process 42 (presenced serve)"},
		{"42\n", "in use by process 42;"},
	} {
		pid, cmd := parse(c.content)
		if got := (&HeldError{Dir: "/d", PID: pid, Command: cmd}).Error(); !strings.Contains(got, c.want) {
			t.Errorf("%q: %q, want %q", c.content, got, c.want)
		}
	}
}
