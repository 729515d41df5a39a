package presenced_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/loadgen"
)

// BenchmarkNotifyLatency measures how long after a setPresence is
// acknowledged its change notification reaches every watcher: N webhook
// subscriptions (one per subscribing user, as Graph allows one presence
// subscription per user and app) or N live streams, all watching the one
// user whose presence changes. Each measured write alternates between two
// accepted pairs, so every write is a visible change, and the next write is
// sent only once all N watchers got the previous one. A sample is
// (receipt time − time the client read the 200), per watcher per write; the
// distribution is reported as p50/p99/max in milliseconds. The server runs
// in this process; the webhook receiver (where there is epoll) and the
// 10,000 streams' clients in a process of their own, whose CPU is reported
// apart; all share the machine's cores. Latencies are reported, never
// asserted. See docs/performance.md.
//
//	go test -run '^$' -bench BenchmarkNotifyLatency -benchtime 1x .
func BenchmarkNotifyLatency(b *testing.B) {
	dir, subscribers := notifyBenchDirectory(b, 1000)
	for _, kind := range []string{"webhook", "stream"} {
		for _, n := range []int{1, 100, 1000} {
			notifyBenchCase(b, dir, subscribers[:n], n, kind)
		}
	}
	// Streams need no subscribing user each: all read with the daemon's
	// token. Their clients run in a process of their own
	// (notify_bench_proc_test.go).
	notifyBenchCase(b, dir, nil, 10000, "stream")
}

// notifyBenchDirectory is the demo directory plus n generated Contoso
// users (userN@contoso.dev), whose object ids it returns.
func notifyBenchDirectory(b testing.TB, n int) (*directory.File, []string) {
	tenants, users, apps := directory.DemoData()
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("b0000000-0000-4000-8000-%012x", i)
		users = append(users, directory.UserEntry{ID: ids[i], TenantID: directory.DemoTenantID,
			UserPrincipalName: fmt.Sprintf("user%d@contoso.dev", i), DisplayName: fmt.Sprintf("Bench User %d", i),
			PasswordHash: directory.DemoPasswordHash})
	}
	return &directory.File{Tenants: tenants, Users: users, Applications: apps}, ids
}

// arrival is one notification seen by watcher i at time at; kind is 1 or 2
// for the pair of the write it reports (0: unknown, as basic webhook
// notifications carry no presence); sock, if known, is when the kernel put
// it in the watcher's socket (the 10,000 streams' epoll client).
type arrival struct {
	i    int
	at   time.Time
	kind int
	sock time.Time
}

// Measured writes per case: at least this many, or b.N if more.
const (
	notifyBenchWrites      = 50
	notifyBenchWritesLarge = 20 // with 1,000 watchers (20,000 samples)
)

// notifyBenchCase runs one sub-benchmark on a server of its own, so that
// the watchers of one case do not load the next. The server and watchers
// are set up when the sub-benchmark first runs (not at all if -bench
// filters it out) and torn down when it is done.
func notifyBenchCase(b *testing.B, dir *directory.File, subscribers []string, n int, kind string) {
	nb := &notifyBench{dir: dir, subscribers: subscribers, kind: kind, n: n}
	defer nb.close(b)
	b.Run(fmt.Sprintf("%s-%d", kind, nb.n), func(b *testing.B) {
		if nb.e == nil {
			nb.setup(b)
		}
		writes := max(b.N, notifyBenchWrites)
		if nb.n >= 1000 {
			writes = max(b.N, notifyBenchWritesLarge)
		}
		lat := make([]time.Duration, 0, writes*nb.n)
		fromSend := make([]time.Duration, 0, writes*nb.n)
		var acks, fanout []time.Duration
		b.ResetTimer()
		nb.sockLat = nb.sockLat[:0]
		switches, clientSwitches := loadgen.ProcSwitches(os.Getpid()), nb.clientSwitches()
		start, cpu, clientCPU, userCPU := time.Now(), processCPU(), nb.clientCPU(), processUserCPU()
		for range writes {
			sent := time.Now()
			var acked, last time.Time
			k := len(lat)
			lat, acked, last = nb.once(b, lat)
			for _, d := range lat[k:] {
				fromSend = append(fromSend, d+acked.Sub(sent))
			}
			acks = append(acks, acked.Sub(sent))
			fanout = append(fanout, last.Sub(acked))
		}
		elapsed, cpu, clientCPU, userCPU := time.Since(start), processCPU()-cpu, nb.clientCPU()-clientCPU, processUserCPU()-userCPU
		switches, clientSwitches = loadgen.ProcSwitches(os.Getpid())-switches, nb.clientSwitches()-clientSwitches
		b.StopTimer()
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		b.ReportMetric(float64(elapsed.Nanoseconds())/float64(writes), "ns/op") // one write and its whole fan-out
		b.ReportMetric(ms(quantile(lat, 0.50)), "p50-ms")
		b.ReportMetric(ms(quantile(lat, 0.99)), "p99-ms")
		b.ReportMetric(ms(quantile(lat, 1)), "max-ms")
		b.ReportMetric(ms(quantile(fanout, 0.50)), "last-p50-ms") // until the last watcher of a write
		b.ReportMetric(ms(quantile(acks, 0.50)), "ack-p50-ms")
		// From before the write was sent: the acknowledgement comes late
		// when the fan-out takes the cores first (at 10,000 streams), and
		// then the latency from it is less than from the change.
		b.ReportMetric(ms(quantile(fromSend, 0.99)), "send-p99-ms")
		if len(nb.sockLat) > 0 {
			// From the acknowledgement until the kernel put the change in
			// the watcher's socket: when a client of its own could have
			// read it. p99-ms is when the benchmark's one reader of all
			// the streams did; the difference is that reader's queue.
			b.ReportMetric(ms(quantile(nb.sockLat, 0.99)), "sock-p99-ms")
		}
		if switches > 0 {
			// Context switches of the process's threads (voluntary and
			// not) per notification: the wake-ups a fan-out costs.
			b.ReportMetric(float64(switches)/float64(len(lat)), "cs/notification")
		}
		if clientSwitches > 0 {
			name := "client-cs/notification" // the streams' clients
			if nb.kind == "webhook" {
				name = "receiver-cs/notification"
			}
			b.ReportMetric(float64(clientSwitches)/float64(len(lat)), name)
		}
		b.ReportMetric(float64(len(lat)), "samples")
		if cpu > 0 {
			// The whole process's CPU (server, receiver or stream
			// clients, benchmark) per notification: steadier than the
			// latencies on a shared machine.
			b.ReportMetric(float64(cpu.Microseconds())/float64(len(lat)), "cpu-µs/notification")
		}
		if userCPU > 0 {
			// Its user part: the process's own code without the system
			// calls (the socket writes), where a change to it shows.
			b.ReportMetric(float64(userCPU.Microseconds())/float64(len(lat)), "user-cpu-µs/notification")
		}
		switch {
		case nb.proc != nil && nb.kind == "webhook":
			// The receiver's own process, not in the figure above.
			b.ReportMetric(float64(clientCPU.Microseconds())/float64(len(lat)), "receiver-cpu-µs/notification")
		case nb.proc != nil:
			// The stream clients' own process, not in the figure above.
			b.ReportMetric(float64(clientCPU.Microseconds())/float64(len(lat)), "client-cpu-µs/notification")
		}
	})
}

// notifyBench is one case's server, watchers and writer.
type notifyBench struct {
	dir         *directory.File
	subscribers []string
	kind        string
	n           int

	e             *env
	dataDir       string
	target, app   string
	client        *http.Client
	arrivals      chan arrival
	closeWatchers func()
	proc          *streamProc // the stream clients' or the webhook receiver's process, if in one
	write         int
	seen          []int           // the write each watcher last reported
	sockLat       []time.Duration // from the ack to the kernel's receipt, where known
}

func (nb *notifyBench) setup(b *testing.B) {
	var err error
	if nb.dataDir, err = os.MkdirTemp("", "presenced-notify-bench-"); err != nil {
		b.Fatal(err)
	}
	cfg := presenced.Config{Addr: "127.0.0.1:0", DataDir: nb.dataDir, Dev: true,
		Clock: clock.NewFake(t0), Logger: quiet, Directory: nb.dir}
	if nb.n >= 10000 {
		cfg.MaxConnections = -1 // the default 10,000 is one short of the streams and the writer
	}
	srv, err := presenced.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	nb.e = &env{t: b, srv: srv, addr: srv.Addr().String()}
	nb.target = directory.DemoUserAdele
	if nb.app, err = srv.Issuer().AppToken(directory.DemoDaemonClientID); err != nil {
		b.Fatal(err)
	}
	nb.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2, DialContext: (&net.Dialer{}).DialContext}}
	nb.arrivals = make(chan arrival, 4*nb.n+16)
	nb.seen = make([]int, nb.n)
	switch nb.kind {
	case "webhook":
		nb.proc, nb.closeWatchers = notifyBenchWebhooks(b, nb.e, nb.subscribers, nb.target, nb.arrivals)
	case "stream":
		if nb.n >= 10000 {
			nb.proc = notifyBenchStreamsProc(b, notifyBenchStreamURL(nb.e.srv.URL(), nb.target, nb.app), nb.n, nb.arrivals)
			nb.closeWatchers = nb.proc.stop
			break
		}
		nb.closeWatchers = notifyBenchStreams(b, nb.e, nb.n, nb.target, nb.app, nb.arrivals)
	}
	// Two unmeasured writes open the connections on every path.
	for range 2 {
		nb.once(b, nil)
	}
}

// clientCPU is the CPU the stream clients' process used so far (0 when
// the clients are in this process).
func (nb *notifyBench) clientCPU() time.Duration {
	if nb.proc == nil {
		return 0
	}
	return nb.proc.cpu()
}

// clientSwitches is loadgen.ProcSwitches of the clients' (or receiver's) process,
// 0 when they are in this process.
func (nb *notifyBench) clientSwitches() int64 {
	if nb.proc == nil {
		return 0
	}
	return loadgen.ProcSwitches(nb.proc.cmd.Process.Pid)
}

// close stops the server first (it holds connections to the watchers),
// then the watchers.
func (nb *notifyBench) close(b *testing.B) {
	if nb.e != nil {
		nb.e.t = b
		nb.e.stop()
	}
	if nb.closeWatchers != nil {
		nb.closeWatchers()
	}
	if nb.client != nil {
		nb.client.CloseIdleConnections()
	}
	if nb.dataDir != "" {
		_ = os.RemoveAll(nb.dataDir)
	}
}

var notifyBenchPairs = [2][2]string{{"Busy", "InACall"}, {"DoNotDisturb", "Presenting"}}

// once sets presence to the next pair and waits until every watcher has
// reported it; it appends each watcher's latency (from the acknowledgement)
// to lat, and returns when the write was acknowledged and when the last
// watcher got it.
func (nb *notifyBench) once(tb testing.TB, lat []time.Duration) ([]time.Duration, time.Time, time.Time) {
	nb.write++
	p := notifyBenchPairs[nb.write%2]
	body := fmt.Sprintf(`{"sessionId":%q,"availability":%q,"activity":%q,"expirationDuration":"PT1H"}`,
		directory.DemoDaemonClientID, p[0], p[1])
	req, _ := http.NewRequest("POST", nb.e.srv.URL()+"/v1.0/users/"+nb.target+"/presence/setPresence", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+nb.app)
	req.Header.Set("Content-Type", "application/json")
	res, err := nb.client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	acked := time.Now()
	if res.StatusCode != 200 {
		tb.Fatalf("setPresence: %s", res.Status)
	}
	want := nb.write%2 + 1
	got, last := 0, time.Time{}
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for got < nb.n {
		select {
		case a := <-nb.arrivals:
			if nb.seen[a.i] == nb.write || (a.kind != 0 && a.kind != want) {
				continue // a repeat, or an earlier write's
			}
			nb.seen[a.i] = nb.write
			got++
			lat = append(lat, a.at.Sub(acked))
			if !a.sock.IsZero() {
				nb.sockLat = append(nb.sockLat, a.sock.Sub(acked))
			}
			if last.IsZero() || a.at.After(last) {
				last = a.at
			}
		case <-deadline.C:
			tb.Fatalf("write %d: %d of %d %s watchers notified within 30 s", nb.write, got, nb.n, nb.kind)
		}
	}
	return lat, acked, last
}

// quantile is the nearest-rank q-quantile of ds (sorts ds).
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(float64(len(ds))*q+0.999999) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// notifyBenchSubscribe makes one webhook subscription to target per
// subscriber, each with its own path /r/{i} on the receiver at rcvURL;
// on failure it calls closeRcv and fails the benchmark.
func notifyBenchSubscribe(b *testing.B, e *env, subscribers []string, rcvURL, target string, closeRcv func()) {
	exp := e.srv.Clock().Now().Add(50 * time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	sem := make(chan struct{}, 16)
	for i, user := range subscribers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			tok, err := e.srv.Issuer().UserToken(directory.DemoClientID, user, nil)
			if err == nil {
				err = notifyBenchCreate(e, tok, subBody(fmt.Sprintf("%s/r/%d", rcvURL, i), []string{target}, exp))
			}
			if err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed != nil {
		closeRcv()
		b.Fatalf("subscribing: %v", failed)
	}
}

// benchReceiver is the benchmark's webhook receiver: a plain http.Server on a
// loopback port. Not httptest.Server: its connection-state hook takes one
// lock for every connection, and with 1,000 kept connections the mutex
// profile showed receiver goroutines waiting on it (4.4 s over 62,000
// deliveries) — latency of the benchmark's own, charged to the fan-out.
type benchReceiver struct {
	URL string
	srv *http.Server
}

func notifyBenchReceiver(b *testing.B, h http.Handler) *benchReceiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	r := &benchReceiver{URL: "http://" + ln.Addr().String(), srv: &http.Server{Handler: h}}
	go func() { _ = r.srv.Serve(ln) }()
	return r
}

// Close stops the receiver and closes its connections.
func (r *benchReceiver) Close() { _ = r.srv.Close() }

// notifyBenchCreate posts one subscription; unlike env.call it is safe to
// call from several goroutines (it does not fail the benchmark).
func notifyBenchCreate(e *env, token string, body map[string]any) error {
	raw := fmt.Sprintf(`{"changeType":%q,"notificationUrl":%q,"clientState":%q,"resource":%q,"expirationDateTime":%q}`,
		body["changeType"], body["notificationUrl"], body["clientState"], body["resource"], body["expirationDateTime"])
	req, _ := http.NewRequest("POST", e.srv.URL()+"/v1.0/subscriptions", strings.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode != 201 {
		return fmt.Errorf("create subscription: %s %s", res.Status, out)
	}
	return nil
}

// notifyBenchStreams opens n live streams of target, waits for each one's
// initial event, and reports every later event on arrivals.
func notifyBenchStreams(b *testing.B, e *env, n int, target, token string, arrivals chan<- arrival) func() {
	var readers sync.WaitGroup
	var mu sync.Mutex
	var failed error
	var conns []*sseClient
	initial := make(chan int, n)
	var opened sync.WaitGroup
	sem := make(chan struct{}, 16)
	url := notifyBenchStreamURL(e.srv.URL(), target, token)
	for i := range n {
		opened.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			c, err := dialSSE(url)
			mu.Lock()
			if err != nil {
				failed = err
			} else {
				conns = append(conns, c)
			}
			mu.Unlock()
			if err != nil {
				opened.Done()
				return
			}
			readers.Add(1)
			opened.Done()
			go func() {
				defer readers.Done()
				first := true
				_ = c.read(func(at time.Time, line []byte) {
					if first {
						first = false
						initial <- i
						return
					}
					arrivals <- arrival{i: i, at: at, kind: streamKind(line)}
				})
			}()
		}()
	}
	opened.Wait()
	stop := func() {
		mu.Lock()
		for _, c := range conns {
			c.close()
		}
		mu.Unlock()
		readers.Wait()
	}
	if failed != nil {
		stop()
		b.Fatalf("opening streams: %v", failed)
	}
	timeout := time.After(30 * time.Second)
	for got := 0; got < n; got++ {
		select {
		case <-initial:
		case <-timeout:
			stop()
			b.Fatalf("%d of %d streams sent their initial event within 30 s", got, n)
		}
	}
	return stop
}
