package natsstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/store"
)

// Watch implements store.KV: a consumer on the bucket's stream, filtered
// to the prefix's subjects, from the stream's next sequence as of the
// call. The start is a sequence, not "deliver new": a consumer lost (its
// node died, the connection was lost) is made again from the message
// after the last delivered, or — when none was delivered yet — from the
// start, which for "deliver new" would skip what was written in between.
//
// On a single node the consumer is nats.go's ordered consumer (its server
// is this process). In a cluster it is not: nats.go makes an ordered
// consumer that was lost again under the same name, each attempt waiting
// 10 s for an answer, retried for ever and silently — and right after a
// kill -9 the meta leader may place it on the dead server, every retry
// with it (the same stall Log.Follow had, logfollow.go). The node's cache
// would stop following the engine without a word. So in a cluster a
// watch follows its stream as Log.Follow does (followCluster: consumers
// of its own, every step bounded, a new one from the next sequence when
// one stalls or its server goes), each placed on the stream's leader when
// it can be (leaderConsumer).
func (b *kv) Watch(ctx context.Context, prefix string) (store.Watcher, error) {
	w := newWatcher(ctx)
	if err := w.add(ctx, b, prefix, 0); err != nil {
		w.Stop()
		return nil, err
	}
	return w, nil
}

// Watch implements store.KV: the partitions' watches, merged. A key's
// changes all come from its partition's, so they stay in order.
func (p *partitioned) Watch(ctx context.Context, prefix string) (store.Watcher, error) {
	w := newWatcher(ctx)
	for _, b := range p.parts {
		if err := w.add(ctx, b, prefix, 0); err != nil {
			w.Stop()
			return nil, err
		}
	}
	return w, nil
}

// watchBuffer is how many changes a watch holds that Next has not taken;
// beyond it the consumers stop asking the engine for more.
const watchBuffer = 256

// watcher delivers the changes of one or more buckets' consumers.
type watcher struct {
	ch     chan watchItem
	stop   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	unhook func() bool // stops Stop from running when ctx ends; set under mu

	mu      sync.Mutex
	subs    []watchSub
	stopped bool // Stop has begun: add starts no more followers
}

type watchItem struct {
	c   store.Change
	err error
}

// watchSub is a follower's bucket and, on a single node, its ordered
// consumer (nil in a cluster: followCluster makes its own).
type watchSub struct {
	b    *kv
	cons jetstream.Consumer
	it   jetstream.MessagesContext
}

// newWatcher makes a watcher that stops when ctx ends.
func newWatcher(ctx context.Context) *watcher {
	w := &watcher{ch: make(chan watchItem, watchBuffer), stop: make(chan struct{})}
	// A context that has already ended runs Stop in a goroutine of its
	// own before AfterFunc returns: Stop reads unhook under mu, so it
	// waits for it to be set.
	w.mu.Lock()
	w.unhook = context.AfterFunc(ctx, w.Stop)
	w.mu.Unlock()
	return w
}

// add starts following b's keys under prefix, from stream sequence from
// (0: the stream's next as of the call). Its changes carry the number of
// subscriptions added before it as their Partition.
func (w *watcher) add(ctx context.Context, b *kv, prefix string, from uint64) error {
	if !validKeyChars(prefix) {
		return nil // no key can start with it
	}
	var (
		cons jetstream.Consumer
		it   jetstream.MessagesContext
		last uint64
	)
	clustered := b.e.opts.clustered()
	err := b.e.retry(ctx, "a watch on "+b.stream, func(ctx context.Context) error {
		var err error
		if last = from - 1; from == 0 {
			if last, err = b.lastSeq(ctx); err != nil {
				return err
			}
		}
		if clustered {
			return nil // the follower makes its consumers (followCluster)
		}
		cons, it, err = b.orderedOnLeader(ctx, watchFrom(b, prefix, last+1))
		return err
	})
	if err != nil {
		return fmt.Errorf("natsstore: watch %s/%q: %w", b.name, prefix, err)
	}
	// Under mu, which Stop takes before it waits for the followers: a
	// follower is started before that wait or not at all.
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		if it != nil {
			it.Stop()
		}
		return errWatchStopped
	}
	i := len(w.subs)
	w.subs = append(w.subs, watchSub{b: b, cons: cons, it: it})
	if clustered {
		w.wg.Go(func() { w.followCluster(i, b, prefix, last+1) })
	} else {
		w.wg.Go(func() { w.follow(i, b, prefix, it, last+1) })
	}
	return nil
}

// followCluster is follow in a cluster: b's stream followed as Log.Follow
// follows the log (logfollow.go), from next, the changes marked as follow
// marks them (watchState). It ends when the watch stops, or with an error
// the follow returned (store.ErrUnavailable after readWait of attempts
// that delivered nothing).
func (w *watcher) followCluster(i int, b *kv, prefix string, next uint64) {
	ctx, cancel := w.untilStop()
	defer cancel()
	st := watchState{next: next}
	err := b.streamLog().follow(ctx, []string{b.prefix + filterOf(prefix)}, next, watchPlacement, func(m *nats.Msg, md *jetstream.MsgMetadata) error {
		c, ok := st.change(i, b, prefix, m.Subject, m.Header, m.Data, md)
		if !ok {
			return nil
		}
		select {
		case <-w.stop:
			return errWatchStopped
		case w.ch <- watchItem{c: c}:
			return nil
		}
	})
	if ctx.Err() != nil || errors.Is(err, errWatchStopped) {
		return
	}
	select {
	case <-w.stop:
	case w.ch <- watchItem{err: fmt.Errorf("natsstore: watch %s: %w", b.name, err)}:
	}
}

// watchPlacement is where a cluster watch's consumers go: each node's
// own replica (home.go); a benchmark sets placeLeader, as before, to
// compare.
var watchPlacement = placeHome

// untilStop is a follower's context: it ends when the watch stops, or
// when the follower calls cancel (which it must, to end the goroutine
// that waits for the stop).
func (w *watcher) untilStop() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-w.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// streamLog is the bucket's stream as a log, to follow it (followCluster).
func (b *kv) streamLog() *log {
	return &log{js: b.js, e: b.e, name: b.stream, nc: b.nc}
}

// watchState is what a follower knows of its stream: the sequence it
// expects next, and whether it marks its changes Skipped, up to which
// sequence (see follow).
type watchState struct {
	next        uint64
	skipped     bool
	skippedUpTo uint64
}

// change is the Change of follower i's message (its subject, headers
// and data), whose metadata is md (nil: unreadable); ok is false for a
// message that is not one of the watch's changes.
func (s *watchState) change(i int, b *kv, prefix, subject string, h nats.Header, data []byte, md *jetstream.MsgMetadata) (c store.Change, ok bool) {
	if md == nil {
		s.skipped = true // its sequence is not known
		return store.Change{}, false
	}
	seq := md.Sequence.Stream
	if seq != s.next {
		// Nothing from next to seq-1 was delivered (a message whose
		// metadata was unreadable lies there too): the highest
		// sequence skipped so far is seq-1, as sequences only grow.
		s.skipped, s.skippedUpTo = true, seq-1
	}
	s.next = seq + 1
	key, ok := strings.CutPrefix(subject, b.prefix)
	if !ok || !strings.HasPrefix(key, prefix) {
		return store.Change{}, false
	}
	c = store.Change{Key: key, Revision: seq, Skipped: s.skipped, Partition: i, Stored: md.Timestamp}
	if s.skipped {
		c.SkippedUpTo = s.skippedUpTo
	}
	if md.NumPending == 0 {
		s.skipped = false
	}
	if deleted(h) {
		c.Deleted = true
	} else {
		c.Value = data
	}
	return c, true
}

// watchFrom is the configuration of a watch's consumer of b's keys under
// prefix from stream sequence next.
func watchFrom(b *kv, prefix string, next uint64) jetstream.OrderedConsumerConfig {
	return jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{b.prefix + filterOf(prefix)},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    next,
	}
}

// watchIdle is how long a watch waits for a change before it asks its
// consumer whether it holds some it has not delivered; watchStall is how
// many such answers in a row make it a stalled consumer, made again from
// the next sequence on the stream's leader. In a cluster a watch's
// consumer can stall for good or for long: right after a node's restart
// its pull request can be lost on the way to the server that serves it
// (seen in the cluster tests: the consumer counted every change pending,
// delivered none and had no request waiting); and nats.go makes a lost
// consumer again (its server stopped) on any replica of the stream, a
// lagging one included, whose catch-up stores messages without waking
// the consumers on it. nats.go's own remedy for the first (making the
// consumer again once its heartbeats stop, after 10 s) does not cover the
// second. An idle watch costs one consumer info request per watchIdle.
var watchIdle = 2 * time.Second

const watchStall = 2

// follow hands it's changes to Next until the watch stops or fails. next
// is the stream sequence expected next: a delivered one beyond it means
// messages were removed before they were delivered (History 1: replaced
// by a newer revision of their key, stored later in the stream), so the
// changes are marked Skipped until one is delivered with nothing pending
// (every replacement stored before the skip has been delivered by then),
// each with the highest sequence skipped so far (Change.SkippedUpTo).
// (A presence partition holds only the watched "u." keys; a bucket with
// other keys is marked more often than needed, never less.) A consumer
// that stalls (watchIdle) is made again from next: subs[i] is this
// follower's.
func (w *watcher) follow(i int, b *kv, prefix string, it jetstream.MessagesContext, next uint64) {
	st := watchState{next: next}
	stalls := 0
	ctx, cancel := w.untilStop()
	defer cancel()
	wait := newIdleWait(ctx, watchIdle)
	defer wait.stop()
	for {
		m, err := it.Next(jetstream.NextContext(wait.ctx))
		if err != nil && wait.idle() && ctx.Err() == nil {
			if it, err = w.checkStalled(ctx, i, b, prefix, st.next, &stalls); err == nil {
				wait.again(ctx)
				continue
			}
		}
		if err != nil {
			select {
			case <-w.stop:
			case w.ch <- watchItem{err: fmt.Errorf("natsstore: watch %s: %w", b.name, err)}:
			}
			return
		}
		wait.reset()
		stalls = 0
		md, err := m.Metadata()
		if err != nil {
			md = nil
		}
		c, ok := st.change(i, b, prefix, m.Subject(), m.Headers(), m.Data(), md)
		if !ok {
			continue
		}
		select {
		case <-w.stop:
			return
		case w.ch <- watchItem{c: c}:
		}
	}
}

// checkStalled is called when follower i's consumer delivered nothing for
// watchIdle: if the consumer counts changes it has not delivered, or does
// not answer, for watchStall checks in a row, it makes the consumer again, from next, on
// the stream's leader. It returns the follower's messages, new or not.
func (w *watcher) checkStalled(ctx context.Context, i int, b *kv, prefix string, next uint64, stalls *int) (jetstream.MessagesContext, error) {
	w.mu.Lock()
	sub := w.subs[i]
	w.mu.Unlock()
	ictx, cancel := context.WithTimeout(ctx, watchIdle)
	ci, err := sub.cons.Info(ictx)
	cancel()
	if err == nil && ci.NumPending == 0 {
		*stalls = 0 // nothing undelivered
		return sub.it, nil
	}
	// It counts changes it has not delivered, or it does not answer (its
	// server died: nats.go would make it again once its heartbeats stop,
	// but never notices while Next waits watchIdle at a time).
	if *stalls++; *stalls < watchStall {
		return sub.it, nil
	}
	*stalls = 0
	why := []any{"stream", b.stream, "from_seq", next}
	if err != nil {
		why = append(why, "err", err)
	} else {
		why = append(why, "pending", ci.NumPending, "served_by", servedBy(ci))
	}
	b.e.log.Warn("natsstore: a watch's consumer delivers nothing though it counts changes pending, or does not answer; making it again", why...)
	cons, it, err := b.orderedOnLeader(ctx, watchFrom(b, prefix, next))
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		it.Stop()
		return nil, errWatchStopped
	}
	w.subs[i] = watchSub{b: b, cons: cons, it: it}
	w.mu.Unlock()
	sub.it.Stop()
	if info := sub.cons.CachedInfo(); info != nil {
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		_ = b.js.DeleteConsumer(ctx, b.stream, info.Name)
		cancel()
	}
	return it, nil
}

func (w *watcher) Next(ctx context.Context) (store.Change, error) {
	select {
	case <-ctx.Done():
		return store.Change{}, ctx.Err()
	case <-w.stop:
		return store.Change{}, errWatchStopped
	case it := <-w.ch:
		return it.c, it.err
	}
}

var errWatchStopped = errors.New("natsstore: the watch was stopped")

func (w *watcher) Stop() {
	w.once.Do(func() {
		w.mu.Lock()
		unhook := w.unhook
		w.mu.Unlock()
		unhook()
		close(w.stop)
		w.mu.Lock()
		subs := w.subs
		w.stopped = true
		w.mu.Unlock()
		for _, s := range subs {
			if s.it != nil {
				s.it.Stop()
			}
		}
		w.wg.Wait()
		for _, s := range subs {
			if s.cons == nil {
				continue // a cluster's follower dropped its own (followCluster)
			}
			// nats.go leaves it to expire after 5 minutes idle.
			if info := s.cons.CachedInfo(); info != nil {
				ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
				_ = s.b.js.DeleteConsumer(ctx, s.b.stream, info.Name)
				cancel()
			}
		}
	})
}
