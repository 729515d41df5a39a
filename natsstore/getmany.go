package natsstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/store"
)

// GetMany reads many keys with JetStream's batched direct get (nats-server
// 2.11+): one request to $JS.API.DIRECT.GET.<stream> with
// {"multi_last":[subjects…]} answers with the last message of each subject
// that has one — in stream order, not request order, each with its
// Nats-Subject and Nats-Sequence headers — and then a "204 EOB" status
// whose Nats-Num-Pending says whether the server stopped early (max_bytes).
// A request where no subject has a message answers only "404 No Results".
// The server reads one request's messages under one store lock, so a batch
// is a point-in-time snapshot, and refuses ("413 Too Many Results") a
// request matching more than maxMultiLast subjects; hence the chunks.
//
// BenchmarkGetMany (650 random keys of 10,000, file storage, the shared
// 2-core machine): one Get at a time 38–50 ms, 32 at a time 25–36 ms,
// GetMany 15–18 ms. Most of what remains is the server's: it rebuilds the
// headers of every message that has some (ours all carry the
// Nats-Expected-Last-Subject-Sequence of their conditional write), one
// header at a time through net/http.Header.

const (
	// maxMultiLast is the most subjects one batched direct get may match:
	// nats-server's maxAllowedResponses in stream.go (getDirectMulti).
	maxMultiLast = 1024
	// multiLastBytes caps one request's body (the subjects), well under the
	// connection's max payload (1 MB by default).
	multiLastBytes = 256 << 10
	// multiLastMaxBytes is the max_bytes asked of the server per request.
	// Its default is max_pending (64 MB), what the connection may have
	// waiting before the server cuts it off as a slow consumer; a huge
	// answer had better be continued in another request.
	multiLastMaxBytes = 8 << 20
	// defaultTimeout bounds a GetMany whose ctx has no deadline, as nats.go
	// bounds its own requests.
	defaultTimeout = 5 * time.Second
)

const (
	hdrStatus      = "Status"      // nats.go's parse of a status line's code
	hdrDescription = "Description" // … and of its text
	hdrNumPending  = "Nats-Num-Pending"
	hdrKVOperation = "KV-Operation"
)

// GetMany implements store.KV.
func (b *kv) GetMany(ctx context.Context, keys []string) ([]store.Entry, error) {
	out := make([]store.Entry, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	for _, k := range keys {
		if !validKeyChars(k) || !validTokens(k) {
			return nil, fmt.Errorf("natsstore: get %s/%q: %w", b.name, k, jetstream.ErrInvalidKey)
		}
	}
	if !b.direct {
		return b.getEach(ctx, keys, out)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultTimeout)
		defer cancel()
	}

	// first is where each distinct key first appears; repeats are copied at
	// the end (the server answers a subject once).
	first := make(map[string]int, len(keys))
	subjects := make([]string, 0, len(keys))
	for i, k := range keys {
		if _, ok := first[k]; !ok {
			first[k] = i
			subjects = append(subjects, b.prefix+k)
		}
	}
	got := func(m *nats.Msg) error {
		subj := m.Header.Get(jetstream.SubjectHeader)
		key, ok := strings.CutPrefix(subj, b.prefix)
		i, asked := first[key]
		if !ok || !asked {
			return fmt.Errorf("answer for subject %q, which was not asked for", subj)
		}
		seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
		if err != nil || seq == 0 {
			return fmt.Errorf("answer for %q with sequence %q", subj, m.Header.Get(jetstream.SequenceHeader))
		}
		if deleted(m.Header) {
			return nil // a delete or purge marker: absent, as Get says
		}
		out[i] = store.Entry{Key: keys[i], Value: m.Data, Revision: seq}
		return nil
	}
	for len(subjects) > 0 {
		n, size := 0, 0
		for n < len(subjects) && n < maxMultiLast && (n == 0 || size+len(subjects[n])+3 <= multiLastBytes) {
			size += len(subjects[n]) + 3 // quotes and comma
			n++
		}
		if err := b.multiLast(ctx, subjects[:n], got); err != nil {
			return nil, fmt.Errorf("natsstore: get %d keys of %s: %w", len(keys), b.name, unavailable(err))
		}
		subjects = subjects[n:]
	}
	for i, k := range keys {
		if j := first[k]; j != i {
			out[i] = out[j]
		}
	}
	return out, nil
}

// deleted reports whether a KV message's headers mark the key deleted or
// purged, the way nats.go's KeyValue.Get decides it.
func deleted(h nats.Header) bool {
	if op := h.Get(hdrKVOperation); op != "" {
		return op == "DEL" || op == "PURGE"
	}
	switch h.Get(jetstream.MarkerReasonHeader) {
	case "MaxAge", "Purge", "Remove":
		return true
	}
	return false
}

type multiLastRequest struct {
	MultiLast []string `json:"multi_last"`
	UpToSeq   uint64   `json:"up_to_seq,omitempty"`
	MaxBytes  int      `json:"max_bytes,omitempty"`
}

// multiLast asks for the last message of each subject (at most
// maxMultiLast of them) and hands each to got, repeating the request for
// the subjects not answered yet if the server stopped early.
func (b *kv) multiLast(ctx context.Context, subjects []string, got func(*nats.Msg) error) error {
	return directMultiLast(ctx, b.nc, b.stream, multiLastRequest{MultiLast: subjects, MaxBytes: cmp.Or(b.maxBytes, multiLastMaxBytes)}, got)
}

// directMultiLast makes the batched direct get req of stream (its
// MultiLast at most maxMultiLast subjects), repeating it for the subjects
// not answered yet if the server stopped early.
func directMultiLast(ctx context.Context, nc *nats.Conn, stream string, req multiLastRequest, got func(*nats.Msg) error) error {
	subjects := req.MultiLast
	for {
		req.MultiLast = subjects
		answered, pending, err := multiLastOnce(ctx, nc, stream, req, got)
		if err != nil || pending == 0 {
			return err
		}
		if len(answered) == 0 {
			return errors.New("the server stopped early without answering anything")
		}
		// Ask again for the rest. Absent subjects are asked again too: they
		// cannot be told apart from those not sent yet.
		done := make(map[string]bool, len(answered))
		for _, s := range answered {
			done[s] = true
		}
		var rest []string
		for _, s := range subjects {
			if !done[s] {
				rest = append(rest, s)
			}
		}
		subjects = rest
	}
}

// asks bounds how many times multiLastOnce sends one batched direct get
// that is not answered: the first, after directTry the next, then one
// every reaskEvery.
const (
	asks       = 12
	reaskEvery = 200 * time.Millisecond
)

// multiLastOnce makes one batched direct get and reads its answer up to the
// end-of-batch status. It returns the subjects answered and how many
// messages the server still had when it stopped.
func multiLastOnce(ctx context.Context, nc *nats.Conn, stream string, req multiLastRequest, got func(*nats.Msg) error) (answered []string, pending uint64, err error) {
	// A caller already past its deadline is not asked for: in process the
	// answer can be in ch before the select below, which then picks it or
	// ctx's end at random (TestLateAnswerIsUnavailable failed so, 1 run
	// in CI), where nats.go's own requests check ctx first.
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, 0, err
	}
	// A batch is answered by one member of the queue group that every
	// caught-up replica joins; one on a frozen node (SIGSTOP, a stalled
	// VM) stays a member until nats-server's ping timeout and never
	// answers: a request that drew it waited out the caller's whole bound
	// (cold reads through the healthy nodes: 5 s, then 503). So a request
	// not answered within directTry is sent again, each copy to an inbox
	// of its own, then again every reaskEvery (up to asks copies), and the
	// first copy that answers is read, alone: each answer is a snapshot of
	// the stream, and two are not mixed. A healthy member answers a copy
	// in milliseconds; a slow one's answer still counts.
	//
	// Each answer is at most one message per subject and one status, so a
	// channel that holds them all never drops one (and is far smaller
	// than SubscribeSync's, which holds 65,536 pointers; the copies past
	// the first are sent only when nothing came).
	ch := make(chan *nats.Msg, asks*(len(req.MultiLast)+1))
	prefix := nc.NewInbox()
	sub, err := nc.ChanSubscribe(prefix+".*", ch)
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	sent := 0
	ask := func() error {
		sent++
		return nc.PublishRequest("$JS.API.DIRECT.GET."+stream, prefix+"."+strconv.Itoa(sent), body)
	}
	if err := ask(); err != nil {
		return nil, 0, err
	}
	again := time.NewTimer(directTry)
	defer again.Stop()
	var from string // the inbox of the copy being read
	for {
		var m *nats.Msg
		select {
		case m = <-ch:
		case <-again.C:
			if from == "" && sent < asks {
				if err := ask(); err != nil {
					return nil, 0, err
				}
				again.Reset(reaskEvery)
			}
			continue
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
		if from == "" {
			from = m.Subject
		} else if m.Subject != from {
			continue // another copy's answer
		}
		if status := m.Header.Get(hdrStatus); status != "" && m.Header.Get(jetstream.SequenceHeader) == "" {
			switch {
			case status == "204": // EOB
				if p := m.Header.Get(hdrNumPending); p != "" {
					if pending, err = strconv.ParseUint(p, 10, 64); err != nil {
						return nil, 0, fmt.Errorf("end of batch with %s %q", hdrNumPending, p)
					}
				}
				return answered, pending, nil
			case status == "404" && m.Header.Get(hdrDescription) == "No Results" && len(answered) == 0:
				return nil, 0, nil // none of the subjects has a message
			case status == "503" || status == "408": // no responders, or a request timeout
				return nil, 0, fmt.Errorf("batched direct get: %w: status %s %s", store.ErrUnavailable, status, m.Header.Get(hdrDescription))
			default:
				return nil, 0, fmt.Errorf("batched direct get: status %s %s", status, m.Header.Get(hdrDescription))
			}
		}
		if err := got(m); err != nil {
			return nil, 0, err
		}
		answered = append(answered, m.Header.Get(jetstream.SubjectHeader))
	}
}

// getEach reads the keys one at a time: for a stream without direct gets.
func (b *kv) getEach(ctx context.Context, keys []string, out []store.Entry) ([]store.Entry, error) {
	for i, k := range keys {
		e, err := b.Get(ctx, k)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, err
		default:
			out[i] = e
		}
	}
	return out, nil
}
