package notify

import (
	"context"
	"errors"

	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/store"
)

// Recent returns up to n of the user's newest changes still in the log,
// oldest first (what the explain endpoint shows). It reads backwards in
// growing windows of the log, filtered to the user, so a user who changed
// lately costs one short read however long the log.
func (h *Hub) Recent(ctx context.Context, u core.UserRef, n int) ([]Entry, error) {
	if n <= 0 {
		return nil, nil
	}
	subject := Subject(u)
	last, err := h.log.Last(ctx, subject)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	first, err := h.log.FirstSeq(ctx)
	if err != nil {
		return nil, err
	}
	first = max(first, 1)
	for span := uint64(1024); ; span *= 16 {
		from := first
		if last.Seq >= span && last.Seq-span+1 > first {
			from = last.Seq - span + 1
		}
		var out []Entry
		err := h.fan.Replay(ctx, []string{subject}, from, last.Seq, func(e Entry) error {
			if len(out) == n { // keep the newest n, in a slice of n
				copy(out, out[1:])
				out[n-1] = e
				return nil
			}
			out = append(out, e)
			return nil
		})
		if err != nil || len(out) >= n || from == first {
			return out, err
		}
	}
}
