package natsstore

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
)

// rawPublisher is a measurement prototype, not used by presenced: the
// write's round trip without nats.go — the NATS protocol spoken directly on
// an in-process connection of the engine. A writer appends its PUB to a
// shared buffer and, if no other writer is writing, writes the buffer to
// the pipe itself (no flusher goroutine woken, no connection lock held
// across the pipe's hand-off); one reader goroutine parses the engine's
// acknowledgements and puts each writer's sequence straight into its
// channel (no nats.Msg made, no select over shared channels). It measures
// what nats.go's publish and reply path costs beyond the engine's own
// work (BenchmarkAckPath's "raw" mode).
type rawPublisher struct {
	conn    net.Conn
	mu      sync.Mutex
	pending []byte
	spare   []byte
	writing bool
	answers []chan uint64
	stream  string
}

func newRawPublisher(b *testing.B, k *kv, writers int) *rawPublisher {
	conn, err := k.e.srv.InProcessConn()
	if err != nil {
		b.Fatal(err)
	}
	p := &rawPublisher{conn: conn, stream: k.stream, answers: make([]chan uint64, writers)}
	for i := range p.answers {
		p.answers[i] = make(chan uint64, 1)
	}
	go p.read(b, rawHandshake(b, conn, "_RAW.*"))
	return p
}

// rawHandshake connects the measurement prototypes' own in-process
// connection: reads the server's INFO, sends CONNECT and a subscription
// to sub (sid 1) for the answers, and returns the reader once the
// server's PONG shows both were taken.
func rawHandshake(b testing.TB, conn net.Conn, sub string) *bufio.Reader {
	r := bufio.NewReaderSize(conn, 64<<10)
	if _, err := r.ReadString('\n'); err != nil { // INFO
		b.Fatal(err)
	}
	if _, err := conn.Write([]byte("CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}\r\nSUB " + sub + " 1\r\nPING\r\n")); err != nil {
		b.Fatal(err)
	}
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			b.Fatal(err)
		}
		if l == "PONG\r\n" {
			return r
		}
	}
}

func (p *rawPublisher) send(msg []byte) {
	p.mu.Lock()
	p.pending = append(p.pending, msg...)
	if p.writing {
		p.mu.Unlock()
		return
	}
	p.writing = true
	for len(p.pending) > 0 {
		buf := p.pending
		p.pending = p.spare[:0]
		p.mu.Unlock()
		_, _ = p.conn.Write(buf)
		p.mu.Lock()
		p.spare = buf[:0]
	}
	p.writing = false
	p.mu.Unlock()
}

func (p *rawPublisher) put(w int, subject string, value []byte) uint64 {
	var b [256]byte
	var r [32]byte
	reply := strconv.AppendInt(append(r[:0], "_RAW."...), int64(w), 10)
	p.send(pubFrame(b[:0], subject, reply, value))
	return <-p.answers[w]
}

func (p *rawPublisher) read(b *testing.B, r *bufio.Reader) {
	for {
		l, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		switch {
		case bytes.HasPrefix(l, []byte("MSG ")):
			f := bytes.Fields(l)
			w, _ := strconv.Atoi(string(f[1][len("_RAW."):]))
			n, _ := strconv.Atoi(string(f[len(f)-1]))
			data := make([]byte, n+2)
			if _, err := io.ReadFull(r, data); err != nil {
				return
			}
			seq, ok := plainAck(data[:n], p.stream)
			if !ok {
				b.Errorf("raw: answer %q", data[:n])
			}
			p.answers[w] <- seq
		case bytes.HasPrefix(l, []byte("PING")):
			p.send([]byte("PONG\r\n"))
		case bytes.HasPrefix(l, []byte("-ERR")):
			b.Errorf("raw: %s", l)
			return
		}
	}
}

// putReplyTo is put with the answer sent to reply (a natsstore reply
// slot's subject, read by nats.go): the publish without nats.go, the
// answer through it (BenchmarkAckPath's "raw-pub" mode).
func (p *rawPublisher) putReplyTo(subject, reply string, value []byte) {
	var b [256]byte
	p.send(pubFrame(b[:0], subject, reply, value))
}

// pubFrame appends to m the NATS protocol's PUB of value to subject, its
// answer to reply.
func pubFrame[R string | []byte](m []byte, subject string, reply R, value []byte) []byte {
	m = append(m, "PUB "...)
	m = append(m, subject...)
	m = append(m, ' ')
	m = append(m, reply...)
	m = append(m, ' ')
	m = strconv.AppendInt(m, int64(len(value)), 10)
	m = append(m, "\r\n"...)
	m = append(m, value...)
	return append(m, "\r\n"...)
}
