//go:build !unix

package dirlock

import "os"

// Without flock (Windows, wasm) the directory is not locked: presenced is
// built and tested on Unix; elsewhere running two servers on one directory
// stays the operator's to avoid (docs/durability.md).
func tryLock(*os.File) (bool, error) { return false, nil }

func unlock(*os.File) error { return nil }
