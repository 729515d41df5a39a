package natsstore

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/clock"
)

// update replaces key's value if its last revision is expect, and returns
// the new revision: what nats.go's KeyValue.Update does, published here
// directly. Why by hand: Update checks the key with a regular expression
// and decodes JetStream's acknowledgement with encoding/json, which
// together were 8 µs of the ~38 µs our setPresence handler spent per write
// (BenchmarkHTTP's profile, docs/performance.md); here the key is checked
// with a table and the acknowledgement decoded by the JSON v2 decoder the
// project already uses. The message is the one Update sends: the key's
// subject, the value, and the expected-last-subject-sequence header, so
// the engine checks the revision exactly as for Update (TestUpdateIsKVUpdate).
// Without check (SoleWriter) the message has no header: the same subject
// and value, stored without the engine comparing revisions.
func (b *kv) update(ctx context.Context, key string, value []byte, expect uint64, check bool) (uint64, error) {
	if !validKey(key) {
		return 0, jetstream.ErrInvalidKey
	}
	// Wait on the guard's generation or a pooled timer rather than a
	// context with a deadline made per write (a timer and three allocations, a
	// tenth of what a write allocated). Once sent, a write is waited for
	// even if ctx ends: the engine answers within the timeout, and the
	// answer keeps the cache in step with what was stored.
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	timeout := publishTimeout
	dl, hasDeadline := ctx.Deadline()
	if hasDeadline {
		if timeout = min(timeout, -clock.Since(clock.Real{}, dl)); timeout <= 0 {
			return 0, context.DeadlineExceeded
		}
	}
	// The wait is taken before the guard's check and the send: a write the
	// engine fails once sent (a full disk) ends the generation its writer
	// waits on even if the guard has begun a new one before the writer
	// looks (the raw connection's send hands the write to the engine at
	// once). Taken after the send, such a write waited out the new
	// generation's timeout (TestWaitTakenBeforeTheSend).
	w := b.startWait(hasDeadline, timeout)
	defer w.stop()
	if b.g != nil {
		if err := b.g.check(); err != nil {
			return 0, err
		}
	}
	if afterCheck != nil {
		afterCheck(b)
	}
	if c := b.e.raw; c.usable() && len(value) <= c.maxPayload-rawHeaderRoom {
		return b.updateRaw(c, key, value, expect, check, &w)
	}
	slot, err := b.rep.get()
	if err != nil {
		return 0, err
	}
	p := pubMsgs.Get().(*pubMsg)
	m := p.build(b.prefix, key, value, 0)
	m.Reply = slot.subject
	if check {
		p.setExpect(expect)
	} else {
		m.Header = nil
	}
	// nats.go copies the message into its buffer before PublishMsg returns.
	err = b.nc.PublishMsg(m)
	p.put()
	if err != nil {
		b.rep.drop(slot) // whether anything was sent is not known
		return 0, err
	}
	var resp *nats.Msg
	for resp == nil {
		select {
		case resp = <-slot.ch:
			if !slot.mine(resp) {
				resp = nil // an answer to the slot's earlier use
				continue
			}
			b.rep.put(slot)
		case <-b.e.closed:
			b.rep.drop(slot)
			return 0, nats.ErrConnectionClosed
		case <-w.genDone:
			b.rep.drop(slot)
			return 0, b.g.waitError(w.gen)
		case <-w.timeUp:
			b.rep.drop(slot)
			return 0, nats.ErrTimeout
		}
	}
	if noResponders(resp) {
		return 0, jetstream.ErrNoStreamResponse // no stream takes the subject (nats.go's no-responders answer)
	}
	seq, err := parseAck(resp.Data, b.stream)
	return seq, fullIfExhausted(err)
}

// create writes value under key if the key is new, absent, deleted or
// purged (deleted is absent), and returns the new revision. It sends
// first the message nats.go's KeyValue.Create sends first — the key's
// subject, the value and the expected-last-subject-sequence header with 0,
// so that the engine refuses it if the subject has any last message — but
// through update, on a single node the raw connection: a user's first
// write went through nats.go's request (its inbox, its connection's lock,
// its dispatch), which on a fresh server was 1.6 µs of the load tool's
// write averaged over its run (toolrest's profile, docs/performance.md).
// The header is sent even for a sole writer (SoleWriter): a create is
// never unchecked. On a wrong-last-sequence answer the subject has a last
// message: a value (a conflict) or a delete or purge marker, over which a
// create succeeds — Create's path as before, which reads the marker's
// revision and updates from it, and otherwise reports the conflict
// (TestCreateRawFallsBackOverMarkers).
func (b *kv) create(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := b.update(ctx, key, value, 0, true)
	if err == nil || !isConflict(err) {
		return rev, err
	}
	err = b.g.write(ctx, func(ctx context.Context) (err error) {
		rev, err = b.kv.Create(ctx, key, value)
		return err
	})
	return rev, err
}

// afterCheck, when set (by a test), runs between the guard's check and
// the send.
var afterCheck func(*kv)

// rawHeaderRoom is what a write's frame adds to its value, at most, within
// the server's max_payload (the revision header); a larger value goes
// through nats.go, which refuses it.
const rawHeaderRoom = 128

// updateRaw is update through the engine's raw connection (rawconn.go):
// the same message and the same one acknowledgement, and the same waits.
func (b *kv) updateRaw(c *rawConn, key string, value []byte, expect uint64, check bool, w *wait) (uint64, error) {
	s := c.get()
	s.frame = appendPub(s.frame[:0], b.prefix, key, s.reply, value, expect, check)
	err := c.send(s.frame)
	if cap(s.frame) > maxSlotFrame {
		s.frame = nil // a large value's: not kept with the slot
	}
	if err != nil {
		c.drop(s) // whether anything was sent is not known
		return 0, err
	}
	if err := c.await(s, b, w); err != nil {
		return 0, err
	}
	seq, err := b.rawAck(&s.ans)
	c.put(s)
	return seq, err
}

// rawAck reads the engine's answer to a write.
func (b *kv) rawAck(a *rawAnswer) (uint64, error) {
	if a.noResponders {
		return 0, jetstream.ErrNoStreamResponse // no stream takes the subject (nats.go's no-responders answer)
	}
	if seq, ok := plainAck(a.data(), b.stream); ok {
		return seq, nil
	}
	// Not the plain acknowledgement: decoded from a copy (the answer's
	// bytes are the slot's).
	seq, err := parseAck(bytes.Clone(a.data()), b.stream)
	return seq, fullIfExhausted(err)
}

// wait is what a write waits on besides its answer: the guard's wait
// generation (it ends publishTimeout after it began, or at once if the
// engine fails a write meanwhile: a full disk fails this write now, not
// after the timeout) or, for a caller's deadline, a timer.
type wait struct {
	gen     context.Context
	genDone <-chan struct{}
	t       *time.Timer
	timeUp  <-chan time.Time
}

func (b *kv) startWait(hasDeadline bool, timeout time.Duration) (w wait) {
	if b.g != nil && !hasDeadline {
		w.gen = b.g.waitCtx()
		w.genDone = w.gen.Done()
		return w
	}
	w.t = timers.Get().(*time.Timer)
	w.t.Reset(timeout)
	w.timeUp = w.t.C
	return w
}

// await waits for slot s's answer as w says; when none comes, the slot is
// dropped (its answer may still arrive) and the reason returned.
func (c *rawConn) await(s *rawSlot, b *kv, w *wait) error {
	var err error
	if w.gen != nil {
		err = c.waitGen(s, b.g, w.gen)
	} else {
		err = c.waitTimer(s, w.timeUp)
	}
	if err != nil {
		c.drop(s)
	}
	return err
}

func (w *wait) stop() {
	if w.t != nil {
		w.t.Stop()
		timers.Put(w.t)
	}
}

// publishTimeout is the longest a write waits for the engine (nats.go's
// default for JetStream requests): a lost engine answers within it.
const publishTimeout = 5 * time.Second

// pubAck is JetStream's answer to a publish: the stream and sequence, or
// an error.
type pubAck struct {
	Stream string              `json:"stream"`
	Seq    uint64              `json:"seq"`
	Error  *jetstream.APIError `json:"error"`
}

// parseAck reads the acknowledgement of a publish to stream.
func parseAck(data []byte, stream string) (uint64, error) {
	if seq, ok := plainAck(data, stream); ok {
		return seq, nil
	}
	var a pubAck
	if err := jsonv2.Unmarshal(data, &a); err != nil {
		return 0, fmt.Errorf("%w: %.200q", jetstream.ErrInvalidJSAck, data)
	}
	if a.Error != nil {
		return 0, fmt.Errorf("nats: %w", a.Error)
	}
	if a.Stream != stream || a.Seq == 0 {
		return 0, fmt.Errorf("%w: %.200q", jetstream.ErrInvalidJSAck, data)
	}
	return a.Seq, nil
}

// plainAck reads the acknowledgement the engine sends for nearly every
// write, exactly `{"stream":"<stream>","seq":<n>}`, without the decoder:
// ~1 µs of a write's CPU (a tenth of what our side of a write costs besides
// the engine, BenchmarkHTTP's profile). Anything else — an error, a domain,
// a duplicate, another stream, spaces — is not taken, and the decoder reads
// it; FuzzPlainAck holds the two equal on every answer this one takes.
func plainAck(data []byte, stream string) (uint64, bool) {
	const head, mid = `{"stream":"`, `","seq":`
	n := len(head) + len(stream) + len(mid)
	if len(data) < n+2 || data[len(data)-1] != '}' || string(data[:len(head)]) != head ||
		string(data[len(head):len(head)+len(stream)]) != stream || string(data[len(head)+len(stream):n]) != mid {
		return 0, false
	}
	digits := data[n : len(data)-1]
	if len(digits) > 19 || digits[0] == '0' { // 19 digits always fit in a uint64; JSON has no leading zero
		return 0, false
	}
	var seq uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		seq = seq*10 + uint64(c-'0')
	}
	return seq, true
}

// validKey reports whether key is a valid KV key, as nats.go's keyValid
// does: key characters only, not starting or ending with a dot, no empty
// token.
func validKey(key string) bool {
	return key != "" && key[0] != '.' && key[len(key)-1] != '.' && !strings.Contains(key, "..") && validKeyChars(key)
}
