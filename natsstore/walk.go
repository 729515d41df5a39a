package natsstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/store"
)

// Walk implements store.KV (in a cluster: walkCluster, walkcluster.go)
// with an ordered consumer on the bucket's stream (pull-based: nats.go
// asks for a few hundred messages at a time, so neither side holds more),
// filtered to the prefix's subjects, delivering
// the last message of each subject (DeliverLastPerSubject) in stream order.
//
// A bucket keeps one message per key (MaxMsgsPer 1): nats-server starts
// that consumer at the stream's first sequence and delivers every message
// still there when it reaches it. A key rewritten before the consumer
// reaches it has lost its message there; its new one is further on. So
// the walk cannot stop at a sequence fixed while it reads: a key not
// reached yet may be rewritten before that sequence (S1) and again after
// it (S2) before the walk reaches S1, and never be delivered (it used to
// stop at the stream's last sequence as of passing the messages picked at
// its start, and lost such keys: TestWalkPassesAKeyRewrittenTwice).
//
// It ends on one of two exact conditions:
//   - Caught up: a message says the consumer has nothing more pending.
//     It has passed every message there is, so each live key's.
//   - Counted: before the consumer is made, the walk reads the stream's
//     last sequence L; the consumer's NumPending at its creation (moment
//     T) is N, the messages under the filter alive at T; D counts those
//     it delivers at or before L. Each was written before T and read by
//     the server after T (the consumers made again after a reset or a
//     stall read after T too), so alive at T: D <= N, and D == N means
//     every message alive at T was delivered — every key live at the
//     start was passed. The walk ends there, even before L.
//
// Past L with D < N (a key ahead of it was rewritten, or a write fell
// between reading L and T) it reads on until caught up. It does not start
// over with a new count (the design first built, in rounds): each round
// ended at its own L, so under writes that kept coming it could not catch
// up, and a write between a round's two reads (a few hundred
// microseconds) left the round's count one short — with a steady writer
// of new keys, slower than the walk, it ended only on a round without
// one, after 39 to 144 rounds (TestWalkEndsUnderSteadyWrites); and a
// round passing L short moved past a record the engine counts but cannot
// read, unreported (TestWalkReportsUnreadableRecords failed). What bounds
// it: writes that come slower than it reads, to any key, do not keep it
// walking (it catches up). What does not: writes that keep coming as fast
// as it reads under the prefix — a key rewritten ahead of it each time
// just before it gets there cannot be read in stream order; it ends when
// they slow down. Past L short it says so at DEBUG.
//
// The count rests on one thing it cannot check: nats-server counts a
// message written after T when its (asynchronous) signal reaches the
// consumer, but uncounts a deleted one at once, so a key written after T
// and rewritten within microseconds, before the signal, can leave N one
// short — and a loss in the same walk then unseen. The caught-up
// condition has the same dependency (it was the only one before).
//
// Delete and purge markers are not passed (they count). After a consumer
// reset (nats.go makes a new consumer from the next sequence on a gap) the
// messages come from the stream as it is: with one revision per key,
// still each key's last.
//
// BenchmarkWalk, 100,000 keys of 130 bytes, on the shared 2-core machine
// under load 4-6: 0.68 s (6.8 µs a key; 10.5 µs of CPU a key, engine and
// client together), adding at most ~9 MB of live heap while it runs
// (mostly the engine's 4 MB block buffer and one pull of messages; it does
// not grow with the number of keys).
func (b *kv) Walk(ctx context.Context, prefix string, fn func(store.Entry) error) error {
	if !validKeyChars(prefix) {
		return nil // no key can start with it
	}
	var fnErr error
	err := b.walk(ctx, prefix, func(e store.Entry) error {
		fnErr = fn(e)
		return fnErr
	})
	if err != nil && err != fnErr {
		return fmt.Errorf("natsstore: walk %s/%q: %w", b.name, prefix, err)
	}
	return err
}

func (b *kv) walk(ctx context.Context, prefix string, fn func(store.Entry) error) error {
	if b.e.opts.clustered() {
		return b.walkCluster(ctx, prefix, fn)
	}
	lastSeq, err := b.lastSeq(ctx) // L: read before the consumer counts
	if err != nil {
		return err
	}
	first := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{b.prefix + filterOf(prefix)},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	}
	cons, it, err := b.orderedOnLeader(ctx, first)
	if err != nil {
		return err
	}
	defer func() { b.dropConsumer(ctx, cons, it) }() // the last one made
	info := cons.CachedInfo()
	if info == nil {
		return fmt.Errorf("no consumer info after creating the consumer")
	}
	if info.NumPending == 0 {
		return nil // no key under prefix
	}
	// N, the messages under the filter alive when the consumer was made,
	// and D, those delivered at or before lastSeq (see Walk).
	count, counted := info.NumPending, uint64(0)
	// What the last message said: how many more the consumer counts on
	// delivering, its number among the consumer's deliveries, and its
	// stream sequence.
	pending, delivered, last := info.NumPending, uint64(0), uint64(0)
	past := false          // past lastSeq with D short of N (logged once)
	idles, remakes := 0, 0 // idle waits in a row; consumers made again
	wait := newIdleWait(ctx, walkIdle)
	defer wait.stop()
	for {
		if err := ctx.Err(); err != nil {
			return err // Next may still hand out what it holds
		}
		m, err := it.Next(jetstream.NextContext(wait.ctx))
		if err != nil {
			if !wait.idle() || ctx.Err() != nil {
				return err
			}
			// Nothing came for a while: a slow engine, records it
			// counts but cannot read, or a consumer that stalled. Ask it.
			ci, err, done, end := b.askIdle(ctx, cons, pending, delivered)
			if done {
				return b.unreadableOrDrift(ctx, end, first.FilterSubjects[0], lastSeq, last)
			}
			if idles++; idles >= walkStall {
				// It counts more to deliver and delivers nothing, or does
				// not answer (its server died: nats.go would make it again
				// once its heartbeats stop, but never notices while Next
				// waits walkIdle at a time): make it again, from the
				// message after the last one passed.
				if remakes++; remakes > walkRemakes {
					return fmt.Errorf("%w: the walk's consumer made no progress for %v, %d times", store.ErrUnavailable, walkStall*walkIdle, remakes-1)
				}
				why := []any{"stream", b.stream, "after_seq", last, "stalled_for", walkStall * walkIdle}
				if err != nil {
					why = append(why, "err", err)
				} else {
					why = append(why, "pending", ci.NumPending, "served_by", servedBy(ci))
				}
				b.e.log.Warn("natsstore: a walk's consumer delivers nothing though it counts more pending, or does not answer; making it again", why...)
				b.dropConsumer(ctx, cons, it)
				cfg := first
				if last > 0 {
					// A bucket keeps one revision per key: past last, the
					// stream holds exactly the keys' last messages not
					// passed yet (and delete markers).
					cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, last+1
				}
				if cons, it, err = b.orderedOnLeader(ctx, cfg); err != nil {
					cons, it = nil, nil
					return err
				}
				if info := cons.CachedInfo(); info != nil {
					if info.NumPending == 0 {
						return nil
					}
					pending = info.NumPending
				}
				delivered, idles = 0, 0
			}
			wait.again(ctx)
			continue
		}
		wait.reset()
		idles = 0
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		seq := meta.Sequence.Stream
		pending, delivered = meta.NumPending, meta.Sequence.Consumer
		if seq <= last {
			continue // passed (and counted) already
		}
		last = seq
		if key, ok := strings.CutPrefix(m.Subject(), b.prefix); ok && strings.HasPrefix(key, prefix) && !deleted(m.Headers()) {
			if err := fn(store.Entry{Key: key, Value: m.Data(), Revision: seq}); err != nil {
				return err
			}
		}
		if seq <= lastSeq {
			counted++
		}
		if counted == count || meta.NumPending == 0 {
			return nil
		}
		if seq >= lastSeq && !past {
			past = true
			b.e.log.Debug("natsstore: a walk passed the stream's last sequence as of its start, keys short (rewritten ahead of it); it reads on until caught up",
				"stream", b.stream, "prefix", prefix, "last_seq", lastSeq, "alive_at_start", count, "passed", counted)
		}
	}
}

// unreadableOrDrift is how a walk ends when its consumer, asked after an
// idle wait, has nothing more to deliver (end, from askIdle): with an
// UnreadableError when the last message said more were pending — unless
// that count drifted. nats-server's count of a consumer's pending
// messages grows by one when a message the consumer skips (it was deleted
// as the consumer got there) is uncounted after the skip (consumer.go
// "getNextMsg skips a deleted msg, and then the decStreamPending call
// fires"): under writes that rewrite keys ahead of a walk, its last
// message said 3 to 6 more were pending, none were, and the walk ended
// "unreadable" (TestWalkSlowAndWritten, 4 runs in 5). A damaged record
// and a drift look the same to the walk; a drift needs deletes during the
// walk. So when the stream was written after the walk read its last
// sequence (lastSeq) and holds nothing under the filter after the last
// message passed (last), the walk ends complete — the stream holds
// nothing it has not passed — and says so at INFO; a damaged record in a
// bucket written during its check walk goes unreported then, and the next
// check walk reports it.
func (b *kv) unreadableOrDrift(ctx context.Context, end error, filter string, lastSeq, last uint64) error {
	var ue *UnreadableError
	if !errors.As(end, &ue) {
		return end
	}
	s, err := b.js.Stream(ctx, b.stream)
	if err != nil {
		return end
	}
	if s.CachedInfo().State.LastSeq <= lastSeq {
		return end // nothing written during the walk: no drift
	}
	if _, err := s.GetMsg(ctx, last+1, jetstream.WithGetMsgSubject(filter)); !errors.Is(err, jetstream.ErrMsgNotFound) {
		return end
	}
	b.e.log.Info("natsstore: a walk's consumer counted more pending than the stream holds past the walk's last message, the stream written meanwhile; the walk is complete",
		"stream", b.stream, "last_seq", last, "counted_pending", ue.Records)
	return nil
}

// askIdle asks a consumer that delivered nothing for walkIdle how it
// stands (a walk's or a replay's). done: the walk ends with end — nothing
// more is coming (nil), though the consumer counted pending more (those
// records are unreadable: an UnreadableError), or ctx ended. Otherwise ci,
// or the error asking it, says why it is still waiting.
func (b *kv) askIdle(ctx context.Context, cons jetstream.Consumer, pending, delivered uint64) (ci *jetstream.ConsumerInfo, err error, done bool, end error) {
	ictx, cancel := context.WithTimeout(ctx, walkIdle)
	ci, err = cons.Info(ictx)
	cancel()
	if err != nil && ctx.Err() != nil {
		return nil, err, true, ctx.Err()
	}
	if err == nil && ci.NumPending == 0 && ci.Delivered.Consumer <= delivered {
		if pending > 0 {
			return ci, nil, true, &UnreadableError{Stream: b.stream, Records: pending}
		}
		return ci, nil, true, nil
	}
	return ci, err, false, nil
}

// A walk's consumer can stall: right after a node's restart, seen in the
// cluster tests, its pull request was lost on the way to the server that
// serves the consumer (which then counted every key pending, delivered
// none and had no request waiting), and nats.go's own remedy — making the
// consumer again once its heartbeats stop — never runs while Walk waits
// walkIdle at a time. So a walk whose consumer delivers nothing for
// walkStall idle waits in a row, while it counts more, makes it again; it
// gives up, with store.ErrUnavailable, after walkRemakes of them.
const (
	walkStall   = 5
	walkRemakes = 5
)

// dropConsumer stops a walk's messages and deletes its consumer (nats.go
// leaves it to expire after 5 minutes idle).
func (b *kv) dropConsumer(ctx context.Context, cons jetstream.Consumer, it jetstream.MessagesContext) {
	if cons == nil {
		return
	}
	it.Stop()
	if info := cons.CachedInfo(); info != nil {
		_ = b.js.DeleteConsumer(context.WithoutCancel(ctx), b.stream, info.Name)
	}
}

// servedBy names the server that serves a consumer ("" on a single node).
func servedBy(ci *jetstream.ConsumerInfo) string {
	if ci.Cluster == nil {
		return ""
	}
	return ci.Cluster.Leader
}

// walkIdle is how long Walk waits for the next message before asking the
// engine whether anything is left for it. A record the engine cannot read
// (damaged on disk, its checksum wrong) is counted among the consumer's
// pending messages but never delivered: without asking, the walk would wait
// for it forever (and the cache warm-up never end).
var walkIdle = time.Second

// errIdle is the cause of an idleWait's context when walkIdle passed.
var errIdle = errors.New("natsstore: no message for a while")

// idleWait is a context for one wait for a message that ends after d
// without one. Reset costs a timer reset per message, no allocation; only
// an idle period makes a new context.
type idleWait struct {
	d      time.Duration
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
}

func newIdleWait(parent context.Context, d time.Duration) *idleWait {
	w := &idleWait{d: d}
	w.again(parent)
	return w
}

// again starts a new wait after an idle one.
func (w *idleWait) again(parent context.Context) {
	w.stop()
	ctx, cancel := context.WithCancelCause(parent)
	w.ctx, w.cancel = ctx, cancel
	w.timer = time.AfterFunc(w.d, func() { cancel(errIdle) })
}

func (w *idleWait) reset() { w.timer.Reset(w.d) }

func (w *idleWait) idle() bool { return context.Cause(w.ctx) == errIdle }

func (w *idleWait) stop() {
	if w.timer != nil {
		w.timer.Stop()
		w.cancel(nil)
	}
}

// UnreadableError reports records a stream counts but the engine could not
// read: their files are damaged (docs/durability.md).
type UnreadableError struct {
	Stream  string
	Records uint64
}

func (e *UnreadableError) Error() string {
	return fmt.Sprintf("%d record(s) of stream %s could not be read: the engine's files are damaged (run presenced check)", e.Records, e.Stream)
}

// Is makes errors.Is(err, store.ErrUnreadable) true.
func (e *UnreadableError) Is(target error) bool { return target == store.ErrUnreadable }

// lastSeq is the sequence of the last message in the bucket's stream.
func (b *kv) lastSeq(ctx context.Context) (uint64, error) {
	s, err := b.js.Stream(ctx, b.stream)
	if err != nil {
		return 0, err
	}
	return s.CachedInfo().State.LastSeq, nil
}

// filterOf is the subject filter, relative to the bucket, that holds every
// key under prefix: the prefix up to its last dot, if that is whole
// tokens, then ">"; otherwise every key (">"), left to the caller to sift.
func filterOf(prefix string) string {
	if i := strings.LastIndexByte(prefix, '.'); i >= 0 && validTokens(prefix[:i]) {
		return prefix[:i+1] + ">"
	}
	return ">"
}
