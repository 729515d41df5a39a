//go:build !unix

package presenced

// openFileLimit: no limit this build can read.
func openFileLimit() (uint64, bool) { return 0, false }
