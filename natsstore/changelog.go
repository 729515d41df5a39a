package natsstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/clock"
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
	cfg := jetstream.StreamConfig{
		Name:      name,
		Subjects:  o.Subjects,
		Storage:   e.storage,
		Retention: jetstream.LimitsPolicy,
		Discard:   jetstream.DiscardOld,
		MaxAge:    o.MaxAge,
		MaxBytes:  maxBytes,
		Replicas:  l.Replicas,
		// LastMany reads with batched direct gets (a stream created
		// before this is updated to allow them).
		AllowDirect: true,
	}
	if err := e.createPast(ctx, cfg); err != nil {
		return nil, err
	}
	var s jetstream.Stream
	err = e.retry(ctx, fmt.Sprintf("log %s (%d replicas) to be created or opened", name, l.Replicas), func(ctx context.Context) (err error) {
		s, err = e.js.CreateOrUpdateStream(ctx, cfg)
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
	lg := &log{js: e.js, e: e, s: s, name: name, nc: e.nc, direct: s.CachedInfo().Config.AllowDirect}
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
	nc   *nats.Conn
	// direct: the stream answers direct gets (LastMany); a stream whose
	// settings could not be updated (a full disk) is read subject by subject.
	direct bool
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

// directTry bounds one direct get in a cluster before the leader is
// asked instead. A direct get goes to one member of a queue group that
// every caught-up replica joins; a replica whose node is frozen (SIGSTOP,
// a stalled VM) stays in the group until nats-server's ping timeout, and
// a request it drew waited out the caller's whole bound (a writer's 5 s:
// the change log's writes of a subscribed user took 5–9 s while one of
// three nodes was paused). A healthy replica answers in milliseconds.
const directTry = time.Second

func (l *log) Last(ctx context.Context, subject string) (store.Record, error) {
	if l.e.opts.clustered() && l.direct {
		try, cancel := context.WithTimeout(ctx, directTry)
		r, err := l.last(try, subject)
		timedOut := try.Err() != nil
		cancel()
		if err == nil || errors.Is(err, store.ErrNotFound) || ctx.Err() != nil || !timedOut {
			return r, err
		}
		return l.leaderLast(ctx, subject)
	}
	return l.last(ctx, subject)
}

// last is Last by the stream's (direct) get.
func (l *log) last(ctx context.Context, subject string) (store.Record, error) {
	m, err := l.s.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return store.Record{}, fmt.Errorf("natsstore: last of %s %q: %w", l.name, subject, store.ErrNotFound)
	}
	if err != nil {
		return store.Record{}, fmt.Errorf("natsstore: last of %s %q: %w", l.name, subject, unavailable(err))
	}
	return store.Record{Subject: m.Subject, Seq: m.Sequence, Time: m.Time, Data: m.Data}, nil
}

// LastMany reads with JetStream's batched direct get (multi_last with
// up_to_seq), a chunk of subjects at a time, as KV.GetMany does.
func (l *log) LastMany(ctx context.Context, subjects []string, upTo uint64) ([]store.Record, error) {
	out := make([]store.Record, len(subjects))
	if len(subjects) == 0 {
		return out, nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultTimeout)
		defer cancel()
	}
	// In a cluster the direct gets are answered by this node's copy of
	// the log, which may trail the leader's: it would answer what it holds
	// (the last records before the newest), or nothing for a position past
	// its end, and a stream resumed here would get a reset, or changes it
	// had, instead of the changes since (TestClusterLastManyWaitsForTheLeadersPosition).
	// So each request also asks for the subject of the leader's record at
	// upTo (the sentinel): an answer holds everything up to upTo when it
	// holds that record; until then it is asked again, bounded.
	var sentinel string
	if l.e.opts.clustered() && l.direct {
		last, err := l.LastSeq(ctx)
		if err != nil {
			return nil, err
		}
		if upTo == 0 || upTo > last {
			upTo = last
		}
		if upTo == 0 {
			return out, nil // an empty log
		}
		end, ok, err := l.leaderNext(ctx, upTo, ">")
		if err != nil {
			return nil, fmt.Errorf("natsstore: last of %d subjects of %s: %w", len(subjects), l.name, unavailable(err))
		}
		if !ok || end.seq > upTo {
			return out, nil // everything up to upTo is gone (the oldest go first)
		}
		sentinel = end.subject
	} else if upTo != 0 {
		// The server answers nothing for a position past its last one,
		// where "the newest" is meant.
		last, err := l.LastSeq(ctx)
		if err != nil {
			return nil, err
		}
		if upTo >= last {
			upTo = 0
		}
	}
	if !l.direct {
		return l.lastEach(ctx, subjects, upTo, out)
	}
	at := make(map[string][]int, len(subjects))
	distinct := make([]string, 0, len(subjects))
	for i, s := range subjects {
		if _, ok := at[s]; !ok {
			distinct = append(distinct, s)
		}
		at[s] = append(at[s], i)
	}
	var reached uint64 // the sentinel's answer
	got := func(m *nats.Msg) error {
		subj := m.Header.Get(jetstream.SubjectHeader)
		seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
		if err != nil || seq == 0 {
			return fmt.Errorf("answer for %q with sequence %q", subj, m.Header.Get(jetstream.SequenceHeader))
		}
		if subj == sentinel {
			reached = seq
		}
		idx, asked := at[subj]
		if !asked {
			if subj == sentinel {
				return nil
			}
			return fmt.Errorf("answer for subject %q, which was not asked for", subj)
		}
		r := store.Record{Subject: subj, Seq: seq, Data: m.Data}
		if ts, err := time.Parse(time.RFC3339Nano, m.Header.Get(jetstream.TimeStampHeaer)); err == nil {
			r.Time = ts
		}
		for _, i := range idx {
			out[i] = r
		}
		return nil
	}
	deadline := (clock.Real{}).Now().Add(readWait)
	for len(distinct) > 0 {
		n, size := 0, len(sentinel)+3
		for n < len(distinct) && n < maxMultiLast-1 && (n == 0 || size+len(distinct[n])+3 <= multiLastBytes) {
			size += len(distinct[n]) + 3
			n++
		}
		chunk := distinct[:n:n]
		if sentinel != "" && !slices.Contains(chunk, sentinel) {
			chunk = append(chunk, sentinel)
		}
		for {
			reached = 0
			req := multiLastRequest{MultiLast: chunk, UpToSeq: upTo, MaxBytes: multiLastMaxBytes}
			if err := directMultiLast(ctx, l.nc, l.name, req, got); err != nil {
				return nil, fmt.Errorf("natsstore: last of %d subjects of %s: %w", len(subjects), l.name, unavailable(err))
			}
			if sentinel == "" || reached == upTo {
				break
			}
			if (clock.Real{}).Now().After(deadline) {
				return nil, fmt.Errorf("natsstore: last of %d subjects of %s up to %d: %w: this node's copy of the log did not reach it within %v",
					len(subjects), l.name, upTo, store.ErrUnavailable, readWait)
			}
			if !clock.Sleep(ctx, readPause) {
				return nil, fmt.Errorf("natsstore: last of %d subjects of %s up to %d: this node's copy of the log has not reached it: %w", len(subjects), l.name, upTo, ctx.Err())
			}
		}
		distinct = distinct[n:]
	}
	return out, nil
}

// lastEach is LastMany one subject at a time, for a stream without direct
// gets: only the newest record of each (upTo 0) can be read that way.
func (l *log) lastEach(ctx context.Context, subjects []string, upTo uint64, out []store.Record) ([]store.Record, error) {
	if upTo != 0 {
		return nil, fmt.Errorf("natsstore: %s does not answer direct gets: its records up to a position cannot be read", l.name)
	}
	for i, s := range subjects {
		r, err := l.Last(ctx, s)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, err
		default:
			out[i] = r
		}
	}
	return out, nil
}

func (l *log) state(ctx context.Context) (jetstream.StreamState, error) {
	if l.e.opts.clustered() {
		return l.leaderState(ctx)
	}
	info, err := l.s.Info(ctx)
	if err != nil {
		return jetstream.StreamState{}, fmt.Errorf("natsstore: state of %s: %w", l.name, unavailable(err))
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

// followHeartbeat is how often the server of Follow's consumer says it is
// there while nothing comes: two missed and the consumer is made again.
const followHeartbeat = time.Second

// Follow reads, in a cluster, with bounded consumers of its own
// (logfollow.go); on a single node, with an ordered (ephemeral,
// flow-controlled) consumer: there the consumer's server is this process.
func (l *log) Follow(ctx context.Context, subjects []string, from uint64, fn func(store.Record) error) error {
	if l.e.opts.clustered() {
		return l.followCluster(ctx, subjects, from, fn)
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: subjects, DeliverPolicy: jetstream.DeliverNewPolicy}
	if from > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = from
	}
	c, err := l.s.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("natsstore: follow %s: %w", l.name, err)
	}
	// nats.go's default heartbeat is 5 s, missed after 10 s: a consumer
	// served by a node that died would hold every change back that long
	// (the webhook takeover waited for it, TestClusterProcessWebhookTakeover).
	// With 1 s the consumer is made again after 2 s of silence; an idle
	// log costs a heartbeat a second.
	it, err := c.Messages(jetstream.PullHeartbeat(followHeartbeat))
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
