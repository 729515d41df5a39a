package natsstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/store"
)

// The operations of a bucket in a cluster: each message is sent by this
// package through Engine.do (exchange.go), so that it waits for a leader
// and is sent again only when that is safe. The messages are the ones
// nats.go's KeyValue sends (the key's subject; an expected last subject
// sequence; "KV-Operation: DEL" for a delete), so the buckets stay
// ordinary KV buckets for any NATS tool.

// pubAnswer reads JetStream's answer to a publish to stream into *seq.
// (TestClusterReadsAndWrites/sequential_writes_never_conflict shows why 10164 is retried.)
func pubAnswer(stream string, seq *uint64) func(*nats.Msg) error {
	return func(resp *nats.Msg) error {
		s, err := parseAck(resp.Data, stream)
		var apiErr *jetstream.APIError
		switch {
		case err == nil:
			*seq = s
			return nil
		case errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant:
			// Not a conflict: the leader could not check the expected
			// sequence because a write of the same subject was still in
			// flight (nats-server 2.15 answers so, before proposing
			// anything, to a write sent right after the acknowledgement
			// of the previous one). A real conflict is 10071, with the
			// sequence the subject has.
			return fmt.Errorf("%w: %w", errNotYet, err)
		case isConflict(err):
			return fmt.Errorf("%w: %w", errConflictAgain, err)
		case notYet(err):
			return fmt.Errorf("%w: %w", errNotYet, err)
		}
		return fullIfExhausted(err)
	}
}

// clusterPut writes value under key if its revision is expect (0: absent,
// deleted, or lapsed), with a message TTL when ttl > 0 (leases).
func (b *kv) clusterPut(ctx context.Context, key string, value []byte, expect uint64, ttl time.Duration) (uint64, error) {
	if !validKey(key) {
		return 0, jetstream.ErrInvalidKey
	}
	p := pubMsgs.Get().(*pubMsg)
	defer p.put()
	m := p.build(b.prefix, key, value, ttl)
	for try := 0; ; try++ {
		p.setExpect(expect)
		var seq uint64
		err := b.e.do(ctx, m, b.stream, exchange{answer: pubAnswer(b.stream, &seq),
			settled: func(ctx context.Context) (bool, error) {
				cur, gone, err := b.leaderGet(ctx, key)
				if err != nil || gone || cur.Revision <= expect || !bytes.Equal(cur.Value, value) {
					return false, err
				}
				seq = cur.Revision
				return true, nil
			}})
		if err == nil {
			return seq, nil
		}
		if expect != 0 || try > 0 || !isConflict(err) {
			return 0, err
		}
		// Create over a delete, purge or TTL marker: expect the marker
		// (nats.go's Create does the same, with a read a follower may
		// answer; this one is the leader's).
		cur, gone, gerr := b.leaderGet(ctx, key)
		if gerr != nil || !gone || cur.Revision == 0 {
			return 0, err
		}
		expect = cur.Revision
	}
}

// clusterDelete deletes key (leaving a delete marker, as KeyValue.Delete)
// if its revision is expect (0: any).
func (b *kv) clusterDelete(ctx context.Context, key string, expect uint64) error {
	if !validKey(key) {
		return jetstream.ErrInvalidKey
	}
	m := &nats.Msg{Subject: b.prefix + key, Header: nats.Header{hdrKVOperation: {"DEL"}}}
	if expect != 0 {
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(expect, 10))
	}
	var seq uint64
	return b.e.do(ctx, m, b.stream, exchange{answer: pubAnswer(b.stream, &seq),
		settled: func(ctx context.Context) (bool, error) {
			_, gone, err := b.leaderGet(ctx, key)
			return err == nil && gone, err
		}})
}

// msgGetAnswer is JetStream's answer to a (non-direct) message get.
type msgGetAnswer struct {
	Error   *jetstream.APIError `json:"error"`
	Message *struct {
		Subject string    `json:"subject"`
		Seq     uint64    `json:"seq"`
		Hdrs    []byte    `json:"hdrs"`
		Data    []byte    `json:"data"`
		Time    time.Time `json:"time"`
	} `json:"message"`
}

// leaderLast is Last read from the log's leader (a message get, not a
// direct one): for a direct get that drew a replica that does not answer.
func (l *log) leaderLast(ctx context.Context, subject string) (store.Record, error) {
	req, err := jsonv2.Marshal(struct {
		LastBySubj string `json:"last_by_subj"`
	}{subject})
	if err != nil {
		return store.Record{}, err
	}
	var r store.Record
	m := &nats.Msg{Subject: "$JS.API.STREAM.MSG.GET." + l.name, Data: req}
	err = l.e.do(ctx, m, l.name, exchange{answer: func(resp *nats.Msg) error {
		var a msgGetAnswer
		if err := jsonv2.Unmarshal(resp.Data, &a); err != nil {
			return badAnswer(resp.Data)
		}
		switch {
		case a.Error != nil && a.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound:
			return errNoRecord
		case a.Error != nil:
			return answerError(a.Error)
		case a.Message == nil || a.Message.Seq == 0:
			return badAnswer(resp.Data)
		}
		r = store.Record{Subject: a.Message.Subject, Seq: a.Message.Seq, Time: a.Message.Time, Data: a.Message.Data}
		return nil
	}})
	switch {
	case errors.Is(err, errNoRecord):
		return store.Record{}, fmt.Errorf("natsstore: last of %s %q: %w", l.name, subject, store.ErrNotFound)
	case err != nil:
		return store.Record{}, fmt.Errorf("natsstore: last of %s %q: %w", l.name, subject, unavailable(err))
	}
	return r, nil
}

// errNoRecord is leaderLast's answer for a subject with no record.
var errNoRecord = errors.New("no record")

// leaderGet reads key's last message from the stream's leader: never
// stale, unlike a direct get, which any caught-up replica may answer. gone
// reports a key that is absent (Revision 0) or whose last message is a
// delete, purge or TTL marker (Revision is the marker's).
func (b *kv) leaderGet(ctx context.Context, key string) (e store.Entry, gone bool, err error) {
	if !validKey(key) {
		return store.Entry{}, false, jetstream.ErrInvalidKey
	}
	req := `{"last_by_subj":"` + b.prefix + key + `"}` // key characters need no escaping
	m := &nats.Msg{Subject: "$JS.API.STREAM.MSG.GET." + b.stream, Data: []byte(req)}
	err = b.e.do(ctx, m, b.stream, exchange{answer: func(resp *nats.Msg) error {
		var a msgGetAnswer
		if err := jsonv2.Unmarshal(resp.Data, &a); err != nil {
			return badAnswer(resp.Data)
		}
		switch {
		case a.Error != nil && a.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound:
			e, gone = store.Entry{}, true
			return nil
		case a.Error != nil:
			return answerError(a.Error)
		case a.Message == nil || a.Message.Seq == 0:
			return badAnswer(resp.Data)
		}
		e = store.Entry{Key: key, Value: a.Message.Data, Revision: a.Message.Seq}
		gone = false
		if len(a.Message.Hdrs) > 0 {
			h, err := nats.DecodeHeadersMsg(a.Message.Hdrs)
			if err != nil {
				return err
			}
			if deleted(h) {
				e.Value, gone = nil, true
			}
		}
		return nil
	}})
	return e, gone, err
}

// clusterGet is Get from the stream's leader.
func (b *kv) clusterGet(ctx context.Context, key string) (store.Entry, error) {
	e, gone, err := b.leaderGet(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrInvalidKey):
		return store.Entry{}, fmt.Errorf("natsstore: get %s/%q: %w", b.name, key, err)
	case err != nil:
		return store.Entry{}, fmt.Errorf("natsstore: get %s/%q: %w", b.name, key, unavailable(err))
	case gone:
		return store.Entry{}, fmt.Errorf("natsstore: get %s/%q: %w", b.name, key, store.ErrNotFound)
	}
	return e, nil
}

// clusterAppend appends data under subject to the log, after the record
// last when last is not nil (an expected last subject sequence).
func (l *log) clusterAppend(ctx context.Context, subject string, data []byte, last *uint64) (uint64, error) {
	m := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	if last != nil {
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(*last, 10))
	}
	var seq uint64
	err := l.e.do(ctx, m, l.name, exchange{answer: pubAnswer(l.name, &seq),
		// An unconditional record sent again could be stored twice: it is
		// sent again only when the subject's last record is not it (a
		// change record holds its own sequenceNumber, so two equal ones
		// are one change).
		settled: func(ctx context.Context) (bool, error) {
			r, err := l.Last(ctx, subject)
			if errors.Is(err, store.ErrNotFound) {
				return false, nil
			}
			if err != nil || !bytes.Equal(r.Data, data) || (last != nil && r.Seq <= *last) {
				return false, err
			}
			seq = r.Seq
			return true, nil
		}})
	return seq, err
}
