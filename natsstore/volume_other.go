//go:build !unix

package natsstore

import "errors"

// volume is unknown here: the engine keeps nats-server's own limits and
// writes are not guarded against a full disk (docs/durability.md).
func volume(string) (total, free uint64, err error) {
	return 0, 0, errors.New("natsstore: volume size unknown on this system")
}

// inodes is unknown here.
func inodes(string) (free uint64, counted bool) { return 0, false }
