//go:build unix

package natsstore

import "syscall"

// volume is the size of the filesystem that holds dir and the space on it
// an unprivileged writer may still use.
func volume(dir string) (total, free uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return uint64(st.Blocks) * uint64(st.Bsize), uint64(st.Bavail) * uint64(st.Bsize), nil
}
