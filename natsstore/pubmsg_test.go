package natsstore

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A cluster write stores what nats.go's KeyValue.Update stores: the same
// subject, value and headers (the revision it expected), though its
// message is recycled.
func TestClusterPutIsKVUpdate(t *testing.T) {
	ctx := ctxT(t)
	e := openT(t, Options{Dir: t.TempDir()})
	b := bucketT(t, e, "presence").(*kv)
	mine, theirs := ukey(tenantA, user1), ukey(tenantA, user2)
	r1, err := b.clusterPut(ctx, mine, []byte("one"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := b.kv.Create(ctx, theirs, []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	sameAsKVUpdate(t, e, b, mine, theirs, r1, r2, "clusterPut", func(rev uint64) (uint64, error) {
		return b.clusterPut(ctx, mine, []byte("two"), rev, 0)
	})
	// A stale revision is a conflict, and writes nothing.
	if _, err := b.clusterPut(ctx, mine, []byte("three"), r1, 0); !isConflict(err) {
		t.Fatalf("stale revision: %v, want a conflict", err)
	}
}

// A recycled cluster message carries nothing of its last use: a lease's
// TTL header in particular would make a user's next write lapse.
func TestClusterMsgRecycledClean(t *testing.T) {
	p := pubMsgs.New().(*pubMsg) // not the pool's: this test's alone
	m := p.build("$KV.x.", "lease.a", []byte("holder"), 3*time.Second)
	p.setExpect(12345)
	if m.Subject != "$KV.x.lease.a" || string(m.Data) != "holder" ||
		m.Header.Get(jetstream.MsgTTLHeader) != "3s" || m.Header.Get(jetstream.ExpectedLastSubjSeqHeader) != "12345" || len(m.Header) != 2 {
		t.Fatalf("lease write: %q %q %v", m.Subject, m.Data, m.Header)
	}
	p.setExpect(7) // a second try of the same write
	if m.Header.Get(jetstream.ExpectedLastSubjSeqHeader) != "7" {
		t.Fatalf("second try: %v", m.Header)
	}
	p.reset()
	m = p.build("$KV.x.", "u.t.1", []byte("facts"), 0)
	p.setExpect(0)
	if m.Subject != "$KV.x.u.t.1" || string(m.Data) != "facts" || m.Reply != "" ||
		len(m.Header) != 1 || m.Header.Get(jetstream.ExpectedLastSubjSeqHeader) != "0" {
		t.Fatalf("user's write after a lease's: %q %q %q %v", m.Subject, m.Data, m.Reply, m.Header)
	}
}
