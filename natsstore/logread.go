package natsstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/store"
)

// How Log.Read reads a stretch of the log, and why so.
//
// A read is served by a consumer, and nats-server places a one-replica
// consumer on a random peer of the stream (createGroupForConsumer). Read
// used to read with nats.go's ordered consumer, a new consumer per
// no-wait fetch, and failed three ways in a cluster:
//
//   - The first fetch of a consumer placed on another peer often answered
//     "no responders": the peer had made the consumer, but its interest
//     in the pull requests had not reached this node's server yet. Read
//     returned that error — a stream opened with Last-Event-ID answered
//     500, a stream's feed ended ("stream ended"), a subscription's
//     worker started over. TestClusterReadIsComplete failed so in 3 of 3
//     runs. Now the fetch is asked again, shortly, on the same consumer.
//   - The peer's copy of the log may trail the leader's (it is a prefix
//     of it, maybe a shorter one), and Read stopped where the consumer
//     said nothing more was pending there: short of to, without a word.
//     The same with nats.go's no-wait fetch, which ends quietly, as if
//     nothing were left, when no answer comes within a second.
//   - A consumer placed on a peer killed a moment before (the cluster had
//     not noticed yet) is never made: nats.go waited 10 s for it, which
//     held a webhook takeover's first read (TestClusterProcessWebhookTakeover's
//     outliers of 6-14 s).
//
// So in a cluster a read knows where it ends before it starts: the
// stream's leader names the record at to (or the first one after it,
// should to be gone), and the consumer's filter takes that record's
// subject too. The read ends when that record comes, which any peer
// delivers once it holds it, and everything before it with it, in order
// (the consumer's own sequence shows a gap). A fetch waits for it up to
// the attempt's bound (1 s, then 2 s, then 4 s); a peer that does not
// deliver it by then (far behind, or dead), or a consumer not made within
// it, is left, and a new consumer, placed again, goes on from the next
// record, until readWait has passed without one.
const (
	// readAttempt bounds one consumer's creation and each of its fetches
	// on a read's first attempt, twice that on the second, and at most
	// readAttemptMax: a consumer not made within a second is most likely
	// on a dead peer, but on a loaded machine a live one may take longer.
	readAttempt    = time.Second
	readAttemptMax = 4 * time.Second
	// readWait bounds a read's attempts since the last that brought a
	// record (each one that fails is followed by another, after
	// readPause).
	readWait = 15 * time.Second
	// readPause is the pause between attempts.
	readPause = 50 * time.Millisecond
	// readPage is how many records one fetch asks for.
	readPage = 256
	// readIdle is how long the server keeps a consumer a read left
	// behind (one whose deletion did not reach it).
	readIdle = 30 * time.Second
)

// Read implements store.Log: fn gets, in order, every record under
// subjects from position from through to.
func (l *log) Read(ctx context.Context, subjects []string, from, to uint64, fn func(store.Record) error) error {
	return l.read(ctx, subjects, from, to, nil, func(m jetstream.Msg, _ *jetstream.MsgMetadata) error { return fn(record(m)) })
}

// readFunc gets each message a read delivers, with its metadata. (A
// follow's msgFunc takes nats.go's message itself: the follow pulls on its
// own, pull.go; a read still goes through nats.go's Fetch.)
type readFunc func(m jetstream.Msg, md *jetstream.MsgMetadata) error

// read is Read handing fn the messages themselves, with their metadata
// (a bucket's Walk and Replay read so in a cluster: walkcluster.go), with
// place non-nil: each consumer placed, when it can be within its
// attempt's bound, on the stream's leader (leaderConsumer), and
// place.leader saying, while fn gets its messages, whether it is there.
// readWait bounds the attempts since the last one that brought a record
// (a long read is not cut short by one slow attempt near its end).
func (l *log) read(ctx context.Context, subjects []string, from, to uint64, place *readPlace, fn readFunc) error {
	if from == 0 {
		from = 1
	}
	if to < from || len(subjects) == 0 {
		return nil
	}
	end := readEnd{seq: to}
	if l.e.opts.clustered() {
		var err error
		if end, err = l.endOf(ctx, from, to); err != nil {
			return fmt.Errorf("natsstore: read %s: %w", l.name, err)
		}
		if end.seq == 0 {
			return nil // nothing kept in [from, to]
		}
	}
	deadline := (clock.Real{}).Now().Add(readWait)
	next := from
	var last error
	for attempt := 0; ; attempt++ {
		t0, was := (clock.Real{}).Now(), next
		done, err := l.readOnce(ctx, subjects, &next, to, end, min(readAttempt<<min(attempt, 4), readAttemptMax), place, fn)
		var cb *callbackError
		if errors.As(err, &cb) {
			return cb.err
		}
		if done {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if l.nc.IsClosed() || errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("natsstore: read %s: %w", l.name, err)
		}
		last = err
		if next > was {
			deadline = (clock.Real{}).Now().Add(readWait)
		}
		l.e.log.Info("a read of the log stopped short; going on with another consumer", "log", l.name, "from", next, "to", to,
			"attempt", attempt+1, "took", (clock.Real{}).Now().Sub(t0).Round(time.Millisecond), "err", err)
		if (clock.Real{}).Now().Add(readPause).After(deadline) {
			return fmt.Errorf("natsstore: read %s from %d through %d: %w: %d attempts in %v, the last: %w",
				l.name, from, to, store.ErrUnavailable, attempt+1, readWait, last)
		}
		if !clock.Sleep(ctx, readPause) {
			return ctx.Err()
		}
	}
}

// readPlace is where a read's consumers go: on the stream's leader when
// they can be; leader says whether the one delivering now is there (a
// walk counts only what the leader delivers: walkcluster.go).
type readPlace struct{ leader bool }

// readEnd is where a read ends: the record at or after to that the
// stream's leader holds (seq), under subject ("" outside a cluster: there
// the one copy of the log is the one read, and nothing pending means done).
type readEnd struct {
	seq     uint64
	subject string
}

// callbackError is fn's error, which ends a read as it is.
type callbackError struct{ err error }

func (c *callbackError) Error() string { return c.err.Error() }

// errShort is an attempt that ended before the read's end: the consumer's
// peer is behind, or did not answer.
var errShort = errors.New("the consumer's peer did not deliver through the end within the attempt")

// readOnce is one attempt: a consumer from *next, fetched until the end
// (done), fn's error, or an engine error or silence (err; *next is where
// the next attempt starts).
func (l *log) readOnce(ctx context.Context, subjects []string, next *uint64, to uint64, end readEnd, bound time.Duration, place *readPlace, fn readFunc) (done bool, err error) {
	filter := subjects
	if end.subject != "" && !matchesAny(subjects, end.subject) {
		filter = append(append(make([]string, 0, len(subjects)+1), subjects...), end.subject)
	}
	var c jetstream.Consumer
	if place != nil {
		c, place.leader, err = l.leaderConsumer(ctx, filter, *next, bound)
	} else {
		c, err = l.readConsumer(ctx, filter, *next, bound)
	}
	if err != nil {
		return false, err
	}
	defer l.dropConsumer(c.CachedInfo().Name)
	var delivered uint64 // the consumer's sequence of the last message
	made := (clock.Real{}).Now()
	for {
		done, n, err := l.fetch(ctx, c, subjects, next, &delivered, to, end, bound, fn)
		if errors.Is(err, nats.ErrNoResponders) && n == 0 && (clock.Real{}).Now().Sub(made) < bound {
			// The consumer is made, but the news of its subscription has
			// not reached this node's server yet (it is on another peer).
			if !clock.Sleep(ctx, readPause) {
				return false, ctx.Err()
			}
			continue
		}
		if done || err != nil {
			return done, err
		}
		if n < readPage {
			if end.subject == "" && n == 0 {
				return true, nil // nothing (more) under subjects
			}
			return false, errShort
		}
	}
}

// fetch is one fetch of a read's consumer c: n messages came.
func (l *log) fetch(ctx context.Context, c jetstream.Consumer, subjects []string, next, delivered *uint64, to uint64, end readEnd, bound time.Duration, fn readFunc) (done bool, n int, err error) {
	var b jetstream.MessageBatch
	if end.subject == "" {
		b, err = c.FetchNoWait(readPage)
	} else {
		// The batch ends when the page is full or the attempt's time is
		// up; the read ends at the end's record, without waiting for either.
		fctx, cancel := context.WithTimeout(ctx, bound)
		defer cancel()
		b, err = c.Fetch(readPage, jetstream.FetchContext(fctx))
	}
	if err != nil {
		return false, 0, err
	}
	for m := range b.Messages() {
		n++
		md, err := m.Metadata()
		if err != nil {
			return false, n, err
		}
		if md.Sequence.Consumer != *delivered+1 {
			return false, n, fmt.Errorf("message %d of the consumer after %d: one was lost", md.Sequence.Consumer, *delivered)
		}
		*delivered = md.Sequence.Consumer
		seq := md.Sequence.Stream
		if seq > to {
			return true, n, nil // the end's record, after to
		}
		*next = seq + 1
		if matchesAny(subjects, m.Subject()) {
			if err := fn(m, md); err != nil {
				return true, n, &callbackError{err}
			}
		}
		if seq == to || end.subject == "" && md.NumPending == 0 {
			return true, n, nil
		}
	}
	if err := b.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		return false, n, err
	}
	return false, n, nil
}

// dropConsumer deletes a read's consumer, in the background: the read is
// done, and the server would drop it after readIdle anyway.
func (l *log) dropConsumer(name string) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), readAttempt)
		defer cancel()
		_ = l.js.DeleteConsumer(ctx, l.name, name)
	}()
}

// endOf asks the stream's leader for the record a read from from through
// to ends at: the one at to, or (to gone) the first one after it, or (to
// beyond the end) the last one. seq 0: nothing is kept in [from, to].
func (l *log) endOf(ctx context.Context, from, to uint64) (readEnd, error) {
	e, ok, err := l.leaderNext(ctx, to, ">")
	if err != nil || ok {
		return e, err
	}
	last, err := l.LastSeq(ctx)
	if err != nil || last < from {
		return readEnd{}, err
	}
	if e, ok, err = l.leaderNext(ctx, min(last, to), ">"); err != nil || ok {
		return e, err
	}
	return readEnd{}, fmt.Errorf("the leader holds no record at or after %d, and its last is %d", min(last, to), last)
}

// leaderNext reads, from the stream's leader, the subject and position of
// the first record under subject (a filter: ">" for any) at or after seq;
// ok false: there is none.
func (l *log) leaderNext(ctx context.Context, seq uint64, subject string) (e readEnd, ok bool, err error) {
	q, err := jsonv2.Marshal(struct {
		Seq  uint64 `json:"seq"`
		Next string `json:"next_by_subj"`
	}{seq, subject})
	if err != nil {
		return readEnd{}, false, err
	}
	req := string(q)
	m := &nats.Msg{Subject: "$JS.API.STREAM.MSG.GET." + l.name, Data: []byte(req)}
	err = l.e.do(ctx, m, l.name, exchange{answer: func(resp *nats.Msg) error {
		var a struct {
			Error   *jetstream.APIError `json:"error"`
			Message *struct {
				Subject string `json:"subject"`
				Seq     uint64 `json:"seq"`
			} `json:"message"`
		}
		if err := jsonv2.Unmarshal(resp.Data, &a); err != nil {
			return badAnswer(resp.Data)
		}
		switch {
		case a.Error != nil && a.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound:
			e, ok = readEnd{}, false
			return nil
		case a.Error != nil:
			return answerError(a.Error)
		case a.Message == nil || a.Message.Seq < seq || a.Message.Subject == "":
			return badAnswer(resp.Data)
		}
		e, ok = readEnd{seq: a.Message.Seq, subject: a.Message.Subject}, true
		return nil
	}})
	return e, ok, err
}

// matchesAny says whether subject is matched by one of filters (NATS
// subjects, with * and > wildcards).
func matchesAny(filters []string, subject string) bool {
	for _, f := range filters {
		if subjectMatches(f, subject) {
			return true
		}
	}
	return false
}

func subjectMatches(filter, subject string) bool {
	for {
		ft, frest, fmore := cut(filter)
		st, srest, smore := cut(subject)
		switch {
		case ft == ">":
			return true
		case ft != "*" && ft != st:
			return false
		case !fmore || !smore:
			return fmore == smore
		}
		filter, subject = frest, srest
	}
}

func cut(s string) (token, rest string, more bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// leaderState asks the stream's leader for the log's state through
// Engine.do (streamInfo): a stream's info is answered by its leader only,
// and while the leadership moves (the coordinator draws CHANGES to itself
// as nodes start) a request may get no answer at all; nats.go then waited
// for the caller's whole deadline (a node's start failed so after 60 s:
// "state of CHANGES: context deadline exceeded"). do asks again, bounded.
func (l *log) leaderState(ctx context.Context) (jetstream.StreamState, error) {
	info, err := l.e.streamInfo(ctx, l.name)
	if err != nil {
		return jetstream.StreamState{}, fmt.Errorf("natsstore: state of %s: %w", l.name, unavailable(err))
	}
	return info.state, nil
}

// readConsumer makes a consumer for one bounded read of the log from
// position from: unacknowledged, in memory, on one replica, and removed
// by the engine if its reader goes (readIdle). Made within bound; the
// caller drops it when done (dropConsumer).
func (l *log) readConsumer(ctx context.Context, filter []string, from uint64, bound time.Duration) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: readIdle,
	}
	if len(filter) == 1 {
		cfg.FilterSubject = filter[0]
	} else {
		cfg.FilterSubjects = filter
	}
	cctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	return l.js.CreateOrUpdateConsumer(cctx, l.name, cfg)
}
