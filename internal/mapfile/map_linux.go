package mapfile

import (
	"fmt"
	"os"
	"syscall"
)

// Open maps the file at path, its pages mapped at once (MAP_POPULATE: one
// call instead of a fault per page). An empty file is read, not mapped.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if size == 0 {
		return &File{b: []byte{}}, nil
	}
	if size != int64(int(size)) {
		return nil, fmt.Errorf("mapfile: %s: %d bytes is too large", path, size)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		return nil, &os.PathError{Op: "mmap", Path: path, Err: err}
	}
	return &File{b: b, mapped: true}, nil
}

func unmap(b []byte) error { return syscall.Munmap(b) }
