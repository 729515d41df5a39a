package natsstore

import (
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// pubMsg is a write's message, recycled (pubMsgs): a single node's update
// over nats.go and a cluster's clusterPut both take theirs from here.
// nats.go copies a message's subject, reply, header and data into its
// outbound buffer before PublishMsg returns and keeps no reference to the
// message, so the message, its header map, the header's value slices, the
// subject and the revision's digits need not be made anew for each write.
// The message sent is the same: the key's subject, the value, the
// expected-last-subject-sequence header (the revision check; a single
// node's unchecked write sends no header), and a message TTL header for a
// lease's write.
type pubMsg struct {
	m      nats.Msg
	hdr    nats.Header
	expect [1]string
	ttl    [1]string
	subj   []byte // m.Subject's bytes
	num    []byte // expect[0]'s bytes
	ttlb   []byte // ttl[0]'s bytes
}

var pubMsgs = sync.Pool{New: func() any {
	p := new(pubMsg)
	p.hdr = nats.Header{jetstream.ExpectedLastSubjSeqHeader: p.expect[:]}
	return p
}}

// build makes the message writing value under prefix+key, with a message
// TTL when ttl > 0; setExpect sets its revision. The message is valid
// until put.
func (p *pubMsg) build(prefix, key string, value []byte, ttl time.Duration) *nats.Msg {
	p.subj = append(append(p.subj[:0], prefix...), key...)
	p.m.Subject, p.m.Data, p.m.Header = unsafe.String(unsafe.SliceData(p.subj), len(p.subj)), value, p.hdr
	if ttl > 0 {
		p.ttlb = append(p.ttlb[:0], ttl.String()...)
		p.ttl[0] = unsafe.String(unsafe.SliceData(p.ttlb), len(p.ttlb))
		p.hdr[jetstream.MsgTTLHeader] = p.ttl[:]
	}
	return &p.m
}

// setExpect sets the revision the write expects the key to have.
func (p *pubMsg) setExpect(expect uint64) {
	p.num = strconv.AppendUint(p.num[:0], expect, 10)
	p.expect[0] = unsafe.String(unsafe.SliceData(p.num), len(p.num))
}

// put clears what the message refers to and recycles it.
func (p *pubMsg) put() {
	p.reset()
	pubMsgs.Put(p)
}

// reset clears what the message refers to, and a lease's TTL header,
// which the next write, a user's, must not carry.
func (p *pubMsg) reset() {
	delete(p.hdr, jetstream.MsgTTLHeader)
	p.m = nats.Msg{}
	p.expect[0], p.ttl[0] = "", ""
}
