package natsstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/clock"
)

// A follow's pull request, read here rather than through nats.go's Fetch.
//
// Every node follows every partition's stream (watch.go), so each write
// is delivered once to every node; the cluster bench's profiles put the
// delivery path at several per cent of each node's CPU. nats.go's Fetch
// hands each message from the subscription's channel to a goroutine of
// its own, which parses the message's reply subject, wraps it, starts a
// timer for the next one and hands it on through a second channel; the
// follow then parsed the reply subject again. Here the follow reads the
// subscription's channel itself and parses the reply subject once,
// without allocating: one goroutine hand-off per message instead of two.
// The protocol is the one Fetch speaks: a request for at most batch
// messages expiring after the bound, no heartbeats, the end being the
// batch's last message or the server's status (408 at the expiry, 409
// for a consumer deleted or moved), and the client giving up when
// nothing came for a second more than the expiry (a server that does not
// answer).

// pullBatch is what one pull request brought.
type pullBatch struct {
	n   int   // messages delivered to fn
	err error // why the batch ended early; nil for its full count or the expiry
}

// pull makes one pull request of at most batch messages on l's consumer
// named consumer, waiting at most expires, and hands each message to fn
// with its metadata (md is reused: fn keeps none of it but its values).
// fn's error ends the pull and is returned as is.
func (l *log) pull(ctx context.Context, consumer string, batch int, expires time.Duration, fn func(m *nats.Msg, md *jetstream.MsgMetadata) error) (n int, err error) {
	// At most batch messages and one status: the channel never drops one
	// (nats.go's own Fetch holds twice the batch).
	ch := make(chan *nats.Msg, batch+1)
	inbox := l.nc.NewInbox()
	sub, err := l.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return 0, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	req := `{"batch":` + strconv.Itoa(batch) + `,"expires":` + strconv.FormatInt(expires.Nanoseconds(), 10) + `}`
	if err := l.nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT."+l.name+"."+consumer, inbox, []byte(req)); err != nil {
		return 0, err
	}
	// As Fetch, the pull is given up when nothing came for a second more
	// than the expiry (the server's answer did not come): the timer is
	// armed once and, when it fires, armed again for what is left after
	// the last message (Fetch makes a timer for every message).
	wait := expires + time.Second
	giveUp := time.NewTimer(wait)
	defer giveUp.Stop()
	var (
		md   jetstream.MsgMetadata
		last time.Time // when the last message came
	)
	for n < batch {
		var m *nats.Msg
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-giveUp.C:
			if left := wait - (clock.Real{}).Now().Sub(last); n > 0 && left > 0 {
				giveUp.Reset(left)
				continue
			}
			return n, nil
		case m = <-ch:
		}
		last = (clock.Real{}).Now()
		if len(m.Data) == 0 && len(m.Header) > 0 {
			if status := m.Header.Get(hdrStatus); status == "100" {
				continue // a control message (idle heartbeat, flow control): none asked for
			} else if status != "" {
				return n, pullStatus(status, m.Header.Get(hdrDescription))
			}
		}
		if err := ackMetadata(m.Reply, &md); err != nil {
			return n, err
		}
		n++
		if err := fn(m, &md); err != nil {
			return n, err
		}
	}
	return n, nil
}

// pullStatus is the end a pull request's status message means: nil for
// the request's expiry or "no messages", else an error (nats.go's, so
// that callers' errors.Is keep working).
func pullStatus(status, descr string) error {
	switch status {
	case "408", "404":
		return nil
	case "503":
		return nats.ErrNoResponders
	case "409":
		d := strings.ToLower(descr)
		switch {
		case strings.Contains(d, "consumer deleted"):
			return jetstream.ErrConsumerDeleted
		case strings.Contains(d, "leadership change"):
			return jetstream.ErrConsumerLeadershipChanged
		case strings.Contains(d, "server shutdown"):
			return jetstream.ErrServerShutdown
		}
	}
	return fmt.Errorf("nats: pull request ended: status %s %s", status, descr)
}

var errAckSubject = errors.New("natsstore: a delivered message's reply subject is not a JetStream acknowledgement subject")

// ackMetadata parses a delivered message's reply subject into md: either
// $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ns>.<pending>
// or the newer form with a domain and an account hash after "ACK" (and a
// token at the end). Only the numbers are set: the follow reads no more.
func ackMetadata(reply string, md *jetstream.MsgMetadata) error {
	var tok [12]string
	n := 0
	for s := reply; ; {
		if n == len(tok) {
			return fmt.Errorf("%w: %q", errAckSubject, reply)
		}
		i := strings.IndexByte(s, '.')
		if i < 0 {
			tok[n] = s
			n++
			break
		}
		tok[n], s = s[:i], s[i+1:]
		n++
	}
	var num []string
	switch {
	case n == 9 && tok[0] == "$JS" && tok[1] == "ACK":
		num = tok[4:9]
	case n >= 11 && tok[0] == "$JS" && tok[1] == "ACK":
		num = tok[6:11]
	default:
		return fmt.Errorf("%w: %q", errAckSubject, reply)
	}
	var v [5]uint64
	for i, t := range num {
		x, err := strconv.ParseUint(t, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: %q", errAckSubject, reply)
		}
		v[i] = x
	}
	md.NumDelivered, md.Sequence.Stream, md.Sequence.Consumer = v[0], v[1], v[2]
	md.Timestamp, md.NumPending = time.Unix(0, int64(v[3])), v[4]
	return nil
}
