package graphapi

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readAtMost reads as buf.ReadFrom(io.LimitReader(src, n)) does: src to
// its end, or n bytes and no more; src's error otherwise. Chunks of one
// byte (iotest.OneByteReader) and data with io.EOF (DataErrReader) as a
// body's reader may return them.
func TestReadAtMostReadsAsALimitReader(t *testing.T) {
	long := strings.Repeat("0123456789", 1000) // past bytes.MinRead, so that buf grows
	for _, c := range []struct {
		body string
		n    int64
	}{{"", 10}, {"{}", 10}, {"0123456789", 10}, {"0123456789", 11}, {"0123456789x", 11}, {"0123456789xy", 11}, {long, 5000}, {long, 10001}, {long, 20000}} {
		for _, wrap := range []struct {
			name string
			r    func(io.Reader) io.Reader
		}{{"plain", func(r io.Reader) io.Reader { return r }}, {"one byte", iotest.OneByteReader}, {"data with EOF", iotest.DataErrReader}} {
			var want, got bytes.Buffer
			if _, err := want.ReadFrom(io.LimitReader(strings.NewReader(c.body), c.n)); err != nil {
				t.Fatal(err)
			}
			if err := readAtMost(&got, wrap.r(strings.NewReader(c.body)), c.n); err != nil {
				t.Errorf("%d bytes, at most %d, %s: %v", len(c.body), c.n, wrap.name, err)
			}
			if got.String() != want.String() {
				t.Errorf("%d bytes, at most %d, %s: read %d bytes, want %d", len(c.body), c.n, wrap.name, got.Len(), want.Len())
			}
		}
	}
	boom := errors.New("boom")
	var got bytes.Buffer
	if err := readAtMost(&got, io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(boom)), 10); !errors.Is(err, boom) || got.String() != "abc" {
		t.Errorf("a failing reader: %q, %v; want \"abc\", boom", got.String(), err)
	}
}

// A body read into a buffer with room allocates nothing: the LimitReader
// that bytes.Buffer.ReadFrom took escaped through its interface, an
// allocation of every request with a body.
func TestReadAtMostAllocatesNothing(t *testing.T) {
	body := strings.Repeat("x", 150)
	var buf bytes.Buffer
	buf.Grow(1024)
	r := strings.NewReader(body)
	var src io.Reader = r // as the request's body: an interface
	n := testing.AllocsPerRun(100, func() {
		buf.Reset()
		r.Reset(body)
		if err := readAtMost(&buf, src, 1<<20); err != nil || buf.Len() != len(body) {
			t.Fatalf("%d bytes, %v", buf.Len(), err)
		}
	})
	if n != 0 {
		t.Errorf("%v allocations a body, want 0", n)
	}
}
