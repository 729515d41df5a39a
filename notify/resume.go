package notify

import (
	"context"
	"encoding/json"

	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/presence"
)

// Resume is a stream's resume after a log position: for each of its users,
// whether the log holds every change after that position. It is decided
// from the log alone — each record names the sequenceNumber it followed
// (Change.Prev), and a user's changes are complete while every record
// follows the one before — so any node, restarted or not, serves a resume
// the same way, and a gap is always seen. Not safe for concurrent use.
type Resume struct {
	h     *Hub
	users []core.UserRef
	after uint64
	head  uint64
	// missing[i]: user i gets the state now (reset) rather than changes.
	missing []bool
	// expect[i] is the Prev user i's next record must name: the Seq of
	// their last record at or before after (zero: none).
	expect []presence.Stamp
	index  map[core.UserRef]int
}

// Resume prepares a stream's resume after log position after for users
// (watched already: call Watch first, so that what they show now is
// logged). Everyone is missing when after is beyond the end of the log (a
// log that was reset or restored) or before the oldest change it keeps.
func (h *Hub) Resume(ctx context.Context, users []core.UserRef, after uint64) (*Resume, error) {
	head, err := h.log.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	first, err := h.log.FirstSeq(ctx)
	if err != nil {
		return nil, err
	}
	if first == 0 {
		first = head + 1 // empty: everything up to head is gone
	}
	r := &Resume{h: h, users: users, after: after, head: head, missing: make([]bool, len(users)),
		expect: make([]presence.Stamp, len(users)), index: make(map[core.UserRef]int, len(users))}
	if after > head || after+1 < first {
		for i := range r.missing {
			r.missing[i] = true
		}
		return r, nil
	}
	for i, u := range users {
		r.index[u] = i
	}
	if after == 0 {
		return r, nil // nobody has a record at or before 0
	}
	base, err := h.log.LastMany(ctx, userSubjects(users), after)
	if err != nil {
		return nil, err
	}
	for i, rec := range base {
		if rec.Seq == 0 {
			continue // none kept: only a user never changed chains from zero
		}
		var c Change
		if err := json.Unmarshal(rec.Data, &c); err != nil {
			r.missing[i] = true
			continue
		}
		r.expect[i] = c.Seq
	}
	return r, nil
}

// Head is the log's position when the resume was prepared: Replay ends
// there, and the stream follows from the next one.
func (r *Resume) Head() uint64 { return r.head }

// Replay calls fn, in log order, with the users' changes after the resume
// position through Head, for as long as each user's records follow one
// another. At a user's first record that does not follow the one before
// (it names another Prev, or none), that user is marked missing and gets
// nothing more: the changes sent before the break are still exact.
func (r *Resume) Replay(ctx context.Context, fn func(Entry) error) error {
	var kept []core.UserRef
	for i, u := range r.users {
		if !r.missing[i] {
			kept = append(kept, u)
		}
	}
	if len(kept) == 0 || r.after >= r.head {
		return nil
	}
	return r.h.fan.Replay(ctx, userSubjects(kept), r.after+1, r.head, func(e Entry) error {
		i, ok := r.index[core.UserRef{TenantID: e.Change.TenantID, UserID: e.Change.UserID}]
		if !ok || r.missing[i] {
			return nil
		}
		if p := e.Change.Prev; p == nil || *p != r.expect[i] {
			r.missing[i] = true
			return nil
		}
		r.expect[i] = e.Change.Seq
		return fn(e)
	})
}

// Missing says, per user, whether the stream must send that user's state
// now (reset) instead of changes: final once Replay has returned.
func (r *Resume) Missing() []bool { return r.missing }
