// Package atomicfile replaces a file whole or not at all: what is written
// goes to a temporary file beside it, is synced, renamed over the old one,
// and the directory synced, so that a crash leaves the old file or the new
// one, never a part (the engine's manifest, the saved cache).
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
)

// Write replaces path with what fill writes. The temporary file (named by
// pattern, as os.CreateTemp takes it) is 0600 and removed on failure.
func Write(path, pattern string, fill func(io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing is there
	err = fill(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		err = SyncDir(dir)
	}
	return err
}

// SyncDir makes a directory's entries (a rename, a new file) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// RemoveLeftovers removes the temporary files that Write calls with these
// patterns left in dir when the process died between creating and
// renaming one (a kill -9 during a save). Only the holder of dir's lock
// may call it: another process's save in progress would be removed. It
// returns the names removed.
func RemoveLeftovers(dir string, patterns ...string) ([]string, error) {
	var removed []string
	for _, p := range patterns {
		names, err := filepath.Glob(filepath.Join(dir, p))
		if err != nil {
			return removed, err
		}
		for _, n := range names {
			if err := os.Remove(n); err != nil && !os.IsNotExist(err) {
				return removed, err
			}
			removed = append(removed, filepath.Base(n))
		}
	}
	return removed, nil
}
