//go:build unix

package presenced

import "syscall"

// openFileLimit is the process's limit of open files (RLIMIT_NOFILE's soft
// limit, which Go's runtime raised to the hard limit at start).
func openFileLimit() (uint64, bool) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, false
	}
	return uint64(l.Cur), true
}
