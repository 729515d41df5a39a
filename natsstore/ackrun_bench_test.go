package natsstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// runPublisher is a measurement prototype, not used by presenced (issue
// #16 point 3, session 12's ackrun, BenchmarkAckPath's "run" mode): one
// acknowledgement for a run of writes. Writers append their frame, without
// a reply subject, to one buffer; the writer that writes the buffer to the
// pipe (as the raw connection's send) makes what it takes a run: its last
// frame is sent again as an HPUB with a reply subject of the run and the
// header Nats-Expected-Last-Sequence: L+k−1 (L the stream's last sequence
// known, k the run's frames). The engine stores one connection's messages
// of one stream in order, each success adding 1 to the stream's sequence,
// so the last is stored only if every one before it was, and its
// acknowledgement (L+k) gives the i-th write its revision L+i. The reader
// answers each of the run's writers from that one acknowledgement. A
// refused run is not resolved here (the benchmark reports it as an error):
// it measures what the one acknowledgement saves.
type runPublisher struct {
	conn   net.Conn
	prefix string
	stream string

	mu      sync.Mutex
	pending []byte
	spare   []byte
	ents    []runEnt // pending's frames
	spareE  []runEnt
	writing bool
	last    uint64 // the stream's last sequence once every run sent is stored
	nrun    uint64

	rmu  sync.Mutex
	runs map[uint64]*ackRun

	answers []chan uint64
	hist    [8]int // runs by size: 1, 2, 3–4, 5–8, … 65+
	histW   [8]int // writes by their run's size
	b       testing.TB
}

type runEnt struct {
	w   int
	off int // where the frame starts in pending
	key string
	val []byte
}

type ackRun struct {
	base    uint64
	writers []int
}

func newRunPublisher(b testing.TB, k *kv, writers int) *runPublisher {
	conn, err := k.e.srv.InProcessConn()
	if err != nil {
		b.Fatal(err)
	}
	p := &runPublisher{conn: conn, prefix: k.prefix, stream: k.stream, last: lastSeq(b, k),
		runs: map[uint64]*ackRun{}, answers: make([]chan uint64, writers), b: b}
	for i := range p.answers {
		p.answers[i] = make(chan uint64, 1)
	}
	go p.read(rawHandshake(b, conn, "_RUN.*"))
	return p
}

func (p *runPublisher) put(w int, key string, value []byte) uint64 {
	p.mu.Lock()
	off := len(p.pending)
	p.pending = appendPub(p.pending, p.prefix, key, "", value, 0, false)
	p.ents = append(p.ents, runEnt{w: w, off: off, key: key, val: value})
	if !p.writing {
		p.writing = true
		for len(p.ents) > 0 {
			buf, ents := p.pending, p.ents
			p.pending, p.ents = p.spare[:0], p.spareE[:0]
			// The run's last frame again, with the run's reply subject and
			// its expected last sequence.
			k := len(ents)
			e := ents[k-1]
			buf = buf[:e.off]
			p.nrun++
			run := &ackRun{base: p.last, writers: make([]int, k)}
			for i := range ents {
				run.writers[i] = ents[i].w
			}
			var num [24]byte
			reply := strconv.AppendUint(append(num[:0], "_RUN."...), p.nrun, 10)
			buf = appendHPub(buf, p.prefix, e.key, string(reply), "Nats-Expected-Last-Sequence", p.last+uint64(k)-1, e.val)
			p.last += uint64(k)
			p.hist[runBucket(k)]++
			p.histW[runBucket(k)] += k
			p.rmu.Lock()
			p.runs[p.nrun] = run
			p.rmu.Unlock()
			p.mu.Unlock()
			_, err := p.conn.Write(buf)
			p.mu.Lock()
			if err != nil {
				p.b.Error(err)
			}
			p.spare, p.spareE = buf[:0], ents[:0]
		}
		p.writing = false
	}
	p.mu.Unlock()
	return <-p.answers[w]
}

// runBucket is k's histogram bucket: 1, 2, 3–4, 5–8, 9–16, 17–32, 33–64, 65+.
func runBucket(k int) int {
	i := 0
	for n := 1; n < k && i < 7; n *= 2 {
		i++
	}
	return i
}

func (p *runPublisher) read(r *bufio.Reader) {
	for {
		l, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		switch {
		case bytes.HasPrefix(l, []byte("MSG ")):
			var fa [6][]byte
			f := splitFields(l, &fa)
			id, _ := protoNumber(f[1][len("_RUN."):])
			n, _ := protoNumber(f[len(f)-1])
			data, err := r.Peek(n + 2)
			if err != nil {
				data = make([]byte, n+2)
				if _, err := io.ReadFull(r, data); err != nil {
					return
				}
			}
			seq, ok := plainAck(data[:n], p.stream)
			if !ok {
				data = bytes.Clone(data)
			}
			if err == nil {
				_, _ = r.Discard(n + 2)
			}
			p.rmu.Lock()
			run := p.runs[uint64(id)]
			delete(p.runs, uint64(id))
			p.rmu.Unlock()
			k := uint64(len(run.writers))
			if !ok || seq != run.base+k {
				p.b.Errorf("run %d of %d from %d: answer %q", id, k, run.base, data[:n])
				return
			}
			for i, w := range run.writers {
				p.answers[w] <- run.base + uint64(i) + 1
			}
		case bytes.HasPrefix(l, []byte("PING")):
			go func() { _, _ = p.conn.Write([]byte("PONG\r\n")) }()
		case bytes.HasPrefix(l, []byte("-ERR")):
			p.b.Errorf("run: %s", l)
			return
		}
	}
}

// runConn is runPublisher's runs on the engine's own raw connection
// (BenchmarkAckPath's "update-run" mode): each write takes a slot of the
// connection, waits as update does (the guard's generation), and reads
// its answer as updateRaw does; the run's last frame is answered on its
// writer's slot, and that writer, woken by the reader, hands each other
// writer of the run its acknowledgement (synthesized: the stream and L+i)
// on that writer's slot. What a built version would add besides: the
// resolution of a refused run (not measured: no run is refused here).
type runConn struct {
	c      *rawConn
	prefix string

	mu      sync.Mutex
	pending []byte
	spare   []byte
	ents    []slotEnt
	spareE  []slotEnt
	writing bool
	last    uint64

	rmu  sync.Mutex
	runs map[*rawSlot]*slotRun // by the run's last slot

	hist, histW [8]int
}

type slotEnt struct {
	s   *rawSlot
	off int
	key string
	val []byte
}

type slotRun struct {
	base  uint64
	slots []*rawSlot
}

// lastSeq is k's stream's last sequence, where a run's first frame follows.
func lastSeq(b testing.TB, k *kv) uint64 {
	s, err := k.js.Stream(context.Background(), k.stream)
	if err != nil {
		b.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return info.State.LastSeq
}

func newRunConn(b testing.TB, k *kv) *runConn {
	if !k.e.raw.usable() {
		b.Fatal("no raw connection")
	}
	return &runConn{c: k.e.raw, prefix: k.prefix, last: lastSeq(b, k), runs: map[*rawSlot]*slotRun{}}
}

// update is kv.update's path for a sole writer's write, its frame sent in
// a run.
func (rc *runConn) update(ctx context.Context, b *kv, key string, value []byte) (uint64, error) {
	if !validKey(key) {
		return 0, jetstream.ErrInvalidKey
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	w := b.startWait(false, publishTimeout)
	defer w.stop()
	if b.g != nil {
		if err := b.g.check(); err != nil {
			return 0, err
		}
	}
	c := rc.c
	s := c.get()
	rc.mu.Lock()
	off := len(rc.pending)
	rc.pending = appendPub(rc.pending, rc.prefix, key, "", value, 0, false)
	rc.ents = append(rc.ents, slotEnt{s: s, off: off, key: key, val: value})
	var werr error
	if !rc.writing {
		rc.writing = true
		for len(rc.ents) > 0 && werr == nil {
			buf, ents := rc.pending, rc.ents
			rc.pending, rc.ents = rc.spare[:0], rc.spareE[:0]
			k := len(ents)
			e := ents[k-1]
			buf = appendHPub(buf[:e.off], rc.prefix, e.key, e.s.reply, "Nats-Expected-Last-Sequence", rc.last+uint64(k)-1, e.val)
			run := &slotRun{base: rc.last, slots: make([]*rawSlot, k)}
			for i := range ents {
				run.slots[i] = ents[i].s
				ents[i] = slotEnt{}
			}
			rc.last += uint64(k)
			rc.hist[runBucket(k)]++
			rc.histW[runBucket(k)] += k
			rc.rmu.Lock()
			rc.runs[e.s] = run
			rc.rmu.Unlock()
			rc.mu.Unlock()
			werr = c.write(buf)
			rc.mu.Lock()
			rc.spare, rc.spareE = buf[:0], ents[:0]
		}
		rc.writing = false
	}
	rc.mu.Unlock()
	if werr != nil {
		c.fail(werr)
	}
	if err := c.await(s, b, &w); err != nil {
		return 0, err
	}
	seq, err := b.rawAck(&s.ans)
	rc.rmu.Lock()
	run := rc.runs[s]
	delete(rc.runs, s)
	rc.rmu.Unlock()
	if run != nil { // this write's frame ended a run: answer the others
		k := uint64(len(run.slots))
		if err == nil && seq != run.base+k {
			err = errRunMismatch
		}
		for i, o := range run.slots[:k-1] {
			a := `{"stream":"` + b.stream + `","seq":`
			o.ans = rawAnswer{}
			n := copy(o.ans.small[:], a)
			n += len(strconv.AppendUint(o.ans.small[n:n], run.base+uint64(i)+1, 10))
			o.ans.small[n] = '}'
			o.ans.n = n + 1
			o.ch <- true
		}
	}
	c.put(s)
	return seq, err
}

var errRunMismatch = errors.New("run: acknowledgement's sequence is not the run's")
