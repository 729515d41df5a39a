package natsstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/store"
)

// The core saves its cache with the positions of the presence partitions'
// streams it reflects, and after a restart reads only what was written
// after them (store.Resumable). A KV bucket keeps one revision per key, so
// what a stream holds after a sequence is each key written since at its
// newest revision, and delete markers: reading it costs what was written
// since, never the whole bucket.

var (
	_ store.Resumable = (*kv)(nil)
	_ store.Resumable = (*partitioned)(nil)
)

// position is the bucket's stream's position now. In a cluster it is
// asked of the stream's leader through Engine.do (streamInfo), bounded per
// attempt and asked again, as LastRevision is: the core's follower reads
// it at every start.
func (b *kv) position(ctx context.Context) (store.Position, error) {
	if b.e.opts.clustered() {
		info, err := b.e.streamInfo(ctx, b.stream)
		if err != nil {
			return store.Position{}, fmt.Errorf("natsstore: position of %s: %w", b.stream, unavailable(err))
		}
		return store.Position{Stream: b.stream, Created: info.created.UnixNano(), Seq: info.state.LastSeq}, nil
	}
	s, err := b.js.Stream(ctx, b.stream)
	if err != nil {
		return store.Position{}, fmt.Errorf("natsstore: position of %s: %w", b.stream, unavailable(err))
	}
	info := s.CachedInfo()
	return store.Position{Stream: b.stream, Created: info.Created.UnixNano(), Seq: info.State.LastSeq}, nil
}

// Positions implements store.Resumable: the bucket is one partition.
func (b *kv) Positions(ctx context.Context) ([]store.Position, error) {
	p, err := b.position(ctx)
	if err != nil {
		return nil, err
	}
	return []store.Position{p}, nil
}

// Positions implements store.Resumable.
func (p *partitioned) Positions(ctx context.Context) ([]store.Position, error) {
	out := make([]store.Position, len(p.parts))
	for i, b := range p.parts {
		var err error
		if out[i], err = b.position(ctx); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// errForeign: positions of other streams than the bucket's.
var errForeign = errors.New("the positions are not of this bucket's streams")

// checkPositions reports whether ps are positions of bs's streams.
func checkPositions(bs []*kv, ps ...[]store.Position) error {
	for _, p := range ps {
		if len(p) != len(bs) {
			return fmt.Errorf("natsstore: %w: %d positions for %d partitions", errForeign, len(p), len(bs))
		}
		for i, b := range bs {
			if p[i].Stream != b.stream {
				return fmt.Errorf("natsstore: %w: partition %d is %s, not %s", errForeign, i, b.stream, p[i].Stream)
			}
		}
	}
	return nil
}

// WatchFrom implements store.Resumable.
func (b *kv) WatchFrom(ctx context.Context, prefix string, after []store.Position) (store.Watcher, error) {
	return watchFromPositions(ctx, []*kv{b}, prefix, after)
}

// WatchFrom implements store.Resumable.
func (p *partitioned) WatchFrom(ctx context.Context, prefix string, after []store.Position) (store.Watcher, error) {
	return watchFromPositions(ctx, p.parts, prefix, after)
}

func watchFromPositions(ctx context.Context, bs []*kv, prefix string, after []store.Position) (store.Watcher, error) {
	if err := checkPositions(bs, after); err != nil {
		return nil, err
	}
	w := newWatcher(ctx)
	for i, b := range bs {
		if err := w.add(ctx, b, prefix, after[i].Seq+1); err != nil {
			w.Stop()
			return nil, err
		}
	}
	return w, nil
}

// Replay implements store.Resumable.
func (b *kv) Replay(ctx context.Context, prefix string, after, upTo []store.Position, fn func(store.Change) error) error {
	return replayPositions(ctx, []*kv{b}, prefix, after, upTo, fn)
}

// Replay implements store.Resumable: the partitions one after the other.
func (p *partitioned) Replay(ctx context.Context, prefix string, after, upTo []store.Position, fn func(store.Change) error) error {
	return replayPositions(ctx, p.parts, prefix, after, upTo, fn)
}

func replayPositions(ctx context.Context, bs []*kv, prefix string, after, upTo []store.Position, fn func(store.Change) error) error {
	if err := checkPositions(bs, after, upTo); err != nil {
		return err
	}
	if !validKeyChars(prefix) {
		return nil
	}
	for i, b := range bs {
		var fnErr error
		err := b.replay(ctx, prefix, after[i].Seq, upTo[i].Seq, func(c store.Change) error {
			c.Partition = i
			fnErr = fn(c)
			return fnErr
		})
		if err != nil {
			if err == fnErr {
				return err
			}
			return fmt.Errorf("natsstore: replay %s/%q after %d: %w", b.name, prefix, after[i].Seq, err)
		}
	}
	return nil
}

// replay reads the bucket's changes under prefix with sequences after
// after, up to upTo, with one ordered consumer (in a cluster:
// replayCluster). A consumer that delivers nothing for walkStall idle
// waits while it counts more ends the replay with store.ErrUnavailable (the caller has a slower way: the warm-up);
// records it counts but never delivers, with an UnreadableError.
func (b *kv) replay(ctx context.Context, prefix string, after, upTo uint64, fn func(store.Change) error) error {
	if upTo <= after {
		return nil
	}
	if b.e.opts.clustered() {
		return b.replayCluster(ctx, prefix, after, upTo, fn)
	}
	cons, it, err := b.orderedOnLeader(ctx, watchFrom(b, prefix, after+1))
	if err != nil {
		return unavailable(err)
	}
	defer b.dropConsumer(ctx, cons, it)
	info := cons.CachedInfo()
	if info == nil {
		return fmt.Errorf("no consumer info after creating the consumer")
	}
	if info.NumPending == 0 {
		return nil
	}
	pending, delivered := info.NumPending, uint64(0)
	idles := 0
	wait := newIdleWait(ctx, walkIdle)
	defer wait.stop()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := it.Next(jetstream.NextContext(wait.ctx))
		if err != nil {
			if !wait.idle() || ctx.Err() != nil {
				return err
			}
			if _, _, done, end := b.askIdle(ctx, cons, pending, delivered); done {
				return end
			}
			if idles++; idles >= walkStall {
				return fmt.Errorf("%w: the replay's consumer made no progress for %v", store.ErrUnavailable, walkStall*walkIdle)
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
		if seq > upTo {
			return nil
		}
		pending, delivered = meta.NumPending, meta.Sequence.Consumer
		if key, ok := strings.CutPrefix(m.Subject(), b.prefix); ok && strings.HasPrefix(key, prefix) {
			c := store.Change{Key: key, Revision: seq}
			if deleted(m.Headers()) {
				c.Deleted = true
			} else {
				c.Value = m.Data()
			}
			if err := fn(c); err != nil {
				return err
			}
		}
		if seq >= upTo || meta.NumPending == 0 {
			return nil
		}
	}
}
