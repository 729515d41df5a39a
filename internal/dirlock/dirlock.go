// Package dirlock keeps two processes from using one data directory at
// once. Two servers on one engine directory both run and overwrite each
// other's files; the second must refuse to start instead. The lock is an
// flock(2) on a file in the directory, held for as long as the directory is
// in use: the kernel releases it when the process ends, however it ends, so
// a lock left by a killed process never blocks the next start.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FileName is the lock file in a data directory. It stays after a clean
// shutdown: removing a lock file while another process waits on it would
// let two processes believe they hold it.
const FileName = "LOCK"

// Lock is a held lock on a data directory.
type Lock struct {
	f *os.File
}

// HeldError reports that another process uses the directory.
type HeldError struct {
	Dir string
	// PID and Command are what the holder wrote into the lock file; PID is
	// 0 when it had not written them yet.
	PID     int
	Command string
}

func (e *HeldError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = "process " + strconv.Itoa(e.PID)
		if e.Command != "" {
			who += " (" + e.Command + ")"
		}
	}
	return fmt.Sprintf("data directory %s is in use by %s; stop it or use another data directory (--data)", e.Dir, who)
}

// ErrHeld is what every HeldError is, for errors.Is.
var ErrHeld = errors.New("dirlock: data directory in use")

// Is makes errors.Is(err, ErrHeld) true for a *HeldError.
func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// Acquire locks dir (which must exist) for this process, without waiting,
// and writes this process's id and command (e.g. "presenced serve") into the
// lock file for the message another process will show. It fails with a
// *HeldError when another process holds the lock.
func Acquire(dir, command string) (*Lock, error) {
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock data directory %s: %w", dir, err)
	}
	if held {
		he := &HeldError{Dir: dir}
		if b, err := os.ReadFile(path); err == nil {
			he.PID, he.Command = parse(string(b))
		}
		f.Close()
		return nil, he
	}
	// The lock is ours: say who holds it. A failure here leaves the lock
	// held, only the message of a second process poorer.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+" "+command+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// parse reads "PID COMMAND\n".
func parse(s string) (int, string) {
	s = strings.TrimSpace(s)
	pid, cmd, _ := strings.Cut(s, " ")
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 {
		return 0, ""
	}
	return n, cmd
}

// Release unlocks the directory. The file stays (see FileName). It is safe
// to call on a nil Lock and more than once.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
