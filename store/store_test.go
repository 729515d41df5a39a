package store

import (
	"errors"
	"fmt"
	"testing"
)

// A write refused for a full disk tells its client whether it may have
// been stored; any other error is not a full disk's.
func TestFullMessage(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		msg  string
		ok   bool
	}{
		{"refused before it was sent", fmt.Errorf("put: %w: 0 bytes free", ErrFull), FullNotWritten, true},
		{"under way as the disk filled", errors.Join(ErrFull, ErrMaybeStored), FullInDoubt, true},
		{"unavailable", ErrUnavailable, "", false},
		{"maybe stored, not full", ErrMaybeStored, "", false},
		{"nil", nil, "", false},
	} {
		if msg, ok := FullMessage(c.err); msg != c.msg || ok != c.ok {
			t.Errorf("%s: %q %v, want %q %v", c.name, msg, ok, c.msg, c.ok)
		}
	}
}
