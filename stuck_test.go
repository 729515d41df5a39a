package presenced_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/graphapi"
)

// rawStream is a live stream read (or not) straight off its connection.
type rawStream struct {
	conn net.Conn
	rd   *bufio.Reader
}

// openRawStream connects to the live stream and reads the response's
// status line. A stuck client gets a small receive buffer, so that the
// server's writes block soon once it stops reading (a small window also
// makes reading slow: not for a client that keeps up).
func openRawStream(t *testing.T, e *env, query string, stuck bool) *rawStream {
	t.Helper()
	var d net.Dialer
	if stuck {
		d.Control = smallReceiveBuffer
	}
	conn, err := d.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s?%s HTTP/1.1\r\nHost: %s\r\n\r\n", graphapi.StreamPath, query, e.addr)
	s := &rawStream{conn: conn, rd: bufio.NewReaderSize(conn, 4096)}
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	status, err := s.rd.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 200") {
		t.Fatalf("stream: %q %v", status, err)
	}
	return s
}

// until reads lines until one contains want, within 2 minutes (the machine
// may be busy); it returns the
// lines read.
func (s *rawStream) until(t *testing.T, want string) []string {
	t.Helper()
	_ = s.conn.SetReadDeadline(time.Now().Add(10 * time.Minute))
	var lines []string
	for {
		line, err := s.rd.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream for %q: %v (after %d lines)", want, err, len(lines))
		}
		lines = append(lines, line)
		if strings.Contains(line, want) {
			return lines
		}
	}
}

// Consumers that stop reading hold a bounded amount of the server's memory,
// however many changes go by: 200 streams whose clients never read and 100
// webhook subscriptions whose receiver never answers, while 20,000 changes
// are made. Before, every stuck consumer queued every change in memory
// until it disconnected (measured here: the heap grew by well over 100 MB).
// A stream that fell too far behind is ended with event: reset carrying the
// state now when its client reads again.
func TestStuckConsumersHoldBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 changes")
	}
	const (
		streams = 200
		subs    = 100
		changes = 20000
		writers = 16 // users written to at once, each watched by every consumer
		// bound is generous: the engine's caches of the changes just
		// written count too. Before, the growth was several times it.
		bound = 48 << 20
	)
	d, users := notifyBenchDirectory(t, subs+writers)
	// The stuck streams must outlive the test's writes: the write timeout,
	// which ends a stream whose client reads nothing, is not what this
	// test is about.
	e := &env{t: t, fake: clock.NewFake(t0), dir: t.TempDir(), addr: "127.0.0.1:0", d: d,
		cfg: func(c *presenced.Config) { c.WriteTimeout = 10 * time.Minute }}
	e.boot()
	subscribers, watched := users[:subs], users[subs:]
	app, err := e.srv.Issuer().AppToken(directory.DemoDaemonClientID)
	if err != nil {
		t.Fatal(err)
	}
	query := "ids=" + strings.Join(watched, ",") + "&access_token=" + app
	stuck := make(chan struct{})
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, tok)
			return
		}
		<-stuck // never answers while the test runs
	}))
	t.Cleanup(rcv.Close)
	t.Cleanup(func() { close(stuck) }) // runs before rcv.Close, which waits for the handlers
	exp := e.srv.Clock().Now().Add(50 * time.Minute)
	for i, user := range subscribers {
		tok, err := e.srv.Issuer().UserToken(directory.DemoClientID, user, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := notifyBenchCreate(e, tok, subBody(fmt.Sprintf("%s/r/%d", rcv.URL, i), watched, exp)); err != nil {
			t.Fatal(err)
		}
	}
	var stuckStreams []*rawStream
	for range streams {
		s := openRawStream(t, e, query, true)
		s.until(t, "event: presence") // the initial state is coming; then stop reading
		stuckStreams = append(stuckStreams, s)
	}
	// The witness reads, and watches the user of the last change only: the
	// fanout hands out changes in log order, so when it has the last one,
	// every queue has had every change.
	witness := openRawStream(t, e, "ids="+watched[0]+"&access_token="+app, false)

	before := heapAfterGC()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: len(watched)}}
	defer client.CloseIdleConnections()
	write := func(user, avail, act string) error {
		body := fmt.Sprintf(`{"sessionId":%q,"availability":%q,"activity":%q,"expirationDuration":"PT1H"}`, directory.DemoDaemonClientID, avail, act)
		req, _ := http.NewRequest("POST", e.srv.URL()+"/v1.0/users/"+user+"/presence/setPresence", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+app)
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("setPresence: %s", res.Status)
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(watched)+1)
	for _, user := range watched {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range changes / len(watched) {
				p := notifyBenchPairs[i%2]
				if err := write(user, p[0], p[1]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	go func() {
		// The last change, once all others are made.
		wg.Wait()
		if err := write(watched[0], "Away", "Away"); err != nil {
			errs <- err
		}
		close(errs)
	}()
	witness.until(t, `"activity":"Away"`)
	for err := range errs {
		t.Fatal(err)
	}
	after := heapAfterGC()
	grew := int64(after) - int64(before)
	t.Logf("heap %d MB before, %d MB after %d changes with %d stuck streams and %d stuck subscriptions (grew %d MB; bound %d MB)",
		before>>20, after>>20, changes, streams, subs, grew>>20, bound>>20)
	if grew > bound {
		t.Fatalf("the heap grew by %d MB while consumers were stuck; bound %d MB", grew>>20, bound>>20)
	}

	// A stuck stream that reads again learns it fell behind: reset, with
	// the state now, then the end.
	s := stuckStreams[0]
	if err := s.conn.(*net.TCPConn).SetReadBuffer(1 << 20); err != nil { // read at speed now
		t.Fatal(err)
	}
	s.until(t, "event: reset")
	lines := s.until(t, "event: end")
	if !strings.Contains(strings.Join(lines, ""), `"activity":"Away"`) {
		t.Fatalf("the resets do not carry the state now: %q", lines)
	}
}

// A subscription whose receiver falls further behind than the queue a
// subscription may hold in memory loses nothing: once the receiver answers
// again, every change is delivered, in order, read from the change log.
func TestLaggingSubscriptionLosesNothing(t *testing.T) {
	const queue, changes = 8, 60
	fake := clock.NewFake(t0)
	srv, err := presenced.New(presenced.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Dev: true, Clock: fake, Logger: quiet, NotifyQueue: queue})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: srv, fake: fake, addr: srv.Addr().String()}
	t.Cleanup(e.stop)
	alex := e.user("alex")
	cert := newCert(t)
	hold := make(chan struct{})
	got := make(chan map[string]any, changes+1)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, tok)
			return
		}
		<-hold // the receiver is stuck until every change was made
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("notification: %v", err)
		}
		w.WriteHeader(http.StatusAccepted)
		got <- body
	}))
	t.Cleanup(rcv.Close)
	body := subBody(rcv.URL, []string{alex}, t0.Add(30*time.Minute))
	body["includeResourceData"] = true
	body["encryptionCertificate"] = cert.b64
	body["encryptionCertificateId"] = "cert-1"
	if r := e.subscribe(e.userToken("adele", ""), body); r.status != 201 {
		t.Fatalf("subscribe: %d %s", r.status, r.raw)
	}
	app := e.appToken()
	for i := range changes {
		p := notifyBenchPairs[i%2]
		e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody(p[0], p[1], "PT1H"))
	}
	close(hold)
	var last string
	for i := range changes {
		var coll map[string]any
		select {
		case coll = <-got:
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d changes delivered within 30 s", i, changes)
		}
		p := cert.decrypt(t, item(t, coll))
		seq, _ := p["sequenceNumber"].(string)
		if want := notifyBenchPairs[i%2][1]; p["activity"] != want || seq <= last {
			t.Fatalf("delivery %d: %v (after sequenceNumber %s); want %s, newer", i, p, last, want)
		}
		last = seq
	}
	select {
	case extra := <-got:
		t.Fatalf("a change delivered twice: %v", extra)
	case <-time.After(300 * time.Millisecond):
	}
}
