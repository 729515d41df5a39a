package natsstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/store"
)

// Watch implements store.KV: one ordered consumer on the bucket's stream,
// filtered to the prefix's subjects, from the stream's next sequence as
// of the call. The start is a sequence, not "deliver new": nats.go makes
// a new consumer when one is lost (its node died, the connection was
// lost), from the message after the last delivered, or — when none was
// delivered yet — with the first consumer's settings, which for "deliver
// new" would skip what was written in between.
func (b *kv) Watch(ctx context.Context, prefix string) (store.Watcher, error) {
	w := newWatcher(ctx)
	if err := w.add(ctx, b, prefix); err != nil {
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
		if err := w.add(ctx, b, prefix); err != nil {
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

// add starts following b's keys under prefix.
func (w *watcher) add(ctx context.Context, b *kv, prefix string) error {
	if !validKeyChars(prefix) {
		return nil // no key can start with it
	}
	var (
		cons jetstream.Consumer
		it   jetstream.MessagesContext
		last uint64
	)
	err := b.e.retry(ctx, "a watch on "+b.stream, func(ctx context.Context) error {
		var err error
		last, err = b.lastSeq(ctx)
		if err != nil {
			return err
		}
		cons, err = b.js.OrderedConsumer(ctx, b.stream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{b.prefix + filterOf(prefix)},
			DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:    last + 1,
		})
		if err != nil {
			return err
		}
		it, err = cons.Messages() // creates the consumer on the server
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
		it.Stop()
		return errWatchStopped
	}
	w.subs = append(w.subs, watchSub{b: b, cons: cons, it: it})
	w.wg.Go(func() { w.follow(b, prefix, it, last+1) })
	return nil
}

// follow hands it's changes to Next until the watch stops or fails. next
// is the stream sequence expected next: a delivered one beyond it means
// messages were removed before they were delivered (History 1: replaced
// by a newer revision of their key, stored later in the stream), so the
// changes are marked Skipped until one is delivered with nothing pending
// (every replacement stored before the skip has been delivered by then).
// (A presence partition holds only the watched "u." keys; a bucket with
// other keys is marked more often than needed, never less.)
func (w *watcher) follow(b *kv, prefix string, it jetstream.MessagesContext, next uint64) {
	skipped := false
	for {
		m, err := it.Next()
		if err != nil {
			select {
			case <-w.stop:
			case w.ch <- watchItem{err: fmt.Errorf("natsstore: watch %s: %w", b.name, err)}:
			}
			return
		}
		meta, err := m.Metadata()
		if err != nil {
			skipped = true // its sequence is not known
			continue
		}
		seq := meta.Sequence.Stream
		if seq != next {
			skipped = true
		}
		next = seq + 1
		key, ok := strings.CutPrefix(m.Subject(), b.prefix)
		if !ok || !strings.HasPrefix(key, prefix) {
			continue
		}
		c := store.Change{Key: key, Revision: seq, Skipped: skipped}
		if meta.NumPending == 0 {
			skipped = false
		}
		if deleted(m.Headers()) {
			c.Deleted = true
		} else {
			c.Value = m.Data()
		}
		select {
		case <-w.stop:
			return
		case w.ch <- watchItem{c: c}:
		}
	}
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
			s.it.Stop()
		}
		w.wg.Wait()
		for _, s := range subs {
			// nats.go leaves it to expire after 5 minutes idle.
			if info := s.cons.CachedInfo(); info != nil {
				ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
				_ = s.b.js.DeleteConsumer(ctx, s.b.stream, info.Name)
				cancel()
			}
		}
	})
}
