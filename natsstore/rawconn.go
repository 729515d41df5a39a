package natsstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/presenced/presenced/clock"
)

// rawConn carries a single node's writes (update) to its embedded engine
// without nats.go: the NATS protocol spoken on an in-process connection of
// its own. Why: nats.go's publish wakes its flusher goroutine, which holds
// the connection's lock while the pipe hands the buffer to the server, and
// its reader makes a nats.Msg of every answer and hands it over a channel
// select; here a writer appends its PUB to one buffer and writes the buffer
// to the pipe itself when no other writer is, and one reader goroutine puts
// each acknowledgement's bytes into its writer's slot (BenchmarkAckPath's
// raw against update-sole, docs/performance.md). What is sent and answered
// is the same: the key's subject and value (with the revision header when
// the engine checks it) and one acknowledgement, which the engine sends
// once the write is stored — a 2xx still means stored.
//
// Only a single node's embedded engine has one (no TLS, credentials,
// routes or reconnects: the pipe is the process's own); a cluster and an
// operator's NATS write through nats.go as before. If the connection
// fails, update writes through nats.go from then on.
type rawConn struct {
	conn       net.Conn
	prefix     string // a slot's reply subject is prefix+<n>
	maxPayload int
	done       chan struct{} // closed when the connection has ended
	errv       atomic.Value  // why it ended (error), set before done closes
	closing    atomic.Bool   // the engine is closing: new writes go through nats.go
	failOnce   sync.Once

	mu      sync.Mutex // the outgoing side
	pending []byte     // frames appended while a writer writes
	spare   []byte
	writing bool        // a writer is writing pending to the pipe
	renew   clock.Stamp // when the pipe's write deadline is half gone (only the writing writer reads or sets it)

	smu   sync.Mutex // the slots
	free  []*rawSlot
	slots map[uint64]*rawSlot // every slot not dropped, by number
	made  uint64
}

// rawSlot is one writer's reply subject at a time: the reader puts its
// one answer into ans and true into its channel; a slot whose answer did
// not come is dropped and its number never used again, so a late answer
// reaches no other write. Unlike replies' slots, a slot keeps its subject
// from use to use: the raw connection serves a single node's embedded
// engine, which answers a publish once (a cluster, which can answer
// twice, writes through replies, whose every use has a subject of its own).
//
// Its writer waits on the slot's channel alone (a select over channels
// that every writer shares — the connection's end, the guard's wait
// generation — takes each of their locks: ~0.4 µs of a write in
// BenchmarkAckPath's profile). When the connection ends
// or a wait generation does, watch puts a wake-up into every busy slot's
// channel, and its writer looks at what it waits for.
type rawSlot struct {
	n     uint64
	reply string
	ch    chan bool // true: the answer is in ans; false: a wake-up (rawSlotRoom in all)
	ans   rawAnswer // written by the reader before it sends true
	busy  bool      // handed out (under the connection's smu)
	// frame is the write's frame, built by the slot's holder alone and
	// copied by send: reused from use to use (a stack array of 256 bytes
	// was too small for a user with two sessions, and the frame's ~300
	// bytes were an allocation of every such write at a million users).
	frame []byte
}

// rawFrameRoom is a new slot's room for its frames: a user's two or three
// sessions. A larger frame grows the slot's buffer, which the slot then
// keeps unless it grew past maxSlotFrame.
const (
	rawFrameRoom = 512
	maxSlotFrame = 4 << 10
)

// rawSlotRoom is a slot's channel's room: the one answer and wake-ups,
// of which a waiting writer takes each as it comes, so that the answer
// always finds room.
const rawSlotRoom = 4

// rawAnswer is the engine's answer to a write, copied out of the reader's
// buffer (an acknowledgement is ~40 bytes: no allocation).
type rawAnswer struct {
	n            int
	small        [112]byte
	big          []byte // the answer, when it does not fit in small
	noResponders bool   // no stream takes the subject (status 503, no data)
}

func (a *rawAnswer) data() []byte {
	if a.big != nil {
		return a.big
	}
	return a.small[:a.n]
}

// rawConnect opens the connection to srv, in process.
func rawConnect(srv *server.Server, name string) (*rawConn, error) {
	conn, err := srv.InProcessConn()
	if err != nil {
		return nil, err
	}
	r := bufio.NewReaderSize(conn, 32<<10)
	_ = conn.SetDeadline(clock.Real{}.Now().Add(10 * time.Second)) // the handshake is bounded
	fail := func(err error) (*rawConn, error) {
		conn.Close()
		return nil, fmt.Errorf("natsstore: raw connection: %w", err)
	}
	line, err := r.ReadSlice('\n')
	if err != nil {
		return fail(err)
	}
	info, ok := bytes.CutPrefix(line, []byte("INFO "))
	if !ok {
		return fail(fmt.Errorf("expected INFO, got %.80q", line))
	}
	var si struct {
		MaxPayload int  `json:"max_payload"`
		Headers    bool `json:"headers"`
	}
	if err := jsonv2.Unmarshal(bytes.TrimSpace(info), &si); err != nil || !si.Headers || si.MaxPayload <= 0 {
		return fail(fmt.Errorf("server INFO %.200q: %v", info, err))
	}
	c := &rawConn{conn: conn, prefix: nats.NewInbox() + ".", maxPayload: si.MaxPayload, done: make(chan struct{}), slots: map[uint64]*rawSlot{}}
	connect := `CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1,"name":` +
		strconv.Quote(name) + "}\r\nSUB " + c.prefix + "* 1\r\nPING\r\n"
	if _, err := conn.Write([]byte(connect)); err != nil {
		return fail(err)
	}
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return fail(err)
		}
		if bytes.HasPrefix(line, []byte("PONG")) {
			break
		}
		if bytes.HasPrefix(line, []byte("-ERR")) {
			return fail(errors.New(string(bytes.TrimSpace(line))))
		}
	}
	_ = conn.SetDeadline(time.Time{})
	go c.read(r)
	return c, nil
}

// usable reports whether a write may go through c.
func (c *rawConn) usable() bool {
	if c == nil || c.closing.Load() {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// err is why c ended.
func (c *rawConn) err() error {
	if err, ok := c.errv.Load().(error); ok {
		return err
	}
	return nats.ErrConnectionClosed
}

// fail ends c: every write waiting on it stops waiting (c.done).
func (c *rawConn) fail(err error) {
	c.failOnce.Do(func() {
		c.errv.Store(fmt.Errorf("natsstore: raw connection ended: %w (%v)", nats.ErrConnectionClosed, err))
		close(c.done)
		c.conn.Close()
	})
}

// close ends c once the engine no longer needs it.
func (c *rawConn) close() {
	if c != nil {
		c.fail(nats.ErrConnectionClosed)
	}
}

// get returns an idle slot, or a new one.
func (c *rawConn) get() *rawSlot {
	c.smu.Lock()
	defer c.smu.Unlock()
	if n := len(c.free); n > 0 {
		s := c.free[n-1]
		c.free[n-1] = nil
		c.free = c.free[:n-1]
		s.busy = true
		for len(s.ch) > 0 { // a wake-up meant for its last writer
			<-s.ch
		}
		return s
	}
	c.made++
	s := &rawSlot{n: c.made, reply: c.prefix + strconv.FormatUint(c.made, 10), ch: make(chan bool, rawSlotRoom), busy: true,
		frame: make([]byte, 0, rawFrameRoom)}
	c.slots[s.n] = s
	return s
}

// watch wakes the busy slots' writers when the connection ends or, on
// ended, when a wait generation of the guard has.
func (c *rawConn) watch(ended <-chan struct{}) {
	for {
		select {
		case <-c.done:
			c.wakeAll()
			return
		case <-ended:
			c.wakeAll()
		}
	}
}

func (c *rawConn) wakeAll() {
	c.smu.Lock()
	defer c.smu.Unlock()
	for _, s := range c.slots {
		if s.busy {
			select {
			case s.ch <- false:
			default:
			}
		}
	}
}

// put gives back a slot whose one answer was taken.
func (c *rawConn) put(s *rawSlot) {
	c.smu.Lock()
	s.busy = false
	if len(c.free) < maxFreeSlots {
		c.free = append(c.free, s)
	} else {
		delete(c.slots, s.n)
	}
	c.smu.Unlock()
}

// waitGen waits for s's answer (then in s.ans), the connection's end, or
// the end of the guard's current wait generation, whichever comes first
// (see rawSlot).
func (c *rawConn) waitGen(s *rawSlot, g *guard, gen context.Context) error {
	genDone := gen.Done()
	for {
		// Looked at before each wait: a generation that had ended before
		// s was handed out sent it no wake-up. One channel a select: with
		// two it would lock both.
		select {
		case <-c.done:
			return c.err()
		default:
		}
		select {
		case <-genDone:
			return g.waitError(gen)
		default:
		}
		if <-s.ch {
			return nil
		}
	}
}

// waitTimer waits for s's answer or the connection's end until timeUp
// (a caller's deadline, or an engine without a guard).
func (c *rawConn) waitTimer(s *rawSlot, timeUp <-chan time.Time) error {
	for {
		select {
		case answered := <-s.ch:
			if answered {
				return nil
			}
		case <-c.done:
			return c.err()
		case <-timeUp:
			return nats.ErrTimeout
		}
	}
}

// drop retires a slot that may still receive an answer.
func (c *rawConn) drop(s *rawSlot) {
	c.smu.Lock()
	delete(c.slots, s.n)
	c.smu.Unlock()
}

// send writes frame to the server: appended to what is pending, and
// written by this writer unless another is writing (which then writes it
// too). An error means the connection has failed (c.done is closed): the
// frame may or may not have reached the server.
func (c *rawConn) send(frame []byte) error {
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return c.err()
	default:
	}
	c.pending = append(c.pending, frame...)
	if c.writing {
		c.mu.Unlock()
		return nil
	}
	c.writing = true
	var err error
	for len(c.pending) > 0 {
		buf := c.pending
		c.pending = c.spare[:0]
		c.mu.Unlock()
		err = c.write(buf)
		c.mu.Lock()
		c.spare = buf[:0]
		if err != nil {
			c.pending = c.pending[:0]
			break
		}
	}
	c.writing = false
	c.mu.Unlock()
	if err != nil {
		c.fail(err)
		return c.err()
	}
	return nil
}

// write writes buf to the pipe, within a deadline: the pipe's reader is
// the server's read loop, which only a stuck server does not come back
// to; then the write fails, and so does the connection. The deadline is
// moved ahead only once half of it is gone (setting one starts a timer),
// which a monotonic stamp tells: the wall clock is read only to move it.
func (c *rawConn) write(buf []byte) error {
	if now := clock.Mono(); now >= c.renew {
		c.renew = now + clock.Stamp(publishTimeout/2)
		if err := c.conn.SetWriteDeadline(clock.Real{}.Now().Add(publishTimeout)); err != nil {
			return err
		}
	}
	_, err := c.conn.Write(buf)
	return err
}

// read reads what the server sends until the connection ends: the
// answers, which go to their slots, and the server's PINGs.
func (c *rawConn) read(r *bufio.Reader) {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			c.fail(err)
			return
		}
		switch {
		case bytes.HasPrefix(line, []byte("MSG ")), bytes.HasPrefix(line, []byte("HMSG ")):
			if err := c.answer(r, line); err != nil {
				c.fail(err)
				return
			}
		case bytes.HasPrefix(line, []byte("PING")):
			// Not written by the reader itself: the server's read loop may
			// be writing to this reader at the time.
			go func() { _ = c.send([]byte("PONG\r\n")) }()
		case bytes.HasPrefix(line, []byte("-ERR")):
			c.fail(errors.New(string(bytes.TrimSpace(line))))
			return
		}
	}
}

// answer reads one message (its protocol line is line) and puts it into
// its slot, if the slot is still waiting.
func (c *rawConn) answer(r *bufio.Reader, line []byte) error {
	hmsg := line[0] == 'H'
	var fa [6][]byte
	f := splitFields(line, &fa)
	// MSG <subject> <sid> [reply] <size>; HMSG <subject> <sid> [reply] <header size> <size>
	fields := 4
	if hmsg {
		fields = 5
	}
	if len(f) < fields || len(f) > fields+1 {
		return fmt.Errorf("unexpected %.100q", line)
	}
	size, ok := protoNumber(f[len(f)-1])
	if !ok {
		return fmt.Errorf("unexpected %.100q", line)
	}
	hsize := 0
	if hmsg {
		if hsize, ok = protoNumber(f[len(f)-2]); !ok || hsize > size {
			return fmt.Errorf("unexpected %.100q", line)
		}
	}
	var s *rawSlot
	if num, ok := bytes.CutPrefix(f[1], []byte(c.prefix)); ok {
		if n, ok := protoNumber(num); ok {
			c.smu.Lock()
			s = c.slots[uint64(n)]
			c.smu.Unlock()
		}
	}
	var a rawAnswer
	body, err := r.Peek(size + 2)
	switch {
	case err == nil:
	case errors.Is(err, bufio.ErrBufferFull):
		body = make([]byte, size+2)
		if _, err := io.ReadFull(r, body); err != nil {
			return err
		}
		a.big = body[hsize:size]
		body = nil
	default:
		return err
	}
	if body != nil {
		data := body[hsize:size]
		if s != nil {
			if len(data) <= len(a.small) {
				a.n = copy(a.small[:], data)
			} else {
				a.big = bytes.Clone(data)
			}
		}
		a.noResponders = hmsg && len(data) == 0 && status(body[:hsize]) == "503"
		if _, err := r.Discard(size + 2); err != nil {
			return err
		}
	}
	if s == nil {
		return nil // a dropped slot's late answer, or not ours
	}
	s.ans = a
	select {
	case s.ch <- true:
	default: // no room: not the answer of a waiting write (the engine answers once)
	}
	return nil
}

// protoNumber reads a protocol line's decimal number (a size, a slot's
// number) where it is: strconv's parsers take a string, a copy of the
// bytes a call, three calls an answer. Digits only, at most 18 of them
// (what the server writes); anything else is not a number.
func protoNumber(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// splitFields splits a protocol line at its spaces into fa, without
// allocating: the fields, or all of fa when the line has more.
func splitFields(line []byte, fa *[6][]byte) [][]byte {
	n := 0
	for i := 0; i < len(line) && n < len(fa); {
		if c := line[i]; c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			i++
			continue
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' && line[j] != '\r' && line[j] != '\n' {
			j++
		}
		fa[n] = line[i:j]
		n++
		i = j
	}
	return fa[:n]
}

// status is the status code of a message's header block ("NATS/1.0 503\r\n…").
func status(hdr []byte) string {
	line, _, _ := bytes.Cut(hdr, []byte("\r\n"))
	rest, ok := bytes.CutPrefix(line, []byte("NATS/1.0 "))
	if !ok {
		return ""
	}
	code, _, _ := bytes.Cut(rest, []byte(" "))
	return string(code)
}

// appendPub appends the frame publishing value to prefix+key, its answer
// to reply (none when reply is empty); with check, with the
// expected-last-subject-sequence header (expect), as nats.go writes it.
func appendPub(m []byte, prefix, key, reply string, value []byte, expect uint64, check bool) []byte {
	if check {
		return appendHPub(m, prefix, key, reply, "Nats-Expected-Last-Subject-Sequence", expect, value)
	}
	m = append(m, "PUB "...)
	m = append(append(append(m, prefix...), key...), ' ')
	if reply != "" {
		m = append(append(m, reply...), ' ')
	}
	m = strconv.AppendInt(m, int64(len(value)), 10)
	m = append(m, "\r\n"...)
	m = append(m, value...)
	return append(m, "\r\n"...)
}

// appendHPub appends the frame publishing value to prefix+key, answered
// on reply, with one header: name, whose value is expect.
func appendHPub(m []byte, prefix, key, reply, name string, expect uint64, value []byte) []byte {
	var num [20]byte
	seq := strconv.AppendUint(num[:0], expect, 10)
	hlen := len("NATS/1.0\r\n") + len(name) + len(": ") + len(seq) + len("\r\n\r\n")
	m = append(m, "HPUB "...)
	m = append(append(append(append(append(m, prefix...), key...), ' '), reply...), ' ')
	m = strconv.AppendInt(m, int64(hlen), 10)
	m = append(m, ' ')
	m = strconv.AppendInt(m, int64(hlen+len(value)), 10)
	m = append(m, "\r\nNATS/1.0\r\n"...)
	m = append(append(append(m, name...), ": "...), seq...)
	m = append(m, "\r\n\r\n"...)
	m = append(m, value...)
	return append(m, "\r\n"...)
}
