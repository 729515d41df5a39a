package presenced_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/presenced/presenced"
)

// BenchmarkBodyEOF prices net/http's background read during a write's wait
// for the engine (docs/performance.md, "chain11"). net/http starts a
// connection's background read when a handler's read of the body returns
// its last byte; a handler that then waits (for the engine's answer) leaves
// that goroutine parked in the poller until the handler ends and net/http
// aborts it with a read deadline in the past. Two handlers on servers with
// presenced's timeouts, alternated in rounds, each waiting for a hand-over
// to another goroutine and back (the engine's round trip without an
// engine) and answering 200 with no body:
//
//   - eof-first reads the whole body, then waits: what every handler that
//     validates a body before it acts does, presenced's writes too;
//   - eof-last reads all but the last byte, waits, then reads the last byte:
//     the background read starts after the wait. No handler may do this
//     with a body it must validate whole before acting; it measures what
//     the background read's park costs, not a lever to use.
//
// cpu-ns/req is the process's CPU a request (client included), the median
// of the rounds; last-minus-first is the median of the rounds' differences.
//
//	go test -run '^$' -bench BenchmarkBodyEOF -benchtime 200000x .
func BenchmarkBodyEOF(b *testing.B) {
	body := `{"sessionId":"` + strings.Repeat("a", 36) + `:s1","availability":"Busy","activity":"InACall","expirationDuration":"PT1H"}`
	engine := make(chan chan struct{}, 1024)
	go func() {
		for c := range engine {
			c <- struct{}{}
		}
	}()
	b.Cleanup(func() { close(engine) })
	wait := func() {
		c := make(chan struct{}, 1)
		engine <- c
		<-c
	}
	serve := func(last bool) string {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := int(r.ContentLength)
			buf := make([]byte, n)
			head := n
			if last {
				head = n - 1
			}
			if _, err := io.ReadFull(r.Body, buf[:head]); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			wait()
			if last {
				if _, err := io.ReadFull(r.Body, buf[head:]); err != nil {
					http.Error(w, err.Error(), 400)
					return
				}
			}
			w.WriteHeader(200)
		})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: h,
			ReadHeaderTimeout: presenced.DefaultReadHeaderTimeout, ReadTimeout: presenced.DefaultReadTimeout,
			WriteTimeout: presenced.DefaultWriteTimeout, IdleTimeout: presenced.DefaultIdleTimeout}
		go func() { _ = srv.Serve(ln) }()
		b.Cleanup(func() { _ = srv.Close() })
		return "http://" + ln.Addr().String() + "/"
	}
	first, last := serve(false), serve(true)
	mk := func(url string) func(int) *http.Request {
		return func(int) *http.Request {
			r, _ := http.NewRequest("POST", url, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			return r
		}
	}
	c := benchClient()
	drive(b, c, benchClients, mk(first))
	drive(b, c, benchClients, mk(last))
	const rounds = 10
	part := max(b.N/rounds, benchClients)
	var f, l, d []float64
	b.ResetTimer()
	for i := range rounds {
		measure := func(url string) float64 {
			c0 := processCPU()
			drive(b, c, part, mk(url))
			return float64((processCPU() - c0).Nanoseconds()) / float64(part)
		}
		var x, y float64
		if i%2 == 0 {
			x, y = measure(first), measure(last)
		} else {
			y, x = measure(last), measure(first)
		}
		f, l, d = append(f, x), append(l, y), append(d, y-x)
	}
	b.StopTimer()
	b.ReportMetric(median(f), "first-cpu-ns/req")
	b.ReportMetric(median(l), "last-cpu-ns/req")
	b.ReportMetric(median(d), "last-minus-first-ns")
	lower := 0
	for _, v := range d {
		if v < 0 {
			lower++
		}
	}
	b.ReportMetric(float64(lower), "rounds-last-lower")
}
