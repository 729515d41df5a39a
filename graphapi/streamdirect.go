package graphapi

import (
	"context"
	"errors"

	"github.com/presenced/presenced/notify"
)

// Deliver sends the stream's waiting changes on one of the fanout's
// writers (notify.Sink), straight to its socket, never waiting: if the
// handler's goroutine holds the stream, it is woken to send them itself;
// if the socket does not take an event whole, the rest is kept and the
// stream goes back to its goroutine, which writes it within the write
// timeout as for any stream, and follows the feed itself until it caught
// up (a slow client is then handled as before: its queue bounded, then
// dropped with event: reset and end). A change that ends the stream
// (token expired, nobody left to see) goes back to it too, and so does
// the stream when the directory changed (the token is checked again).
func (st *streamSession) Deliver() {
	if !st.mu.TryLock() {
		st.feed.Signal()
		return
	}
	defer st.mu.Unlock()
	if st.closed || st.handback != nil {
		return
	}
	st.out.nonblock = true
	defer func() { st.out.nonblock = false }()
	for {
		if st.a.dir.Version() != st.version {
			// The directory changed: the check validates the token again,
			// which for an external issuer may fetch its keys. Not on a
			// writer: the stream's goroutine does it, then goes direct
			// again.
			st.feed.Undirect()
			return
		}
		e, ok := st.feed.TakeDirect()
		if !ok {
			return
		}
		if err := st.change(e); err != nil {
			st.handback = err
			st.feed.Undirect()
			return
		}
		if len(st.out.pending) > 0 {
			st.feed.Undirect()
			return
		}
	}
}

// waitDirect is follow's wait while the writers deliver the stream's
// changes: the stream's goroutine lets go of it until it is signalled or
// its check is due, then does what was left to it.
func (st *streamSession) waitDirect(ctx context.Context) error {
	st.mu.Unlock()
	werr := st.feed.Wait(ctx, streamCheck)
	st.mu.Lock()
	if err := st.handback; err != nil {
		st.handback = nil
		return err
	}
	if len(st.out.pending) > 0 {
		if err := st.out.write(nil); err != nil {
			return err
		}
	}
	switch {
	case werr == nil:
		// Changes a writer could not take while this goroutine held the
		// stream (or none, if the feed is no longer direct: then follow
		// takes them with Next).
		for {
			e, ok := st.feed.TakeDirect()
			if !ok {
				return nil
			}
			if err := st.change(e); err != nil {
				return err
			}
		}
	case errors.Is(werr, notify.ErrIdle):
		return st.idleCheck()
	default:
		return werr
	}
}

// idleCheck is the stream's periodic work: the reader's check, and a
// heartbeat once nothing was written for streamHeartbeat.
func (st *streamSession) idleCheck() error {
	if err := st.check(); err != nil {
		return err
	}
	if st.idle += streamCheck; st.idle >= streamHeartbeat {
		st.idle = 0
		return st.out.comment("heartbeat")
	}
	return nil
}
