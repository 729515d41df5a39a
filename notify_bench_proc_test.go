package presenced_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/graphapi"
	"github.com/presenced/presenced/internal/benchenv"
	"github.com/presenced/presenced/loadgen"
)

// The stream clients of the 10,000-stream case run in a process of their
// own: 10,000 streams are 20,000 sockets when both ends are in one
// process, and this machine's hard limit on open files is 20,000 (a
// process without CAP_SYS_RESOURCE cannot raise it). A process of their
// own also lets the benchmark report the clients' CPU apart from the
// server's, so that it can say the clients were not the bottleneck.

// notifyBenchClientEnv names the variables that turn
// TestNotifyBenchStreamClient into the benchmark's client process.
const (
	notifyBenchClientURL = "PRESENCED_NOTIFY_BENCH_URL"
	notifyBenchClientN   = "PRESENCED_NOTIFY_BENCH_STREAMS"
	// A file for the client process's CPU profile (none if unset).
	notifyBenchClientProfile = "PRESENCED_NOTIFY_BENCH_CLIENT_PROFILE"
)

// streamProc is the client process of one case.
type streamProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when its output ended
}

// cpu is the CPU time the client process used so far (user and system),
// from /proc; 0 where there is none.
func (p *streamProc) cpu() time.Duration {
	d, _ := loadgen.ProcCPU(p.cmd.Process.Pid)
	return d
}

// stop ends the client process (this benchmark started it) and waits for it.
func (p *streamProc) stop() {
	// SIGTERM first: a client that profiles itself writes its profile.
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	_ = p.cmd.Wait()
}

// notifyBenchStreamsProc opens n live streams of target from a client
// process, waits until each one had its initial event, and reports every
// later event on arrivals, timed by the client when it read the data line.
func notifyBenchStreamsProc(b *testing.B, url string, n int, arrivals chan<- arrival) *streamProc {
	p, _ := startBenchProc(b, "TestNotifyBenchStreamClient",
		[]string{notifyBenchClientURL + "=" + url, notifyBenchClientN + "=" + strconv.Itoa(n)},
		fmt.Sprintf("the client process did not open its %d streams", n), arrivals)
	return p
}

// startBenchProc runs this test binary's test as a process of the
// benchmark's, with env added to its environment; it waits (2 minutes at
// most) until the process writes a line "ready …", whose rest it returns,
// then reports each "i kind unix-nanoseconds" line on arrivals.
func startBenchProc(b *testing.B, test string, env []string, what string, arrivals chan<- arrival) (*streamProc, string) {
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &streamProc{cmd: cmd, done: make(chan struct{})}
	type readyLine struct {
		rest string
		err  error
	}
	ready := make(chan readyLine, 1)
	go func() {
		defer close(p.done)
		rd := bufio.NewReaderSize(out, 64<<10)
		for {
			line, err := rd.ReadSlice('\n')
			if err != nil {
				ready <- readyLine{err: fmt.Errorf("%s: %v", test, err)}
				return
			}
			if rest, ok := bytes.CutPrefix(line, []byte("ready")); ok {
				ready <- readyLine{rest: string(bytes.TrimSpace(rest))}
				continue
			}
			a, ok := parseArrival(line)
			if !ok {
				continue // the test framework's own lines
			}
			arrivals <- a
		}
	}()
	var r readyLine
	select {
	case r = <-ready:
	case <-time.After(2 * time.Minute):
		r.err = fmt.Errorf("%s within 2 minutes", what)
	}
	if r.err != nil {
		p.stop()
		b.Fatal(r.err)
	}
	return p, r.rest
}

// TestNotifyBenchStreamClient is BenchmarkNotifyLatency's stream client
// process, skipped unless the benchmark started it: it opens the streams,
// says "ready" once every one had its initial event, then writes a line
// "i kind unix-nanoseconds" per later event until it is killed (with the
// epoll client, a fourth field: when the kernel received it).
func TestNotifyBenchStreamClient(t *testing.T) {
	url := os.Getenv(notifyBenchClientURL)
	n, _ := strconv.Atoi(os.Getenv(notifyBenchClientN))
	if url == "" || n <= 0 {
		t.Skip("the stream client process of BenchmarkNotifyLatency")
	}
	if path := os.Getenv(notifyBenchClientProfile); path != "" {
		// The client's own CPU profile, written when the benchmark stops it.
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		var once sync.Once
		stop := func() {
			once.Do(func() {
				pprof.StopCPUProfile()
				f.Close()
			})
		}
		defer stop() // the streams ended (the server stopped first)
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		go func() {
			<-term
			stop()
			os.Exit(0)
		}()
	}
	if streamClientsEpoll != nil {
		if err := epollClients(url, n); err != nil {
			t.Fatalf("stream clients: %v", err)
		}
		return
	}
	// Each stream's reader appends "i kind unix-nanoseconds" lines to out,
	// and wakes the writer, which sends what gathered on stdout: a write to
	// the pipe per batch of events rather than a hand-off per event.
	var outMu sync.Mutex
	var out []byte
	wake := make(chan struct{}, 1)
	initial := make(chan struct{}, n)
	var mu sync.Mutex
	var failed error
	var opened sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range n {
		opened.Add(1)
		sem <- struct{}{}
		go func() {
			c, err := dialSSE(url)
			<-sem
			opened.Done()
			if err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
				return
			}
			first := true
			_ = c.read(func(at time.Time, line []byte) {
				if first {
					first = false
					initial <- struct{}{}
					return
				}
				outMu.Lock()
				out = strconv.AppendInt(out, int64(i), 10)
				out = append(out, ' ')
				out = strconv.AppendInt(out, int64(streamKind(line)), 10)
				out = append(out, ' ')
				out = strconv.AppendInt(out, at.UnixNano(), 10)
				out = append(out, '\n')
				outMu.Unlock()
				select {
				case wake <- struct{}{}:
				default:
				}
			})
		}()
	}
	opened.Wait()
	if failed != nil {
		t.Fatalf("opening streams: %v", failed)
	}
	for range n {
		<-initial
	}
	fmt.Fprintln(os.Stdout, "ready")
	var batch []byte
	for range wake {
		outMu.Lock()
		batch, out = out, batch[:0]
		outMu.Unlock()
		if _, err := os.Stdout.Write(batch); err != nil {
			return
		}
	}
}

// notifyBenchClientReaders sets how many epoll readers the client process
// runs (default one).
const notifyBenchClientReaders = "PRESENCED_NOTIFY_BENCH_READERS"

// epollClients runs the client process's epoll readers (epollStreams),
// each with its share of the n streams and its own buffer of "i kind
// unix-nanoseconds socket-nanoseconds" lines, written to stdout whole. One
// by default: one per core was measured at 10,000 streams, and cost the
// clients 50-60 % more CPU an event (2.5-3 times the wake-ups) on the
// cores the server shares, for no p99 the load's noise let through
// (docs/performance.md).
func epollClients(url string, n int) error {
	readers := 1
	readers = benchenv.Int(notifyBenchClientReaders, readers, 1)
	readers = min(readers, n)
	var outMu sync.Mutex
	var writes atomic.Int64
	write := func(b []byte) {
		writes.Add(1)
		outMu.Lock()
		_, _ = os.Stdout.Write(b)
		outMu.Unlock()
	}
	var opened atomic.Int64
	errs := make(chan error, readers)
	for r := range readers {
		first, last := r*n/readers, (r+1)*n/readers
		go func() {
			var out []byte
			flush := func() {
				if len(out) > 0 {
					write(out)
					out = out[:0]
				}
			}
			errs <- streamClientsEpoll(url, first, last-first, func() {
				if opened.Add(1) == int64(n) {
					write([]byte("ready\n"))
				}
			}, func(i int, at, sock time.Time, data []byte) {
				out = strconv.AppendInt(out, int64(i), 10)
				out = append(out, ' ')
				out = strconv.AppendInt(out, int64(streamKind(data)), 10)
				out = append(out, ' ')
				out = strconv.AppendInt(out, at.UnixNano(), 10)
				if !sock.IsZero() {
					out = append(out, ' ')
					out = strconv.AppendInt(out, sock.UnixNano(), 10)
				}
				out = append(out, '\n')
				if len(out) >= 32<<10 {
					flush()
				}
			}, flush)
		}()
	}
	for range readers {
		if err := <-errs; err != nil {
			return err // the test fails, and the process ends with it
		}
	}
	// What reporting the arrivals cost, for the benchmark's log.
	fmt.Fprintf(os.Stderr, "stream clients: %d pipe writes\n", writes.Load())
	return nil
}

// streamKind is which of the benchmark's pairs an event reports (0: neither).
func streamKind(line []byte) int {
	switch {
	case bytes.Contains(line, []byte(`"activity":"InACall"`)):
		return 1
	case bytes.Contains(line, []byte(`"activity":"Presenting"`)):
		return 2
	}
	return 0
}

// notifyBenchStreamURL is the stream of target, with the token in the query.
func notifyBenchStreamURL(base, target, token string) string {
	return base + graphapi.StreamPath + "?ids=" + target + "&access_token=" + token
}

// parseArrival reads a line "i kind unix-nanoseconds [socket-nanoseconds]"
// of the client process; ok is false for any other line.
func parseArrival(line []byte) (a arrival, ok bool) {
	var f [4]int64
	k := 0
	for _, c := range line {
		switch {
		case c >= '0' && c <= '9' && k < 4:
			f[k] = f[k]*10 + int64(c-'0')
		case c == ' ' && k < 3:
			k++
		case c == '\n':
		default:
			return arrival{}, false
		}
	}
	if k != 2 && k != 3 {
		return arrival{}, false
	}
	a = arrival{i: int(f[0]), kind: int(f[1]), at: time.Unix(0, f[2])}
	if k == 3 {
		a.sock = time.Unix(0, f[3])
	}
	return a, true
}
