package natsstore

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ackMetadata reads both forms of a delivered message's reply subject as
// nats.go's Metadata does, and refuses what is not one.
func TestAckMetadata(t *testing.T) {
	want := jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Consumer: 7, Stream: 1234}, NumDelivered: 1, NumPending: 42,
		Timestamp: time.Unix(0, 1764720000123456789)}
	for _, reply := range []string{
		"$JS.ACK.KV_presence-0.abc.1.1234.7.1764720000123456789.42",
		"$JS.ACK.dom.ACCHASH.KV_presence-0.abc.1.1234.7.1764720000123456789.42.xyz",
		"$JS.ACK._.ACCHASH.KV_presence-0.abc.1.1234.7.1764720000123456789.42",
	} {
		var md jetstream.MsgMetadata
		if err := ackMetadata(reply, &md); err != nil {
			t.Fatalf("%s: %v", reply, err)
		}
		if md.Sequence != want.Sequence || md.NumDelivered != want.NumDelivered || md.NumPending != want.NumPending || !md.Timestamp.Equal(want.Timestamp) {
			t.Errorf("%s: %+v, want %+v", reply, md, want)
		}
	}
	for _, reply := range []string{"", "_INBOX.abc", "$JS.ACK.s.c.1.2.3.4", "$JS.ACK.s.c.1.x.3.4.5", "$JS.ACK.a.b.c.d.e.f.g.h.i.j.k.l.m"} {
		var md jetstream.MsgMetadata
		if err := ackMetadata(reply, &md); !errors.Is(err, errAckSubject) {
			t.Errorf("%q: %v, want errAckSubject", reply, err)
		}
	}
}
