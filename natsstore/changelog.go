package natsstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

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

// Log opens or creates the stream name as a store.Log.
func (e *Engine) Log(ctx context.Context, name string, o LogOptions) (store.Log, error) {
	maxBytes := o.MaxBytes
	if maxBytes == 0 {
		maxBytes = -1
	}
	s, err := e.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:      name,
		Subjects:  o.Subjects,
		Storage:   e.storage,
		Retention: jetstream.LimitsPolicy,
		Discard:   jetstream.DiscardOld,
		MaxAge:    o.MaxAge,
		MaxBytes:  maxBytes,
		Replicas:  1,
	})
	if err != nil {
		return nil, fmt.Errorf("natsstore: open log %s: %w", name, err)
	}
	return &log{js: e.js, s: s, name: name}, nil
}

type log struct {
	js   jetstream.JetStream
	s    jetstream.Stream
	name string
}

var _ store.Log = (*log)(nil)

func (l *log) Append(ctx context.Context, subject string, data []byte) (uint64, error) {
	ack, err := l.js.Publish(ctx, subject, data)
	if err != nil {
		return 0, fmt.Errorf("natsstore: append to %s %q: %w", l.name, subject, err)
	}
	return ack.Sequence, nil
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

// OpenCursor uses a durable pull consumer with one record in flight, so
// records are handed out strictly in order. An existing cursor is reopened
// where it stood; a new one starts at from (0: after the newest record).
func (l *log) OpenCursor(ctx context.Context, name string, subjects []string, from uint64) (store.Cursor, error) {
	c, err := l.s.Consumer(ctx, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cfg := jetstream.ConsumerConfig{
			Durable:        name,
			FilterSubjects: subjects,
			DeliverPolicy:  jetstream.DeliverNewPolicy,
			AckPolicy:      jetstream.AckExplicitPolicy,
			AckWait:        CursorAckWait,
			MaxAckPending:  1,
			MaxDeliver:     -1,
		}
		if from > 0 {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
		}
		c, err = l.s.CreateConsumer(ctx, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("natsstore: open cursor %s on %s: %w", name, l.name, err)
	}
	it, err := c.Messages(jetstream.PullMaxMessages(1))
	if err != nil {
		return nil, fmt.Errorf("natsstore: open cursor %s on %s: %w", name, l.name, err)
	}
	return &cursor{it: it, name: name}, nil
}

func (l *log) DeleteCursor(ctx context.Context, name string) error {
	err := l.s.DeleteConsumer(ctx, name)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("natsstore: delete cursor %s on %s: %w", name, l.name, err)
	}
	return nil
}

func (l *log) Cursors(ctx context.Context) ([]string, error) {
	lister := l.s.ConsumerNames(ctx)
	var names []string
	for n := range lister.Name() {
		names = append(names, n)
	}
	if err := lister.Err(); err != nil {
		return nil, fmt.Errorf("natsstore: list cursors of %s: %w", l.name, err)
	}
	sort.Strings(names)
	return names, nil
}

type cursor struct {
	it   jetstream.MessagesContext
	name string
	once sync.Once
}

func (c *cursor) Next(ctx context.Context) (store.Pending, error) {
	stop := context.AfterFunc(ctx, c.Close)
	defer stop()
	m, err := c.it.Next()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("natsstore: cursor %s: %w", c.name, err)
	}
	return pending{m}, nil
}

func (c *cursor) Close() { c.once.Do(c.it.Stop) }

type pending struct{ m jetstream.Msg }

func (p pending) Record() store.Record { return record(p.m) }
func (p pending) Done() error          { return p.m.DoubleAck(context.Background()) }
func (p pending) Working() error       { return p.m.InProgress() }

// CursorAckWait is how long a handed-out record may go without Done or
// Working before it is handed out again. Short, because it is also how long
// a record that was in flight when the process died waits after a restart.
const CursorAckWait = 5 * time.Second
