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

// inodes is how many files may still be made on the filesystem that holds
// dir; counted is false where it does not count them (btrfs and others
// report no inode table).
func inodes(dir string) (free uint64, counted bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil || st.Files == 0 {
		return 0, false
	}
	return uint64(st.Ffree), true
}
