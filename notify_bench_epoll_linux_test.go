//go:build linux

package presenced_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// streamClientsEpoll is epollStreams where there is epoll.
var streamClientsEpoll = epollStreams

// epollStreams is the 10,000-stream case's client where there is epoll:
// streams first to first+n-1 (their numbers in what it reports), their
// sockets in one epoll set, read by one goroutine, one read per socket
// that has data. That is how an efficient client of many streams reads
// them, and it reads all that one does: every byte from the socket, any
// chunked framing taken apart, each data line timed when its read
// returned. Go's netpoller, by contrast, makes two reads per event (the
// second finds nothing and parks the reader) and a goroutine switch:
// measured, 7 µs of the clients' CPU per event against ~2.5 µs here, taken
// from the two cores the server is measured on (docs/performance.md). The
// client process runs one per core, each with its share of the streams
// (TestNotifyBenchStreamClient).
//
// It opens its streams of rawURL (http, an IPv4 address), at most 16
// being opened at a time; calls initial once per stream when its first
// event came; then event for each later data line, and flush once the
// streams were quiet for flushIdle after events (not after every batch
// epoll returned: at 10,000 streams that was a pipe write, and a wake-up
// of the benchmark's reader in the server's process, every few events, on
// the cores the fan-out is measured on). event gets two times: at, when
// the read returned (what the benchmark measures: the client has the
// line), and sock, when the kernel put the segment in the stream's socket
// (SO_TIMESTAMPNS): the moment a client of its own could have read it.
// Between them is this reader's queue of thousands of streams, which a
// user does not have. It returns nil once every stream ended after its
// first event (the server stopped), an error on any other end.
func epollStreams(rawURL string, first, n int, initial func(), event func(i int, at, sock time.Time, line []byte), flush func()) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	addr, err := net.ResolveTCPAddr("tcp4", u.Host)
	if err != nil {
		return err
	}
	sa := &syscall.SockaddrInet4{Port: addr.Port}
	copy(sa.Addr[:], addr.IP.To4())
	req := []byte("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nAccept: text/event-stream\r\n\r\n")
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	conns := make([]epollConn, n)
	open := func(i int) error {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := syscall.Connect(fd, sa); err != nil {
			return err
		}
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1); err != nil {
			return err
		}
		if _, err := syscall.Write(fd, req); err != nil {
			return err
		}
		if err := syscall.SetNonblock(fd, true); err != nil {
			return err
		}
		conns[i].fd = fd
		return syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(i)})
	}
	next, started, ended := 0, 0, 0
	for ; next < min(n, 16); next++ {
		if err := open(next); err != nil {
			return err
		}
	}
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	oob := make([]byte, 64)
	unflushed := false
	for {
		timeout := -1
		if unflushed {
			timeout = flushIdle
		}
		k, err := epollWait(ep, events, timeout)
		if err != nil {
			return err
		}
		if k == 0 {
			flush()
			unflushed = false
			continue
		}
		for _, ev := range events[:k] {
			i := int(ev.Fd)
			c := &conns[i]
			m, sock, err := readStamped(c.fd, buf, oob)
			if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) {
				continue
			}
			if err != nil || m == 0 {
				if !c.started {
					return fmt.Errorf("stream %d ended before its first event (%v)", first+i, err)
				}
				_ = syscall.Close(c.fd) // which takes it out of the epoll set
				if ended++; ended == n {
					flush()
					return nil
				}
				continue
			}
			at := time.Now()
			lines, err := c.take(buf[:m])
			if err != nil {
				return fmt.Errorf("stream %d: %v", first+i, err)
			}
			for _, line := range lines {
				if !c.started {
					c.started = true
					if started++; next < n {
						if err := open(next); err != nil {
							return err
						}
						next++
					}
					initial()
					unflushed = true
					continue
				}
				event(first+i, at, sock, line)
				unflushed = true
			}
		}
		if flushEveryBatch && unflushed {
			flush()
			unflushed = false
		}
	}
}

// flushEveryBatch restores the old reporting, a flush after every batch
// epoll returned (PRESENCED_NOTIFY_BENCH_FLUSH=batch), to compare.
var flushEveryBatch = os.Getenv("PRESENCED_NOTIFY_BENCH_FLUSH") == "batch"

// flushIdle is how long (ms) the streams are quiet before epollStreams
// reports what it read. The times reported are those of the reads; only
// the benchmark's next write waits for it.
const flushIdle = 2

// epollConn is one stream of epollStreams: what was read of it and not yet
// taken apart.
type epollConn struct {
	fd      int
	head    bool   // the response's head was read
	chunked bool   // its body comes in chunks
	started bool   // its first event came
	in      []byte // read, not yet unframed
	part    []byte // the start of a line that a later chunk ends
	data    []byte // the chunks' bytes of the last read
	lines   [][]byte
}

// take adds b, just read, and returns the data lines it completed (valid
// until the next call).
func (c *epollConn) take(b []byte) ([][]byte, error) {
	c.in = append(c.in, b...)
	c.lines = c.lines[:0]
	if !c.head {
		end := bytes.Index(c.in, []byte("\r\n\r\n"))
		if end < 0 {
			return nil, nil
		}
		head := c.in[:end]
		if !bytes.HasPrefix(head, []byte("HTTP/1.1 200 ")) {
			return nil, fmt.Errorf("%s", head[:bytes.IndexByte(append(head, '\n'), '\n')])
		}
		c.chunked = bytes.Contains(bytes.ToLower(head), []byte("\r\ntransfer-encoding: chunked"))
		c.head = true
		c.in = c.in[:copy(c.in, c.in[end+4:])]
	}
	// Chunks: size in hex, CRLF, the bytes, CRLF; what is not a whole
	// chunk yet stays in c.in. Without chunks, the bytes are the body's.
	data := c.data[:0]
	p := c.in
	if !c.chunked {
		data, p = append(data, p...), nil
	}
	for len(p) > 0 {
		eol := bytes.IndexByte(p, '\n')
		if eol < 0 {
			break
		}
		size := p[:eol]
		if j := bytes.IndexAny(size, ";\r"); j >= 0 {
			size = size[:j]
		}
		sz, err := strconv.ParseUint(string(size), 16, 31)
		if err != nil {
			return nil, fmt.Errorf("chunk size %q", size)
		}
		if sz == 0 {
			return nil, errors.New("the stream ended")
		}
		if len(p) < eol+1+int(sz)+2 {
			break
		}
		data = append(data, p[eol+1:eol+1+int(sz)]...)
		p = p[eol+1+int(sz)+2:]
	}
	c.in = c.in[:copy(c.in, p)]
	c.data = data
	if len(data) == 0 {
		return nil, nil
	}
	// data holds whole chunks after the start of a line that an earlier
	// chunk did not end (c.part); a line is taken once its newline came.
	if len(c.part) > 0 {
		data = append(c.part, data...)
		c.part = nil
	}
	for len(data) > 0 {
		eol := bytes.IndexByte(data, '\n')
		if eol < 0 {
			c.part = append([]byte(nil), data...)
			break
		}
		if line := data[:eol+1]; bytes.HasPrefix(line, []byte("data: ")) {
			c.lines = append(c.lines, line)
		}
		data = data[eol+1:]
	}
	return c.lines, nil
}

// readStamped is read(2) that also returns when the kernel received the
// last segment read (SO_TIMESTAMPNS; zero if it said nothing): recvmsg with
// a control buffer, no allocation.
func readStamped(fd int, buf, oob []byte) (int, time.Time, error) {
	iov := syscall.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	msg := syscall.Msghdr{Iov: &iov, Iovlen: 1, Control: &oob[0]}
	msg.SetControllen(len(oob))
	r, _, errno := syscall.Syscall(syscall.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), 0)
	if errno != 0 {
		return 0, time.Time{}, errno
	}
	var sock time.Time
	ctl := oob[:msg.Controllen]
	for len(ctl) >= syscall.SizeofCmsghdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&ctl[0]))
		if h.Len < syscall.SizeofCmsghdr || int(h.Len) > len(ctl) {
			break
		}
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SCM_TIMESTAMPNS && int(h.Len) >= syscall.SizeofCmsghdr+int(unsafe.Sizeof(syscall.Timespec{})) {
			ts := (*syscall.Timespec)(unsafe.Pointer(&ctl[syscall.SizeofCmsghdr]))
			sock = time.Unix(ts.Unix())
		}
		ctl = ctl[min(len(ctl), (int(h.Len)+7)&^7):]
	}
	return int(r), sock, nil
}

// epollWait waits for events on ep, up to timeout ms (-1: none), through
// interrupts.
func epollWait(ep int, events []syscall.EpollEvent, timeout int) (int, error) {
	for {
		k, err := syscall.EpollWait(ep, events, timeout)
		if !errors.Is(err, syscall.EINTR) {
			return k, err
		}
	}
}
