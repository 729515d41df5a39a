package presenced_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The webhook cases' receiver runs in a process of its own where there is
// epoll (notify_bench_receiver_linux_test.go), so that the benchmark
// reports the server's CPU per notification apart from the receiver's
// (receiver-cpu-µs/notification), as it does for the 10,000 streams'
// clients. With PRESENCED_NOTIFY_BENCH_RECEIVER=nethttp, or where there
// is no epoll, the receiver is net/http's server in the benchmark's own
// process, as before, and cpu-µs/notification counts both.
const (
	notifyBenchReceiverEnv  = "PRESENCED_NOTIFY_BENCH_RECEIVER"
	notifyBenchReceiverProc = "PRESENCED_NOTIFY_BENCH_RECEIVER_PROC"
)

// notifyBenchWebhooks starts the receiver (a process, or net/http's server
// in this one), and makes one subscription per subscriber to it. It
// returns the receiver's process (nil: in this process) and what closes
// the receiver.
func notifyBenchWebhooks(b *testing.B, e *env, subscribers []string, target string, arrivals chan<- arrival) (*streamProc, func()) {
	if webhookReceiverEpoll == nil || os.Getenv(notifyBenchReceiverEnv) == "nethttp" {
		rcv := notifyBenchReceiver(b, notifyBenchHandler(arrivals))
		notifyBenchSubscribe(b, e, subscribers, rcv.URL, target, rcv.Close)
		return nil, rcv.Close
	}
	p, addr := startBenchProc(b, "TestNotifyBenchWebhookReceiver", []string{notifyBenchReceiverProc + "=1"},
		"the receiver process did not listen", arrivals)
	notifyBenchSubscribe(b, e, subscribers, "http://"+addr, target, p.stop)
	return p, p.stop
}

// TestNotifyBenchWebhookReceiver is BenchmarkNotifyLatency's webhook
// receiver process, skipped unless the benchmark started it: it writes
// "ready ADDR" once it listens, then a line "i 0 unix-nanoseconds" per
// notification until it is killed.
func TestNotifyBenchWebhookReceiver(t *testing.T) {
	if os.Getenv(notifyBenchReceiverProc) == "" || webhookReceiverEpoll == nil {
		t.Skip("the webhook receiver process of BenchmarkNotifyLatency")
	}
	w := bufio.NewWriterSize(os.Stdout, 64<<10)
	var line []byte
	err := webhookReceiverEpoll(func(addr string) {
		fmt.Fprintln(w, "ready", addr)
		_ = w.Flush()
	}, func(i int, at time.Time) {
		line = strconv.AppendInt(line[:0], int64(i), 10)
		line = append(line, " 0 "...)
		line = strconv.AppendInt(line, at.UnixNano(), 10)
		line = append(line, '\n')
		_, _ = w.Write(line)
	}, func() { _ = w.Flush() })
	t.Fatalf("webhook receiver: %v", err)
}

// notifyBenchHandler is the in-process receiver's handler: the validation
// handshake, and each notification to /r/{i} reported on arrivals.
func notifyBenchHandler(arrivals chan<- arrival) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte(tok))
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		at := time.Now()
		i, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r/"))
		if err != nil {
			http.Error(w, "no such receiver", http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		arrivals <- arrival{i: i, at: at}
	})
}
