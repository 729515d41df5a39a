//go:build linux

package presenced_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// webhookReceiverEpoll is epollReceiver where there is epoll.
var webhookReceiverEpoll = epollReceiver

// epollReceiver is the webhook cases' receiver where there is epoll: the
// listening socket and every connection the server opens in one epoll set,
// read by one goroutine, one read per socket that has data. It does what
// any receiver must and no more: reads each request to its end (head and
// Content-Length body), times it when the read that completed it returned,
// and answers on the same keep-alive connection — the validation handshake
// (POST ?validationToken=…) with 200 and the token as text/plain, a
// notification to /r/{i} with 202. net/http's server, by contrast, costs a
// goroutine switch and two reads per request, a background read goroutine
// and its deadlines, a header map and a request: measured, ~17 µs of the
// box's CPU per notification, about half of everything the 1,000-webhook
// case spent (docs/performance.md).
//
// ready is called with the listening address; notification with the
// receiver i of each notification and when it came, then flush after each
// batch that epoll returned. It returns only on an error.
func epollReceiver(ready func(addr string), notification func(i int, at time.Time), flush func()) error {
	lfd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := syscall.Bind(lfd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return err
	}
	if err := syscall.Listen(lfd, 4096); err != nil {
		return err
	}
	sa, err := syscall.Getsockname(lfd)
	if err != nil {
		return err
	}
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, lfd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(lfd)}); err != nil {
		return err
	}
	ready(fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port))
	conns := map[int32]*receiverConn{}
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	var out []byte
	for {
		k, err := epollWait(ep, events, -1)
		if err != nil {
			return err
		}
		for _, ev := range events[:k] {
			if int(ev.Fd) == lfd {
				for {
					fd, _, err := syscall.Accept4(lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
					if err != nil {
						break // EAGAIN: none left
					}
					conns[int32(fd)] = &receiverConn{fd: fd}
					if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}); err != nil {
						return err
					}
				}
				continue
			}
			c := conns[ev.Fd]
			if c == nil {
				continue
			}
			m, err := syscall.Read(c.fd, buf)
			if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) {
				continue
			}
			if err != nil || m == 0 {
				_ = syscall.Close(c.fd) // which takes it out of the epoll set
				delete(conns, ev.Fd)
				continue
			}
			at := time.Now()
			out = out[:0]
			c.in = append(c.in, buf[:m]...)
			for {
				req, err := c.next()
				if err != nil {
					return fmt.Errorf("receiver: %v", err)
				}
				if req == nil {
					break
				}
				out = req.answer(out, at, notification)
			}
			if len(out) > 0 {
				if _, err := syscall.Write(c.fd, out); err != nil {
					_ = syscall.Close(c.fd)
					delete(conns, ev.Fd)
				}
			}
		}
		flush()
	}
}

// receiverConn is one connection to epollReceiver: what was read of it and
// not yet taken as a request.
type receiverConn struct {
	fd int
	in []byte
}

// receiverRequest is one request read whole: its target (path and query).
type receiverRequest struct{ target []byte }

// next takes the next whole request from c.in (nil: not whole yet).
func (c *receiverConn) next() (*receiverRequest, error) {
	end := bytes.Index(c.in, []byte("\r\n\r\n"))
	if end < 0 {
		return nil, nil
	}
	head := c.in[:end]
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	f := bytes.Fields(line)
	if len(f) != 3 || string(f[0]) != "POST" {
		return nil, fmt.Errorf("not a POST: %q", line)
	}
	length := 0
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, _ := bytes.Cut(h, []byte(":"))
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.Atoi(string(bytes.TrimSpace(value)))
			if err != nil || n < 0 {
				return nil, fmt.Errorf("Content-Length %q", value)
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return nil, fmt.Errorf("a body in chunks (%q)", value)
		}
	}
	if len(c.in) < end+4+length {
		return nil, nil
	}
	r := &receiverRequest{target: append([]byte(nil), f[1]...)}
	c.in = c.in[:copy(c.in, c.in[end+4+length:])]
	return r, nil
}

// answer appends r's answer to out, reporting a notification.
func (r *receiverRequest) answer(out []byte, at time.Time, notification func(i int, at time.Time)) []byte {
	path, query, _ := bytes.Cut(r.target, []byte("?"))
	if len(query) > 0 {
		if q, err := url.ParseQuery(string(query)); err == nil && q.Get("validationToken") != "" {
			tok := q.Get("validationToken")
			out = append(out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "...)
			out = strconv.AppendInt(out, int64(len(tok)), 10)
			out = append(out, "\r\n\r\n"...)
			return append(out, tok...)
		}
	}
	i, err := strconv.Atoi(string(bytes.TrimPrefix(path, []byte("/r/"))))
	if err != nil || !bytes.HasPrefix(path, []byte("/r/")) {
		return append(out, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"...)
	}
	notification(i, at)
	return append(out, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"...)
}
