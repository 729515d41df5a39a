package clusterproof_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/nodetest"
)

// The failure tests of cluster mode drive this workload through every
// node of a nodetest.Cluster while they kill, stop, pause and restart
// nodes. Every write is a setPresence that opens a session of its own on
// one of many users, with an expiration that tells it apart (1 h plus the
// write's number, in seconds), so that afterwards every acknowledged write
// can be looked for through any node: the explain endpoint lists a user's
// sessions with their refresh and expiry times, which differ by exactly
// the duration the write asked for.

// workloadArgs are the serve flags the workload needs: a user collects a
// session per write.
var workloadArgs = []string{"--sessions-per-app", "1024", "--sessions-per-user", "1024"}

const (
	// workloadUsers is how many generated demo users the writes are
	// spread over (the cluster needs --demo-users at least this).
	workloadUsers = 400
	// writeBase is the expiration of write 0; write k asks for
	// writeBase+k seconds (at most 4 h: k < 3 h in seconds).
	writeBase = 3600
	// writeEvery paces each writer, and readEvery each reader: the tests
	// measure pauses, not the most the shared machine can take.
	writeEvery = 20 * time.Millisecond
	readEvery  = 5 * time.Millisecond
	// burstBase numbers a burst's writes, above any writer's.
	burstBase = 10000
)

// outcome is what a write's client learnt of it.
type outcome int

const (
	acked   outcome = iota // 200: it must be there, on every node
	unknown                // no answer, a 503, a 5xx: it may be there or not
	refused                // the node refused the connection: not sent, so not there
	invalid                // another answer: the test's mistake, or the server's
)

// workload is writers and readers running against a cluster.
type workload struct {
	t      *testing.T
	c      *nodetest.Cluster
	hc     *http.Client
	tokens []string // each node's application token (a node's token is its own)
	upNodes
	users []string

	mu      sync.Mutex
	writes  map[string]map[int]outcome // user → write number → outcome
	acks    [][]time.Time              // per writer, the times its writes were acknowledged
	counts  map[string]int             // errors by kind, as "status/node"
	cut     int                        // writes whose answer the test's end cut off
	firstEr map[outcome]string
	reads   readStats
	// sentTo are, per node, the writes sent to it: when, and what came
	// of them.
	sentTo [][]sentWrite

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// sentWrite is a write as its client saw it.
type sentWrite struct {
	at, answered time.Time
	out          outcome
}

// readStats are the readers' results.
type readStats struct {
	ok, failed int
	firstErr   string
	longest    time.Duration
	longestAt  time.Time
	longestVia string
	longestOf  string // the user read
}

// startWorkload starts writers writers, writer w sending through node
// w mod n while it is up (else the next node up), each owning its share of
// the users, and a reader per node that reads every user in turn while
// its node is up.
func startWorkload(t *testing.T, c *nodetest.Cluster, writers int) *workload {
	t.Helper()
	w := &workload{t: t, c: c, upNodes: make(upNodes, len(c.Nodes)), writes: map[string]map[int]outcome{},
		acks: make([][]time.Time, writers), sentTo: make([][]sentWrite, len(c.Nodes)), counts: map[string]int{}, firstEr: map[outcome]string{},
		hc: &http.Client{Timeout: 45 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	for i, n := range c.Nodes {
		w.tokens = append(w.tokens, n.AppToken())
		w.upNodes[i].Store(true)
	}
	for i := range workloadUsers {
		w.users = append(w.users, directory.DemoUserID(i+1))
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	t.Cleanup(w.stop)
	// Readers first read every user once, so that a node has them all
	// in its cache before any failure (a first read of a user is a read
	// from its partition's leader).
	for i := range c.Nodes {
		for _, u := range w.users {
			if _, err := w.read(ctx, i, u); err != nil {
				t.Fatalf("first read through %s: %v", c.Nodes[i].Name, err)
			}
		}
	}
	for wr := range writers {
		w.wg.Go(func() { w.writer(ctx, wr, writers) })
	}
	for i := range c.Nodes {
		w.wg.Go(func() { w.reader(ctx, i) })
	}
	return w
}

// stop ends the writers and readers and waits for them.
func (w *workload) stop() {
	w.cancel()
	w.wg.Wait()
}

// upNodes says which nodes are up, for a test's writers and readers: they
// stop sending to a node that is down, and come back to it when it is up
// again (workload, changeWriters).
type upNodes []atomic.Bool

// setUp tells the writers and readers whether node i is up.
func (u upNodes) setUp(i int, up bool) { u[i].Store(up) }

// pick is the node writer (or reader) home sends through: home when it is
// up, else the next one up.
func (u upNodes) pick(home int) int {
	for d := range len(u) {
		if i := (home + d) % len(u); u[i].Load() {
			return i
		}
	}
	return home
}

func (w *workload) writer(ctx context.Context, wr, writers int) {
	var mine []string
	for i := wr; i < len(w.users); i += writers {
		mine = append(mine, w.users[i])
	}
	next := map[string]int{}
	tick := time.NewTicker(writeEvery)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		u := mine[i%len(mine)]
		k := next[u]
		next[u]++
		node := w.pick(wr % len(w.c.Nodes))
		sent := time.Now()
		out, detail := w.write(ctx, node, u, k)
		cut := ctx.Err() != nil && out != acked // by the end of the test, not by the cluster
		if cut {
			out = unknown
		}
		w.mu.Lock()
		if w.writes[u] == nil {
			w.writes[u] = map[int]outcome{}
		}
		w.writes[u][k] = out
		w.sentTo[node] = append(w.sentTo[node], sentWrite{at: sent, answered: time.Now(), out: out})
		switch {
		case out == acked:
			w.acks[wr] = append(w.acks[wr], time.Now())
		case cut:
			w.cut++
		default:
			w.counts[detail+"/"+w.c.Nodes[node].Name]++
			if w.firstEr[out] == "" {
				w.firstEr[out] = fmt.Sprintf("%s: %s", w.c.Nodes[node].Name, detail)
			}
		}
		w.mu.Unlock()
	}
}

// write sends write k of user u through node i.
func (w *workload) write(ctx context.Context, i int, u string, k int) (outcome, string) {
	body := fmt.Sprintf(`{"sessionId":"%s:w%d","availability":"Busy","activity":"InACall","expirationDuration":"PT%dS"}`,
		directory.DemoDaemonClientID, k, writeBase+k)
	req, _ := http.NewRequestWithContext(ctx, "POST", w.c.Nodes[i].URL+"/v1.0/users/"+u+"/presence/setPresence", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+w.tokens[i])
	resp, err := w.hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return refused, "refused"
		}
		return unknown, "transport"
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		return acked, ""
	case resp.StatusCode >= 500:
		return unknown, fmt.Sprint(resp.StatusCode)
	}
	return invalid, fmt.Sprintf("%d %s", resp.StatusCode, raw)
}

// reader reads every user in turn through node i while it is up.
func (w *workload) reader(ctx context.Context, i int) {
	tick := time.NewTicker(readEvery)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !w.upNodes[i].Load() {
			continue
		}
		t0 := time.Now()
		u := w.users[n%len(w.users)]
		_, err := w.read(ctx, i, u)
		took := time.Since(t0)
		if ctx.Err() != nil || !w.upNodes[i].Load() {
			continue // cut by the test's end, or by the node's failure
		}
		w.mu.Lock()
		if err != nil {
			w.reads.failed++
			if w.reads.firstErr == "" {
				w.reads.firstErr = fmt.Sprintf("%s: %v", w.c.Nodes[i].Name, err)
			}
		} else {
			w.reads.ok++
		}
		if took > w.reads.longest {
			w.reads.longest, w.reads.longestAt, w.reads.longestVia, w.reads.longestOf = took, t0, w.c.Nodes[i].Name, u
		}
		w.mu.Unlock()
	}
}

// read GETs user u's presence through node i.
func (w *workload) read(ctx context.Context, i int, u string) ([]byte, error) {
	return w.get(ctx, i, "/v1.0/users/"+u+"/presence")
}

func (w *workload) get(ctx context.Context, i int, path string) ([]byte, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", w.c.Nodes[i].URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+w.tokens[i])
	resp, err := w.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s %s", path, resp.Status, raw)
	}
	return raw, err
}

// waitAcks waits until every writer has had a write acknowledged after
// since, or d has passed, and reports whether they all had.
func (w *workload) waitAcks(since time.Time, d time.Duration) bool {
	return w.waitAcksExcept(since, d, -1)
}

// waitAcksExcept is waitAcks for the writers whose own node is not node i
// (see gapExcept).
func (w *workload) waitAcksExcept(since time.Time, d time.Duration, i int) bool {
	deadline := time.Now().Add(d)
	for {
		w.mu.Lock()
		all := true
		for wr, a := range w.acks {
			all = all && (wr%len(w.c.Nodes) == i || len(a) > 0 && a[len(a)-1].After(since))
		}
		w.mu.Unlock()
		if all {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitMore waits until n more writes have been acknowledged than when it
// was called (the load runs on between two failures), bounded by a minute.
func (w *workload) waitMore(n int) {
	w.t.Helper()
	count := func() int {
		w.mu.Lock()
		defer w.mu.Unlock()
		c := 0
		for _, a := range w.acks {
			c += len(a)
		}
		return c
	}
	want := count() + n
	deadline := time.Now().Add(time.Minute)
	for count() < want {
		if time.Now().After(deadline) {
			w.t.Fatalf("fewer than %d writes acknowledged in a minute", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// burst sends n writes at once through node i, one to each of the first n
// users, numbered from burstBase (above any writer's numbers), and
// returns a channel closed once all are answered.
func (w *workload) burst(i, n int) <-chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for j := range n {
		u, k := w.users[j], burstBase+j
		wg.Go(func() {
			sent := time.Now()
			out, detail := w.write(context.Background(), i, u, k)
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.writes[u] == nil {
				w.writes[u] = map[int]outcome{}
			}
			w.writes[u][k] = out
			w.sentTo[i] = append(w.sentTo[i], sentWrite{at: sent, answered: time.Now(), out: out})
			if out != acked {
				w.counts[detail+"/"+w.c.Nodes[i].Name]++
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	return done
}

// answeredAfter counts the writes sent to node i before t and answered
// after it, by outcome.
func (w *workload) answeredAfter(i int, t time.Time) map[outcome]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := map[outcome]int{}
	for _, s := range w.sentTo[i] {
		if s.at.Before(t) && s.answered.After(t) {
			n[s.out]++
		}
	}
	return n
}

// gap is the longest any writer waited between two acknowledged writes,
// the later of them in (from, to]: how long writes paused.
func (w *workload) gap(from, to time.Time) time.Duration { return w.gapExcept(from, to, -1) }

// gapExcept is gap over the writers whose own node is not node i: those
// that write only through the others while i is up, or paused. (A writer
// of node i's whose write was in flight when i was paused waits for its
// client's timeout, which says nothing of the others' pause.)
func (w *workload) gapExcept(from, to time.Time, i int) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var gap time.Duration
	for wr, a := range w.acks {
		if wr%len(w.c.Nodes) == i {
			continue
		}
		for i := 1; i < len(a); i++ {
			if a[i].After(from) && !a[i].After(to) {
				gap = max(gap, a[i].Sub(a[i-1]))
			}
		}
	}
	return gap
}

// summary counts the writes by outcome and says what the clients saw.
func (w *workload) summary() (byOutcome map[outcome]int, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	byOutcome = map[outcome]int{}
	for _, ks := range w.writes {
		for _, o := range ks {
			byOutcome[o]++
		}
	}
	var errs []string
	seen := 0
	for k, n := range w.counts {
		errs = append(errs, fmt.Sprintf("%s×%d", k, n))
		seen += n
	}
	slices.Sort(errs)
	text = fmt.Sprintf("%d writes acknowledged, %d unknown (no answer or 5xx; %d of them cut by the test's end), %d refused connections, %d other; errors clients saw: %d (by kind/node: %s); reads: %d ok, %d failed, longest %v (of %s through %s at %s)",
		byOutcome[acked], byOutcome[unknown], w.cut, byOutcome[refused], byOutcome[invalid], seen, strings.Join(errs, ", "),
		w.reads.ok, w.reads.failed, w.reads.longest.Round(time.Millisecond), w.reads.longestOf, w.reads.longestVia, w.reads.longestAt.Format("15:04:05.000"))
	return byOutcome, text
}

// checkClients fails the test if a read through a node that was up
// failed, or a write was answered with something else than 200, a 5xx or
// no answer.
func (w *workload) checkClients() {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.reads.failed > 0 {
		w.t.Errorf("%d reads through nodes that were up failed; first: %s", w.reads.failed, w.reads.firstErr)
	}
	if e := w.firstEr[invalid]; e != "" {
		w.t.Errorf("a write was answered with neither 200 nor 5xx: %s", e)
	}
}

// verify checks, through every node, that every acknowledged write is
// there and that no session is there that no write asked for (a write
// with an unknown outcome may be there or not). A node follows the others
// within moments, not at once: each node is given until within to agree.
func (w *workload) verify(within time.Duration) {
	w.t.Helper()
	w.mu.Lock()
	writes := map[string]map[int]outcome{}
	for u, ks := range w.writes {
		writes[u] = maps.Clone(ks)
	}
	w.mu.Unlock()
	ctx := context.Background()
	ok := true
	defer func() {
		if ok {
			n := 0
			for _, ks := range writes {
				for _, o := range ks {
					if o == acked {
						n++
					}
				}
			}
			w.t.Logf("through each of the %d nodes: all %d acknowledged writes found (lost: 0), no session that no write asked for", len(w.c.Nodes), n)
		}
	}()
	for i, n := range w.c.Nodes {
		deadline := time.Now().Add(within)
		pending := slices.Clone(w.users)
		for {
			var problems []string
			pending = slices.DeleteFunc(pending, func(u string) bool {
				p := w.check(ctx, i, u, writes[u])
				if p != "" {
					problems = append(problems, u+": "+p)
				}
				return p == ""
			})
			if len(pending) == 0 {
				break
			}
			if time.Now().After(deadline) {
				ok = false
				w.t.Errorf("through %s, %d of %d users do not hold what was written %v later; the first: %s",
					n.Name, len(pending), len(w.users), within, strings.Join(problems[:min(3, len(problems))], "; "))
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// countsOf is the errors seen through node, by kind.
func (w *workload) countsOf(node string) map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]int{}
	for k, n := range w.counts {
		if kind, nd, _ := strings.Cut(k, "/"); nd == node {
			out[kind] += n
		}
	}
	return out
}

// checkNoFailureThrough fails the test if a write through a node not in
// except was answered with a 5xx or not at all: such writes wait for the
// engine (bounded) rather than fail.
func (w *workload) checkNoFailureThrough(except ...string) {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, n := range w.counts {
		kind, node, _ := strings.Cut(k, "/")
		if !slices.Contains(except, node) && kind != "refused" {
			w.t.Errorf("%d writes through %s failed (%s)", n, node, kind)
		}
	}
}

// check compares what node i holds of user u with what was written.
func (w *workload) check(ctx context.Context, i int, u string, writes map[int]outcome) string {
	raw, err := w.get(ctx, i, "/presenced/v1/users/"+u+"/presence/explain")
	if err != nil {
		return err.Error()
	}
	var ex struct {
		Sessions []struct{ RefreshedDateTime, ExpiresDateTime string }
	}
	if err := json.Unmarshal(raw, &ex); err != nil {
		return fmt.Sprintf("explain: %v", err)
	}
	found := map[int]bool{}
	for _, s := range ex.Sessions {
		r, err1 := time.Parse(time.RFC3339Nano, s.RefreshedDateTime)
		e, err2 := time.Parse(time.RFC3339Nano, s.ExpiresDateTime)
		if err1 != nil || err2 != nil {
			return fmt.Sprintf("session times %q, %q", s.RefreshedDateTime, s.ExpiresDateTime)
		}
		k := int(e.Sub(r)/time.Second) - writeBase
		if o, ok := writes[k]; !ok || o == refused || o == invalid {
			return fmt.Sprintf("holds write %d, which was never made or never reached a node", k)
		}
		found[k] = true
	}
	var lost []int
	for k, o := range writes {
		if o == acked && !found[k] {
			lost = append(lost, k)
		}
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		return fmt.Sprintf("acknowledged writes %v are missing (%d sessions held)", lost, len(ex.Sessions))
	}
	return ""
}
