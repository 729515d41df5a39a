package directory

import (
	"errors"
	"fmt"
	"io"
)

// window is how many of the last bytes read a tracked reader keeps, to
// say the line and column of an offset the decoder names: it reports
// errors at or near what it last read (an entry is far smaller).
const window = 1 << 20

var errTooLarge = errors.New("directory: file too large")

// tracked reads a directory file for Decode, counting its bytes (at most
// MaxFileSize) and keeping the last ones read, with the line and column
// of the first kept: an error's place is said without the file in memory.
type tracked struct {
	r     io.Reader
	n     int64  // bytes read
	ring  []byte // the last bytes read: at least window of them, when there are as many, at most twice that
	start int64  // offset of ring[0]
	line  int    // line of ring[0], from 1
	col   int    // column of ring[0], from 1
}

func (t *tracked) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.n += int64(n)
		if t.n > MaxFileSize {
			return 0, errTooLarge
		}
		t.ring = append(t.ring, p[:n]...)
		if over := len(t.ring) - window; len(t.ring) > 2*window {
			t.advance(t.ring[:over])
			t.start += int64(over)
			t.ring = append(t.ring[:0], t.ring[over:]...)
		}
	}
	return n, err
}

// advance moves the line and column past b.
func (t *tracked) advance(b []byte) {
	for _, c := range b {
		if c == '\n' {
			t.line, t.col = t.line+1, 1
		} else {
			t.col++
		}
	}
}

// at says where offset off is: "line L, column C" (columns count bytes),
// or its byte offset when it is no longer kept.
func (t *tracked) at(off int64) string {
	off = min(max(off, 0), t.n)
	if off < t.start {
		return fmt.Sprintf("byte %d", off)
	}
	line, col := t.line, t.col
	for _, c := range t.ring[:off-t.start] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Sprintf("line %d, column %d", line, col)
}
