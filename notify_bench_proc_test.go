package presenced_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/graphapi"
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
)

// streamProc is the client process of one case.
type streamProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when its output ended
}

// cpu is the CPU time the client process used so far (user and system),
// from /proc; 0 where there is none.
func (p *streamProc) cpu() time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces, in parentheses):
	// utime and stime are the 12th and 13th, in clock ticks of 10 ms.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// stop ends the client process (this benchmark started it) and waits for it.
func (p *streamProc) stop() {
	_ = p.cmd.Process.Kill()
	<-p.done
	_ = p.cmd.Wait()
}

// notifyBenchStreamsProc opens n live streams of target from a client
// process, waits until each one had its initial event, and reports every
// later event on arrivals, timed by the client when it read the data line.
func notifyBenchStreamsProc(b *testing.B, url string, n int, arrivals chan<- arrival) *streamProc {
	cmd := exec.Command(os.Args[0], "-test.run=^TestNotifyBenchStreamClient$", "-test.count=1")
	cmd.Env = append(os.Environ(), notifyBenchClientURL+"="+url, notifyBenchClientN+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &streamProc{cmd: cmd, done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		defer close(p.done)
		rd := bufio.NewReaderSize(out, 64<<10)
		for {
			line, err := rd.ReadSlice('\n')
			if err != nil {
				ready <- fmt.Errorf("client process: %v", err)
				return
			}
			if bytes.HasPrefix(line, []byte("ready")) {
				ready <- nil
				continue
			}
			f := bytes.Fields(line)
			if len(f) != 3 {
				continue // the test framework's own lines
			}
			i, _ := strconv.Atoi(string(f[0]))
			k, _ := strconv.Atoi(string(f[1]))
			ns, _ := strconv.ParseInt(string(f[2]), 10, 64)
			arrivals <- arrival{i: i, kind: k, at: time.Unix(0, ns)}
		}
	}()
	select {
	case err = <-ready:
	case <-time.After(2 * time.Minute):
		err = fmt.Errorf("the client process did not open its %d streams within 2 minutes", n)
	}
	if err != nil {
		p.stop()
		b.Fatal(err)
	}
	return p
}

// TestNotifyBenchStreamClient is BenchmarkNotifyLatency's stream client
// process, skipped unless the benchmark started it: it opens the streams,
// says "ready" once every one had its initial event, then writes a line
// "i kind unix-nanoseconds" per later event until it is killed.
func TestNotifyBenchStreamClient(t *testing.T) {
	url := os.Getenv(notifyBenchClientURL)
	n, _ := strconv.Atoi(os.Getenv(notifyBenchClientN))
	if url == "" || n <= 0 {
		t.Skip("the stream client process of BenchmarkNotifyLatency")
	}
	tr := &http.Transport{DialContext: (&net.Dialer{}).DialContext, MaxIdleConnsPerHost: -1}
	client := &http.Client{Transport: tr}
	events := make(chan arrival, 4*n)
	initial := make(chan struct{}, n)
	var mu sync.Mutex
	var failed error
	var opened sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range n {
		opened.Add(1)
		sem <- struct{}{}
		go func() {
			res, err := client.Get(url)
			if err == nil && res.StatusCode != 200 {
				err = fmt.Errorf("stream: %s", res.Status)
			}
			<-sem
			opened.Done()
			if err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
				return
			}
			first := true
			streamRead(res, func(at time.Time, line []byte) {
				if first {
					first = false
					initial <- struct{}{}
					return
				}
				events <- arrival{i: i, at: at, kind: streamKind(line)}
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
	w := bufio.NewWriterSize(os.Stdout, 64<<10)
	fmt.Fprintln(w, "ready")
	_ = w.Flush()
	var line []byte
	for a := range events {
		line = strconv.AppendInt(line[:0], int64(a.i), 10)
		line = append(line, ' ')
		line = strconv.AppendInt(line, int64(a.kind), 10)
		line = append(line, ' ')
		line = strconv.AppendInt(line, a.at.UnixNano(), 10)
		line = append(line, '\n')
		_, _ = w.Write(line)
		if len(events) == 0 {
			_ = w.Flush()
		}
	}
}

// streamRead calls fn with the time each data line of res was read and
// the line, until the stream ends.
func streamRead(res *http.Response, fn func(at time.Time, line []byte)) {
	defer res.Body.Close()
	rd := bufio.NewReaderSize(res.Body, 4096)
	for {
		line, err := rd.ReadSlice('\n')
		if err != nil {
			return
		}
		if bytes.HasPrefix(line, []byte("data: ")) {
			fn(time.Now(), line)
		}
	}
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
