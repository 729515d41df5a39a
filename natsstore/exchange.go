package natsstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/store"
)

// How a request (a write, or a read of a stream's leader) reaches a
// stream in a cluster, where the stream's leader can be missing for a
// while (one died: nats-server 2.15 elects the next in 4-9 s) or change
// under the request (a graceful stop hands it over):
//
//   - "No responders" means no leader holds the stream's subjects now: the
//     message surely reached no stream. It is sent again after a short
//     pause (or at once when a new leader is announced), until the
//     engine's WriteWait ends.
//   - An answer that says the cluster cannot take it yet (no leader,
//     JetStream error 10008 and the like) is treated the same way.
//   - No answer within publishTimeout, or the stream's leader changed
//     while waiting (JetStream's leader-elected advisory): a leader that
//     steps down or dies drops the messages it had queued without an
//     answer, but one it had already proposed may still be stored. So
//     before sending it again the exchange asks settled whether it took
//     effect; every write presenced sends again is conditional (an
//     expected last sequence), so a copy stored twice is refused as a
//     conflict, after which settled is asked once more.
//
// A request waits at most WriteWait in all (15 s in a cluster), and ctx
// is looked at only between attempts: once sent, an attempt is waited
// for, so that an answer that comes keeps the caller in step with what
// was stored.
//
// The message and its stream are do's own parameters, not the exchange's:
// the message goes to nats.go and the stream's name to the leaders' map,
// and Go's escape analysis does not tell a struct's fields apart, so with
// them in it the exchange's two functions — closures over the caller's
// variables — were made on the heap for each request (four allocations of
// a cluster write, with the variables they capture).
type exchange struct {
	// answer reads an answer: nil (done), an error that ends the
	// exchange, or errNotYet (nothing was done; try again).
	answer func(resp *nats.Msg) error
	// settled reports whether the message took effect after all; nil for
	// a read, which is simply asked again.
	settled func(ctx context.Context) (bool, error)
}

// errNotYet is answer's "the engine did nothing and will take it later".
var errNotYet = errors.New("natsstore: not yet")

// answerError is what an API answer's error field means to answer: nil
// when there is none, errNotYet (wrapping it) when the engine will take
// the request later, else the engine's refusal.
func answerError(e *jetstream.APIError) error {
	switch {
	case e == nil:
		return nil
	case notYet(e):
		return fmt.Errorf("%w: %w", errNotYet, e)
	}
	return fmt.Errorf("nats: %w", e)
}

// badAnswer is answer's error for an answer that is not what the request
// asks for (its first 200 bytes quoted).
func badAnswer(data []byte) error {
	return fmt.Errorf("%w: %.200q", jetstream.ErrInvalidJSAck, data)
}

// errConflictAgain is answer's "a conflict": final on a first attempt,
// but after a resend the first copy may be what conflicts, so settled is
// asked.
var errConflictAgain = errors.New("natsstore: conflict")

// Backoff between attempts when no leader answers.
const (
	retryFirst = 25 * time.Millisecond
	retryMax   = 500 * time.Millisecond
)

// do runs the exchange (see above). Its errors wrap store.ErrUnavailable
// when the engine did not answer in time.
func (e *Engine) do(ctx context.Context, msg *nats.Msg, stream string, x exchange) error {
	r := clock.Real{}
	deadline := r.Now().Add(e.opts.writeWait())
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	var (
		last    error // of the last attempt, for the final error
		unsure  bool  // a copy was sent and not answered: it may be stored
		backoff = retryFirst
	)
	for {
		if err := ctx.Err(); err != nil {
			if unsure {
				return fmt.Errorf("%w: %w (a copy was sent and may have been stored)", store.ErrUnavailable, err)
			}
			return err
		}
		left := deadline.Sub(r.Now())
		if left <= 0 {
			if last == nil {
				last = context.DeadlineExceeded
			}
			return fmt.Errorf("%w: no answer from the engine within %v: %w", store.ErrUnavailable, e.opts.writeWait(), last)
		}
		if unsure && x.settled != nil {
			if ok, err := e.settledWithin(ctx, x, left); err == nil && ok {
				return nil
			}
		}
		gen := e.leaders.next(stream)
		resp, err := e.request(gen, msg, min(publishTimeout, left))
		changed := gen.Err() != nil
		if err == nil {
			err = x.answer(resp)
			switch {
			case err == nil:
				return nil
			case errors.Is(err, errConflictAgain):
				if unsure && x.settled != nil {
					if ok, serr := e.settledWithin(ctx, x, deadline.Sub(r.Now())); serr == nil && ok {
						return nil
					}
				}
				return err
			case !errors.Is(err, errNotYet):
				return err
			}
			last = err
			e.pause(ctx, stream, &backoff, deadline)
			continue
		}
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			last = err
			e.pause(ctx, stream, &backoff, deadline)
		case changed, errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
			last = err
			unsure = true
			backoff = retryFirst
		default:
			return unavailable(err)
		}
	}
}

// settledWithin asks x.settled, bounded by left.
func (e *Engine) settledWithin(ctx context.Context, x exchange, left time.Duration) (bool, error) {
	if left <= 0 {
		return false, context.DeadlineExceeded
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(publishTimeout, left))
	defer cancel()
	return x.settled(sctx)
}

// pause waits before the next attempt: backoff (doubled for the next
// time), or until the stream's next leader is announced, or ctx ends.
func (e *Engine) pause(ctx context.Context, stream string, backoff *time.Duration, deadline time.Time) {
	d := min(*backoff, deadline.Sub(clock.Real{}.Now()))
	*backoff = min(2**backoff, retryMax)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-e.leaders.next(stream).Done():
	case <-ctx.Done():
	}
}

// request sends m and waits for its one answer, at most timeout, or until
// gen ends (the stream's leader changed: context.Canceled). It is nats.go's
// RequestMsgWithContext — the same message, answered once on a reply
// subject — with the reply on a slot of the engine's (replies.go), as a
// single node's writes have it: without the request inbox's goroutine,
// map entry and channel per request, and without a context and its timer
// made per attempt (update-nats against update in BenchmarkAckPath: ~5 µs
// of a write). Its errors are RequestMsgWithContext's: nats.ErrNoResponders
// (the server's 503: nobody takes the subject), context.DeadlineExceeded,
// nats.ErrConnectionClosed.
func (e *Engine) request(gen context.Context, m *nats.Msg, timeout time.Duration) (*nats.Msg, error) {
	e.repliesOnce.Do(func() { e.replies = newReplies(e.nc) })
	rep := e.replies
	slot, err := rep.get()
	if err != nil {
		return nil, err
	}
	m.Reply = slot.subject
	err = e.nc.PublishMsg(m) // copied into the connection's buffer before it returns
	m.Reply = ""
	if err != nil {
		rep.drop(slot) // whether anything was sent is not known
		return nil, err
	}
	t := timers.Get().(*time.Timer)
	t.Reset(timeout)
	defer func() { t.Stop(); timers.Put(t) }()
	var end error
	for end == nil {
		select {
		case resp := <-slot.ch:
			if slot.mine(resp) {
				return answered(rep, slot, resp)
			} // else an answer to the slot's earlier use
		case <-gen.Done():
			end = gen.Err()
		case <-t.C:
			end = context.DeadlineExceeded
		case <-e.closed:
			end = nats.ErrConnectionClosed
		}
	}
	for len(slot.ch) > 0 { // it came meanwhile: what was done is known
		if resp := <-slot.ch; slot.mine(resp) {
			return answered(rep, slot, resp)
		}
	}
	rep.drop(slot)
	return nil, end
}

// answered gives back request's slot, whose one answer resp came.
func answered(rep *replies, slot *replySlot, resp *nats.Msg) (*nats.Msg, error) {
	rep.put(slot)
	if noResponders(resp) {
		return nil, nats.ErrNoResponders
	}
	return resp, nil
}
