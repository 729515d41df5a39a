package natsstore

import (
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// replies hands out the reply subjects update waits on. Each slot is a
// subject of its own with a channel subscription: nats.go's reader puts
// the engine's acknowledgement straight into the slot's channel, where the
// writer waits. nats.go's RequestMsg instead routes every answer through
// one wildcard subscription, whose callback runs on a goroutine of its own
// and finds the waiter in a map under the connection's lock: one goroutine
// hand-off more for each write, a channel, an inbox name and a map entry
// made and dropped, and the connection's lock taken twice more
// (BenchmarkAckPath, docs/performance.md). What is sent and answered is the
// same: one publish, and one acknowledgement once the engine stored it.
//
// A slot is used by one write at a time. Each use has a reply subject of
// its own (the slot's base, a dot, the use's number; the slot subscribes
// to base.*), and a writer takes only the answer to its own subject: a
// clustered engine can answer one publish twice (seen when a paused
// leader resumed: a write took another partition's acknowledgement,
// TestReplySlotTakesOnlyItsOwnAnswer), and a slot reused after its first
// answer would otherwise hand the second to its next write. A slot whose
// answer did not come (its writer stopped waiting) is unsubscribed and
// never used again.
type replies struct {
	nc *nats.Conn
	// prefix is "_INBOX.<unique>.": a slot's subject is prefix+<n>. Not
	// under nats.go's own request inbox (its wildcard subscription would
	// take the answer too, and hand it to a request of its own waiting
	// alone: respHandler's fallback for a rewritten subject).
	prefix string

	mu   sync.Mutex
	free []*replySlot
	made int
}

type replySlot struct {
	subject string // this use's reply subject: base.<uses>
	base    string
	uses    uint64
	ch      chan *nats.Msg
	sub     *nats.Subscription
}

// replySlotRoom is a slot's channel's room: its answer and a few late or
// repeated ones (nats.go drops what finds the channel full).
const replySlotRoom = 4

// mine reports whether m answers the slot's current use.
func (s *replySlot) mine(m *nats.Msg) bool { return m.Subject == s.subject }

// maxFreeSlots is how many idle slots are kept (one subscription each, a
// few hundred bytes on both sides); more writes at once than that make
// and drop slots of their own.
const maxFreeSlots = 4096

func newReplies(nc *nats.Conn) *replies {
	return &replies{nc: nc, prefix: nats.NewInbox() + "."}
}

// get returns an idle slot, or subscribes a new one. The subscription is
// sent on the connection before the write that uses it, so the engine
// knows it before it answers.
func (r *replies) get() (*replySlot, error) {
	r.mu.Lock()
	if n := len(r.free); n > 0 {
		s := r.free[n-1]
		r.free[n-1] = nil
		r.free = r.free[:n-1]
		r.mu.Unlock()
		for len(s.ch) > 0 { // late or repeated answers to its earlier uses
			<-s.ch
		}
		s.uses++
		s.subject = s.base + "." + strconv.FormatUint(s.uses, 10)
		return s, nil
	}
	r.made++
	s := &replySlot{base: r.prefix + strconv.Itoa(r.made), uses: 1, ch: make(chan *nats.Msg, replySlotRoom)}
	s.subject = s.base + ".1"
	r.mu.Unlock()
	sub, err := r.nc.ChanSubscribe(s.base+".*", s.ch)
	if err != nil {
		return nil, err
	}
	s.sub = sub
	return s, nil
}

// noResponders says whether m is the server's answer that no one takes the
// request's subject (status 503, no data): nats.go's no-responders.
func noResponders(m *nats.Msg) bool {
	return len(m.Data) == 0 && m.Header.Get("Status") == "503"
}

// put gives back a slot whose one answer was taken.
func (r *replies) put(s *replySlot) {
	r.mu.Lock()
	if len(r.free) < maxFreeSlots {
		r.free = append(r.free, s)
		s = nil
	}
	r.mu.Unlock()
	if s != nil {
		r.drop(s)
	}
}

// drop retires a slot that may still receive an answer.
func (r *replies) drop(s *replySlot) {
	_ = s.sub.Unsubscribe() // fails only on a closed connection, which delivers nothing more
}

// timers are the waits' timers, reused: a timer stopped (or reset) after
// it fired delivers nothing stale (Go 1.23's timers), so any may be reset
// for the next wait.
var timers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}
