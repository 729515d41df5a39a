package natsstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/store"
)

// LogOptions configure a log stream.
type LogOptions struct {
	// Subjects the stream takes, e.g. "chg.>".
	Subjects []string
	// MaxAge is how long records are kept (0: forever).
	MaxAge time.Duration
	// MaxBytes bounds the stream's size; the oldest records go first (0: no bound).
	MaxBytes int64
}

// Log opens or creates the stream name as a store.Log, with the layout's
// replicas (the first bucket or log opened checks the layout). In a
// cluster it waits, bounded by ctx, until the stream can be created or
// opened.
func (e *Engine) Log(ctx context.Context, name string, o LogOptions) (store.Log, error) {
	l, err := e.Layout(ctx)
	if err != nil {
		return nil, err
	}
	maxBytes := o.MaxBytes
	if maxBytes == 0 {
		maxBytes = -1
	}
	var s jetstream.Stream
	err = e.retry(ctx, fmt.Sprintf("log %s (%d replicas) to be created or opened", name, l.Replicas), func(ctx context.Context) (err error) {
		s, err = e.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name:      name,
			Subjects:  o.Subjects,
			Storage:   e.storage,
			Retention: jetstream.LimitsPolicy,
			Discard:   jetstream.DiscardOld,
			MaxAge:    o.MaxAge,
			MaxBytes:  maxBytes,
			Replicas:  l.Replicas,
		})
		if isNoSpace(err) {
			// As for buckets (Engine.Bucket): keep the stored settings.
			if s, err = e.js.Stream(ctx, name); err == nil {
				e.log.Warn("opened log with its stored settings: the disk is full", "log", name)
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("natsstore: open log %s: %w", name, fullIfExhausted(err))
	}
	e.mu.Lock()
	e.streams[name] = true
	e.mu.Unlock()
	lg := &log{js: e.js, e: e, s: s, name: name}
	if !e.opts.clustered() {
		lg.g = e.guard // as for buckets: a quorum stores a clustered write
	}
	return lg, nil
}

type log struct {
	g    *guard // keeps writes off a full disk (space.go); may be nil
	js   jetstream.JetStream
	e    *Engine // in a cluster, appends go through e.do (leader.go)
	s    jetstream.Stream
	name string
}

var _ store.Log = (*log)(nil)

func (l *log) Append(ctx context.Context, subject string, data []byte) (uint64, error) {
	return l.append(ctx, subject, data, nil)
}

func (l *log) AppendAfter(ctx context.Context, subject string, last uint64, data []byte) (uint64, error) {
	return l.append(ctx, subject, data, &last)
}

// append appends data under subject, after the record last if last is
// not nil.
func (l *log) append(ctx context.Context, subject string, data []byte, last *uint64) (uint64, error) {
	var (
		seq uint64
		err error
	)
	if l.e.opts.clustered() {
		seq, err = l.clusterAppend(ctx, subject, data, last)
	} else {
		var opts []jetstream.PublishOpt
		if last != nil {
			opts = append(opts, jetstream.WithExpectLastSequencePerSubject(*last))
		}
		err = l.g.write(ctx, func(ctx context.Context) error {
			ack, err := l.js.Publish(ctx, subject, data, opts...)
			if err == nil {
				seq = ack.Sequence
			}
			return err
		})
	}
	if err != nil {
		if last != nil && isConflict(err) {
			return 0, fmt.Errorf("natsstore: append to %s %q after %d: %w: %w", l.name, subject, *last, store.ErrConflict, err)
		}
		return 0, fmt.Errorf("natsstore: append to %s %q: %w", l.name, subject, unavailable(err))
	}
	return seq, nil
}

func (l *log) Last(ctx context.Context, subject string) (store.Record, error) {
	m, err := l.s.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return store.Record{}, fmt.Errorf("natsstore: last of %s %q: %w", l.name, subject, store.ErrNotFound)
	}
	if err != nil {
		return store.Record{}, fmt.Errorf("natsstore: last of %s %q: %w", l.name, subject, err)
	}
	return store.Record{Subject: m.Subject, Seq: m.Sequence, Time: m.Time, Data: m.Data}, nil
}

func (l *log) state(ctx context.Context) (jetstream.StreamState, error) {
	info, err := l.s.Info(ctx)
	if err != nil {
		return jetstream.StreamState{}, fmt.Errorf("natsstore: state of %s: %w", l.name, err)
	}
	return info.State, nil
}

func (l *log) LastSeq(ctx context.Context) (uint64, error) {
	st, err := l.state(ctx)
	return st.LastSeq, err
}

func (l *log) FirstSeq(ctx context.Context) (uint64, error) {
	st, err := l.state(ctx)
	if st.Msgs == 0 {
		return 0, err
	}
	return st.FirstSeq, err
}

func record(m jetstream.Msg) store.Record {
	r := store.Record{Subject: m.Subject(), Data: m.Data()}
	if md, err := m.Metadata(); err == nil {
		r.Seq = md.Sequence.Stream
		r.Time = md.Timestamp
	}
	return r
}

// Follow reads with an ordered (ephemeral, flow-controlled) consumer.
func (l *log) Follow(ctx context.Context, subjects []string, from uint64, fn func(store.Record) error) error {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: subjects, DeliverPolicy: jetstream.DeliverNewPolicy}
	if from > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = from
	}
	c, err := l.s.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("natsstore: follow %s: %w", l.name, err)
	}
	it, err := c.Messages()
	if err != nil {
		return fmt.Errorf("natsstore: follow %s: %w", l.name, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("natsstore: follow %s: %w", l.name, err)
		}
		if err := fn(record(m)); err != nil {
			return err
		}
	}
}

// Read reads with an ordered consumer, fetching what is there without
// waiting, until it reaches to or runs out.
func (l *log) Read(ctx context.Context, subjects []string, from, to uint64, fn func(store.Record) error) error {
	if from == 0 {
		from = 1
	}
	if to < from {
		return nil
	}
	c, err := l.s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: subjects, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from,
	})
	if err != nil {
		return fmt.Errorf("natsstore: read %s: %w", l.name, err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch, err := c.FetchNoWait(256)
		if err != nil {
			return fmt.Errorf("natsstore: read %s: %w", l.name, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			r := record(m)
			if r.Seq > to {
				return nil
			}
			if err := fn(r); err != nil {
				return err
			}
			if md, err := m.Metadata(); err == nil && md.NumPending == 0 || r.Seq == to {
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("natsstore: read %s: %w", l.name, err)
		}
		if n == 0 {
			return nil
		}
	}
}
