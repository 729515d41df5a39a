package presenced_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"
)

// sseClient is the benchmark's stream client: one GET of the stream over
// a TCP connection of its own, read in the caller's goroutine, the
// response's chunked framing (if any) taken apart as it comes. It is what an
// efficient client of many streams does, and no less: every event is read
// from the socket, unframed and split into lines, and each data line is
// timed when it is read. It leaves out what net/http's client adds per
// read (a connection pool, a goroutine per connection beside the reader's,
// two locked body wrappers), which on this 2-core box was CPU taken from
// the server being measured (docs/performance.md).
type sseClient struct {
	conn    net.Conn
	rd      *bufio.Reader
	chunked bool   // the body comes in chunks (else it is the rest of the connection)
	payload []byte // the chunk being read
	pending []byte // the start of a line that the next chunk ends
}

// dialSSE opens the stream at rawURL (http only) and reads the response's
// head: 200, or an error.
func dialSSE(rawURL string) (*sseClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("stream client: %s: only http", rawURL)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		return nil, err
	}
	c := &sseClient{conn: conn, rd: bufio.NewReaderSize(conn, 4096)}
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nAccept: text/event-stream\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	if err := c.readHead(); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// readHead reads the status line and the header lines.
func (c *sseClient) readHead() error {
	status, err := c.rd.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("stream: %s", bytes.TrimSpace(status))
	}
	c.chunked = false
	for {
		line, err := c.rd.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		k, v, _ := bytes.Cut(line, []byte(":"))
		if string(bytes.ToLower(bytes.TrimSpace(k))) == "transfer-encoding" && string(bytes.TrimSpace(v)) == "chunked" {
			c.chunked = true
		}
	}
	return nil
}

var errStreamEnd = errors.New("stream: ended")

// read calls fn with each data line and the time it was read, until the
// stream or the connection ends.
func (c *sseClient) read(fn func(at time.Time, line []byte)) error {
	defer c.conn.Close()
	if !c.chunked {
		for {
			line, err := c.rd.ReadSlice('\n')
			if err != nil {
				return err
			}
			if bytes.HasPrefix(line, []byte("data: ")) {
				fn(time.Now(), line)
			}
		}
	}
	for {
		size, err := c.rd.ReadSlice('\n')
		if err != nil {
			return err
		}
		if i := bytes.IndexAny(size, ";\r\n"); i >= 0 {
			size = size[:i]
		}
		n, err := strconv.ParseUint(string(size), 16, 31)
		if err != nil {
			return fmt.Errorf("stream: chunk size %q", size)
		}
		if n == 0 {
			return errStreamEnd
		}
		if cap(c.payload) < int(n) {
			c.payload = make([]byte, n)
		}
		p := c.payload[:n]
		if _, err := io.ReadFull(c.rd, p); err != nil {
			return err
		}
		if crlf, err := c.rd.ReadSlice('\n'); err != nil || string(crlf) != "\r\n" {
			return fmt.Errorf("stream: no CRLF after a chunk (%v)", err)
		}
		var at time.Time
		for len(p) > 0 {
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				c.pending = append(c.pending, p...)
				break
			}
			line := p[:i+1]
			if len(c.pending) > 0 {
				line = append(c.pending, line...)
				c.pending = c.pending[:0]
			}
			p = p[i+1:]
			if bytes.HasPrefix(line, []byte("data: ")) {
				if at.IsZero() {
					at = time.Now()
				}
				fn(at, line)
			}
		}
	}
}

// close ends the stream from the client's side.
func (c *sseClient) close() { _ = c.conn.Close() }
