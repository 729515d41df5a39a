//go:build !linux

package mapfile

import "os"

// Open reads the file at path.
func Open(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return &File{b: b}, nil
}

func unmap([]byte) error { return nil }
