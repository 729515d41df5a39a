// Package mapfile reads a whole file for one pass over it: on Linux by
// mapping it (read-only, its pages mapped at once), elsewhere by reading
// it. A start reads its two saved files (~1.7 GB at 10 million users)
// once each and copies what it keeps: read into the heap, each byte was
// copied twice and the heap grew by the files' size, every page of which
// the kernel had to fault in and zero first (docs/performance.md,
// "Restarting at 10 million users in under 10 s").
//
// A mapped file that another process changes while it is read changes
// under the reader, after its checksum was checked: cut short, the pages
// past its new end fault (SIGBUS) and the rest of the last page reads as
// zeros. The data directory is the server's alone (its lock) and its
// files are replaced by renaming, never rewritten in place, so that is
// someone else's damage; a reader that must not crash on it reads under
// Guard, which turns the fault, or a runtime error the changed bytes
// cause in a decoder that trusted them (an index out of range), into an
// error.
package mapfile

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
)

// File is a file's content for reading, until Close.
type File struct {
	b      []byte
	mapped bool
}

// Bytes is the content; it must not be used after Close, nor written.
func (f *File) Bytes() []byte { return f.b }

// Close releases the content.
func (f *File) Close() error {
	b := f.b
	f.b = nil
	if f.mapped && b != nil {
		return unmap(b)
	}
	return nil
}

// ErrFault is what Guard returns when the content could not be read (a
// mapped file cut short or changed under its reader).
var ErrFault = errors.New("mapfile: the file changed while it was read")

// Guard runs read, which reads mapped content, in the calling goroutine,
// and returns ErrFault if a read faulted, or a runtime error was raised,
// instead of letting it end the process: the content was checked before
// read trusts it, so a runtime error there means it changed since. A
// panic of another kind is passed on.
func Guard(read func()) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			if e, ok := r.(interface{ Addr() uintptr }); ok {
				err = fmt.Errorf("%w: fault at %#x", ErrFault, e.Addr())
				return
			}
			if e, ok := r.(runtime.Error); ok {
				err = fmt.Errorf("%w: %v", ErrFault, e)
				return
			}
			panic(r)
		}
	}()
	read()
	return nil
}
