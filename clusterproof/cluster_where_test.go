package clusterproof_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/nodetest"
	"github.com/presenced/presenced/loadgen"
)

// Where a slow cluster write's time goes (docs/performance.md, "Where the
// cluster's slow writes spend their time", 2026-12-03 session 9). Each
// node already measures a write twice: the request, from its arrival to
// the handler's return (presenced_http_request_duration_seconds of the
// action's route), and the engine's Put inside it
// (presenced_engine_operation_duration_seconds{bucket="presence",op="put"}:
// the round trip through the routes, Raft and the stream's apply). Read
// from every node before and after a run, the two histograms' differences
// say how many writes took more than 10, 25 or 100 ms in the engine, in
// the handler and, from the bench's trace, at the client: where the tail
// is. A revision conflict (another node wrote the user since this node
// cached it: core.write reloads and puts again, two more round trips) is
// counted beside them, and the trace says which writes had a write of the
// same user through another node just before them. Each node's threads'
// time waiting for a core (/proc/PID/task/*/schedstat's second field) is
// the shared machine's share.

// whereBounds are the latencies whose shares are compared: bounds of both
// histograms' buckets (observe's httpBuckets and engineBuckets).
var whereBounds = []float64{.01, .025, .1}

// serverHist is a histogram summed over the nodes.
type serverHist struct {
	count, sum float64
	above      []float64 // observations above each of whereBounds
}

// serverSide is what the nodes measured of the writes, summed over them.
type serverSide struct {
	http, put   serverHist
	conflicts   float64
	putsByNode  []float64
	runqWait    []time.Duration // each node's threads' time waiting for a core
	cpuRun      []time.Duration // … and running
	slices      []float64       // … and their times on a core (each after a wait)
	errScraping error
}

// scrapeServerSide reads every node's histograms and counters, and its
// threads' scheduler times.
func scrapeServerSide(c *nodetest.Cluster) serverSide {
	var s serverSide
	for _, n := range c.Nodes {
		h, p, conf, err := scrapeNode(n)
		if err != nil {
			s.errScraping = err
			return s
		}
		s.http.add(h)
		s.put.add(p)
		s.conflicts += conf
		s.putsByNode = append(s.putsByNode, p.count)
		run, wait, n := schedstat(n.PID())
		s.runqWait = append(s.runqWait, wait)
		s.cpuRun = append(s.cpuRun, run)
		s.slices = append(s.slices, n)
	}
	return s
}

func (h *serverHist) add(o serverHist) {
	h.count += o.count
	h.sum += o.sum
	if h.above == nil {
		h.above = make([]float64, len(whereBounds))
	}
	for i := range o.above {
		h.above[i] += o.above[i]
	}
}

// minus is s less an earlier reading.
func (s serverSide) minus(b serverSide) serverSide {
	d := serverSide{conflicts: s.conflicts - b.conflicts, errScraping: s.errScraping}
	if d.errScraping == nil {
		d.errScraping = b.errScraping
	}
	sub := func(a, b serverHist) serverHist {
		h := serverHist{count: a.count - b.count, sum: a.sum - b.sum, above: make([]float64, len(whereBounds))}
		for i := range h.above {
			if i < len(a.above) && i < len(b.above) {
				h.above[i] = a.above[i] - b.above[i]
			}
		}
		return h
	}
	d.http, d.put = sub(s.http, b.http), sub(s.put, b.put)
	for i := range s.runqWait {
		if i < len(b.runqWait) {
			d.runqWait = append(d.runqWait, s.runqWait[i]-b.runqWait[i])
			d.cpuRun = append(d.cpuRun, s.cpuRun[i]-b.cpuRun[i])
			d.slices = append(d.slices, s.slices[i]-b.slices[i])
			d.putsByNode = append(d.putsByNode, s.putsByNode[i]-b.putsByNode[i])
		}
	}
	return d
}

const (
	actionRoute = `route="/v1.0/users/{id}/presence/{action}"`
	presencePut = `bucket="presence",op="put"`
)

// scrapeNode reads a node's /metrics: the action's request histogram
// (status 200), the presence bucket's Put histogram and its conflicts.
func scrapeNode(n *nodetest.Node) (req, put serverHist, conflicts float64, err error) {
	var s serverScan
	s.start()
	if err = n.Scrape(context.Background(), s.line); err != nil {
		return
	}
	req, put, conflicts = s.result()
	return
}

// parseServerSide reads a /metrics text as scrapeNode does.
func parseServerSide(body io.Reader) (req, put serverHist, conflicts float64, err error) {
	var s serverScan
	s.start()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		_ = s.line(sc.Text())
	}
	if err = sc.Err(); err != nil {
		return
	}
	req, put, conflicts = s.result()
	return
}

// serverScan takes from /metrics, a line at a time, what serverSide
// holds of a node.
type serverScan struct {
	req, put  serverHist
	conflicts float64
	// A cumulative bucket's count at a bound: the observations above it
	// are the total less it (the total is the +Inf bucket, read last).
	reqAt, putAt []float64
}

func (s *serverScan) start() {
	s.req.above, s.put.above = make([]float64, len(whereBounds)), make([]float64, len(whereBounds))
	s.reqAt, s.putAt = make([]float64, len(whereBounds)), make([]float64, len(whereBounds))
}

// line reads one line of /metrics; a line it does not want is skipped.
func (s *serverScan) line(line string) error {
	name, rest, ok := strings.Cut(line, "{")
	if !ok {
		return nil
	}
	labels, val, ok := strings.Cut(rest, "} ")
	if !ok {
		return nil
	}
	v, perr := strconv.ParseFloat(strings.TrimSpace(val), 64)
	if perr != nil {
		return nil
	}
	var h *serverHist
	var at []float64
	switch {
	case strings.HasPrefix(name, "presenced_http_request_duration_seconds") && strings.Contains(labels, actionRoute) &&
		strings.Contains(labels, `method="POST"`) && strings.Contains(labels, `status="200"`):
		h, at = &s.req, s.reqAt
	case strings.HasPrefix(name, "presenced_engine_operation_duration_seconds") && strings.Contains(labels, presencePut):
		h, at = &s.put, s.putAt
	case name == "presenced_engine_revision_conflicts_total" && labels == `bucket="presence"`:
		s.conflicts = v
		return nil
	default:
		return nil
	}
	switch {
	case strings.HasSuffix(name, "_sum"):
		h.sum = v
	case strings.HasSuffix(name, "_count"):
		h.count = v
	case strings.HasSuffix(name, "_bucket"):
		for i, b := range whereBounds {
			if strings.Contains(labels, `le="`+strconv.FormatFloat(b, 'g', -1, 64)+`"`) {
				at[i] = v
			}
		}
	}
	return nil
}

// result is what the lines read gave.
func (s *serverScan) result() (req, put serverHist, conflicts float64) {
	for i := range whereBounds {
		s.req.above[i] = s.req.count - s.reqAt[i]
		s.put.above[i] = s.put.count - s.putAt[i]
	}
	return s.req, s.put, s.conflicts
}

// schedstat is the time a process's threads have run and waited for a
// core (run queue), and how many times they were put on one, summed over
// its live threads: the kernel's /proc/PID/task/TID/schedstat (needs
// schedstats, on by default). A thread that ended in between takes its
// times with it: a small undercount. wait/slices is the mean wait of a
// wake-up (or a preempted thread) for a core: what each hand-off of a
// write between threads pays on this machine.
func schedstat(pid int) (run, wait time.Duration, slices float64) {
	dirs, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	for _, p := range dirs {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		f := strings.Fields(string(raw))
		if len(f) < 3 {
			continue
		}
		r, _ := strconv.ParseInt(f[0], 10, 64)
		w, _ := strconv.ParseInt(f[1], 10, 64)
		n, _ := strconv.ParseInt(f[2], 10, 64)
		run += time.Duration(r)
		wait += time.Duration(w)
		slices += float64(n)
	}
	return run, wait, slices
}

// clientSide is what the bench's trace says of the same writes.
type clientSide struct {
	n, above []float64 // writes; writes above each of whereBounds
	mean     time.Duration
	// near: writes of a user that another node's write of the same user
	// ended at most nearWindow before, or was still in flight, when this
	// one started (its node's cache may not hold that write yet: a
	// conflict, reload and second Put); same: a write of the same user
	// through the same node was in flight (it waits for the node's lock
	// of the user, as a single node's would).
	nearShare, sameShare         float64
	nearInTail, sameInTail       float64 // … their shares of the writes above the p99
	nearMean, otherMean, nearP99 time.Duration
	otherP99                     time.Duration
}

// nearWindow is how recently another node's write of the user must have
// ended for a write to count as near it: a few times the followers' p50
// at 64 clients on this box (presenced_cluster_follow_lag_seconds).
const nearWindow = 20 * time.Millisecond

func traceSide(rs []loadgen.TraceRecord) clientSide {
	var ws []loadgen.TraceRecord
	for _, r := range rs {
		if r.Op == loadgen.OpSet && r.Status == 200 && r.User >= 0 {
			ws = append(ws, r)
		}
	}
	c := clientSide{above: make([]float64, len(whereBounds))}
	if len(ws) == 0 {
		return c
	}
	slices.SortFunc(ws, func(a, b loadgen.TraceRecord) int { return int(a.Start - b.Start) })
	var sum time.Duration
	lat := make([]time.Duration, 0, len(ws))
	for _, r := range ws {
		sum += r.Latency
		lat = append(lat, r.Latency)
		for i, b := range whereBounds {
			if r.Latency.Seconds() > b {
				c.above[i]++
			}
		}
	}
	c.n = []float64{float64(len(ws))}
	c.mean = sum / time.Duration(len(ws))
	p99 := newWritePath(lat).p99
	// Each user's earlier writes, in start order; a user has ~6 writes a
	// second at this load, so a short backward look finds them.
	byUser := map[int][]loadgen.TraceRecord{}
	var near, other []time.Duration
	tail, nearTail, sameTail := 0, 0, 0
	for _, r := range ws {
		isNear, isSame := false, false
		prev := byUser[r.User]
		for j := len(prev) - 1; j >= 0; j-- {
			p := prev[j]
			end := p.Start + p.Latency
			if end < r.Start-time.Second {
				break // long past (a write is never this slow here)
			}
			if p.Node != r.Node && end > r.Start-nearWindow {
				isNear = true
			}
			if p.Node == r.Node && end > r.Start {
				isSame = true
			}
		}
		byUser[r.User] = append(prev, r)
		if isNear {
			near = append(near, r.Latency)
		} else {
			other = append(other, r.Latency)
		}
		if isSame {
			c.sameShare++
		}
		if r.Latency > p99 {
			tail++
			if isNear {
				nearTail++
			}
			if isSame {
				sameTail++
			}
		}
	}
	c.nearShare = float64(len(near)) / float64(len(ws))
	c.sameShare /= float64(len(ws))
	if tail > 0 {
		c.nearInTail, c.sameInTail = float64(nearTail)/float64(tail), float64(sameTail)/float64(tail)
	}
	np, op := newWritePath(near), newWritePath(other)
	c.nearMean, c.nearP99, c.otherMean, c.otherP99 = np.mean, np.p99, op.mean, op.p99
	return c
}

// where is one run's comparison of the client's, the handler's and the
// engine's tails.
type where struct {
	server serverSide
	client clientSide
	secs   float64
}

func (w where) String() string {
	s, c := w.server, w.client
	if s.errScraping != nil {
		return "where: " + s.errScraping.Error()
	}
	if len(c.n) == 0 || s.http.count == 0 {
		return "where: no writes"
	}
	pct := func(h serverHist) string {
		var p []string
		for i := range whereBounds {
			p = append(p, fmt.Sprintf("%.2f", 100*h.above[i]/max(h.count, 1)))
		}
		return strings.Join(p, "/")
	}
	cl := serverHist{count: c.n[0], above: c.above}
	out := fmt.Sprintf("where: writes above 10/25/100 ms: client %s %% (mean %.2f ms), handler %s %% (mean %.2f ms), engine put %s %% (mean %.2f ms, %.3f puts a write)",
		pct(cl), ms(c.mean), pct(s.http), 1e3*s.http.sum/s.http.count, pct(s.put), 1e3*s.put.sum/max(s.put.count, 1), s.put.count/s.http.count)
	out += fmt.Sprintf("; conflicts %.0f (%.2f %% of the writes)", s.conflicts, 100*s.conflicts/s.http.count)
	out += fmt.Sprintf("; another node's write of the user within %v: %.1f %% of the writes, %.1f %% of those above the p99 (mean %.2f ms, p99 %.1f ms; the rest mean %.2f, p99 %.1f); the same node's in flight: %.1f %%, %.1f %% above the p99",
		nearWindow, 100*c.nearShare, 100*c.nearInTail, ms(c.nearMean), ms(c.nearP99), ms(c.otherMean), ms(c.otherP99), 100*c.sameShare, 100*c.sameInTail)
	if len(s.runqWait) > 0 && w.secs > 0 {
		out += "; each node's threads waiting for a core (ms a second; running; the mean wait of a time on a core, µs; times on a core a write)"
		for i := range s.runqWait {
			out += fmt.Sprintf(" %.0f (%.0f; %.0f µs; %.1f)", s.runqWait[i].Seconds()*1e3/w.secs, s.cpuRun[i].Seconds()*1e3/w.secs,
				s.runqWait[i].Seconds()*1e6/max(s.slices[i], 1), s.slices[i]/s.http.count)
		}
	}
	return out
}
