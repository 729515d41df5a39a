package natsstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/store"
)

var _ store.SerialKV = (*kv)(nil)

// PutAfter implements store.SerialKV with JetStream's expected last
// sequence of the stream (Nats-Expected-Last-Sequence), which the engine
// checks against the bucket's stream as a whole, every key's writes and
// deletes together.
func (b *kv) PutAfter(ctx context.Context, key string, value []byte, after uint64) (uint64, error) {
	rev, err := b.publishAfter(ctx, &nats.Msg{Subject: b.prefix + key, Data: value, Header: nats.Header{}}, key, after)
	if err != nil {
		return 0, fmt.Errorf("natsstore: put %s/%q after revision %d: %w", b.name, key, after, err)
	}
	return rev, nil
}

// DeleteAfter implements store.SerialKV: the delete marker KeyValue.Delete
// writes, published after the bucket's revision after.
func (b *kv) DeleteAfter(ctx context.Context, key string, after uint64) (uint64, error) {
	m := &nats.Msg{Subject: b.prefix + key, Header: nats.Header{hdrKVOperation: {"DEL"}}}
	rev, err := b.publishAfter(ctx, m, key, after)
	if err != nil {
		return 0, fmt.Errorf("natsstore: delete %s/%q after revision %d: %w", b.name, key, after, err)
	}
	return rev, nil
}

func (b *kv) publishAfter(ctx context.Context, m *nats.Msg, key string, after uint64) (uint64, error) {
	if !validKey(key) {
		return 0, jetstream.ErrInvalidKey
	}
	m.Header.Set(jetstream.ExpectedLastSeqHeader, strconv.FormatUint(after, 10))
	var rev uint64
	if b.e.opts.clustered() {
		// Through the cluster's exchange (leader.go): sent again only when
		// it surely did not take effect. It took effect if the key now
		// holds what was sent, at a revision past after.
		del := m.Header.Get(hdrKVOperation) == "DEL"
		err := b.e.do(ctx, m, b.stream, exchange{answer: pubAnswer(b.stream, &rev),
			settled: func(ctx context.Context) (bool, error) {
				cur, gone, err := b.leaderGet(ctx, key)
				if err != nil || cur.Revision <= after || gone != del || !del && !bytes.Equal(cur.Value, m.Data) {
					return false, err
				}
				rev = cur.Revision
				return true, nil
			}})
		if err != nil && isConflict(err) {
			return 0, fmt.Errorf("%w: %w", store.ErrConflict, err)
		}
		return rev, unavailable(err)
	}
	err := b.g.write(ctx, func(ctx context.Context) error {
		resp, err := b.nc.RequestMsgWithContext(ctx, m)
		if err != nil {
			if errors.Is(err, nats.ErrNoResponders) {
				return jetstream.ErrNoStreamResponse
			}
			return err
		}
		rev, err = parseAck(resp.Data, b.stream)
		return fullIfExhausted(err)
	})
	if err != nil && isConflict(err) {
		return 0, fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	return rev, err
}

// LastRevision implements store.SerialKV: the bucket's stream's last
// sequence. In a cluster it is asked of the stream's leader through
// Engine.do (streamInfo): a stream info sent once with the caller's
// context waited for all of it when no leader answered, and the
// directory, which reads it at every start, failed the node's start.
func (b *kv) LastRevision(ctx context.Context) (uint64, error) {
	if b.e.opts.clustered() {
		info, err := b.e.streamInfo(ctx, b.stream)
		if err != nil {
			return 0, fmt.Errorf("natsstore: last revision of %s: %w", b.name, unavailable(err))
		}
		return info.state.LastSeq, nil
	}
	s, err := b.js.Stream(ctx, b.stream)
	if err != nil {
		return 0, fmt.Errorf("natsstore: last revision of %s: %w", b.name, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("natsstore: last revision of %s: %w", b.name, err)
	}
	return info.State.LastSeq, nil
}
