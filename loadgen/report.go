package loadgen

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report is the outcome of Run. It marshals to the JSON summary of
// `presenced bench --json`; durations are integer nanoseconds.
type Report struct {
	URL string `json:"url"`
	// Nodes are the other nodes of URL's cluster the load was spread over.
	Nodes           []string      `json:"nodes,omitempty"`
	Tenant          string        `json:"tenant"`
	Users           int           `json:"users"`
	SessionsPerUser int           `json:"sessionsPerUser"`
	Mix             Mix           `json:"mix"`
	ManyIDs         int           `json:"manyIds"`
	Concurrency     int           `json:"concurrency"`
	Duration        time.Duration `json:"duration_ns,omitempty"` // the bound asked for
	Requests        int64         `json:"requests,omitempty"`    // the bound asked for
	// Rounds is how many rounds the baseline and presenced alternated in
	// (1 without a baseline); each phase's figures are over all of them.
	Rounds int `json:"rounds"`
	// Interrupted is set when the run was cancelled before its bound.
	Interrupted bool `json:"interrupted,omitempty"`
	// Warmup is what Config.Warmup sent before the first round (nil
	// without it); no figure below counts it.
	Warmup *Warmup `json:"warmup,omitempty"`
	// Presenced is the load against URL.
	Presenced Result `json:"presenced"`
	// Baseline is the same load against the bare handler (nil without it),
	// and Ratio presenced's throughput divided by the baseline's, per
	// operation name and "total".
	Baseline *Result            `json:"baseline,omitempty"`
	Ratio    map[string]float64 `json:"ratio,omitempty"`
	// Visibility is, with Config.Visibility, how long writes acknowledged
	// by one node took to be read on another.
	Visibility *Visibility `json:"visibility,omitempty"`
	// Remote is set when the presenced under test is not on this machine's
	// loopback while the baseline is: the ratio then also holds the network
	// between the two machines and the other machine's speed.
	Remote bool `json:"remote,omitempty"`
}

// Result is one phase: the same load against one server.
type Result struct {
	URL     string        `json:"url"`
	Elapsed time.Duration `json:"elapsed_ns"` // first request sent to last answer read
	// GetBodyBytes is, for the baseline, the size of its fixed GET answer
	// (copied from a real GET).
	GetBodyBytes int `json:"getBodyBytes,omitempty"`
	// PID is, for a baseline in a child process of its own, that process's
	// id (it has exited when Run returns); 0 when it ran in this process.
	PID   int        `json:"pid,omitempty"`
	Ops   []OpResult `json:"ops"` // operations with a weight, in Ops order
	Total OpResult   `json:"total"`
	// Nodes are, for a cluster (Config.Nodes), each node's requests, every
	// operation together, in Config order (URL first).
	Nodes []NodeResult `json:"nodes,omitempty"`
	// CPU is the processes' CPU time a request of this phase (nil when
	// this process's own could not be read).
	CPU *CPU `json:"cpu,omitempty"`
}

// NodeResult is what the requests through one node of a cluster got.
type NodeResult struct {
	URL   string   `json:"url"`
	Total OpResult `json:"total"`
}

// Op returns the result of op (zero if it was not in the mix).
func (r Result) Op(op Op) OpResult {
	for _, o := range r.Ops {
		if o.Op == string(op) {
			return o
		}
	}
	return OpResult{Op: string(op)}
}

// OpResult is one operation's numbers (or the total's).
type OpResult struct {
	Op string `json:"op"`
	// Count is every request that ended: answered or failed.
	Count  int64 `json:"count"`
	Errors int64 `json:"errors"`
	// ErrorsByStatus counts failures by HTTP status ("404"), or "transport"
	// for no answer (refused, reset, timeout); FirstError shows one.
	ErrorsByStatus map[string]int64 `json:"errorsByStatus,omitempty"`
	FirstError     string           `json:"firstError,omitempty"`
	// Throughput is Count over the phase's elapsed time, in requests/s.
	Throughput float64 `json:"throughput_rps"`
	// Latency is of the successful requests, from sending the request to
	// reading the whole answer.
	Latency Latency `json:"latency"`
}

// Latency summarises a histogram: extremes and mean exact, quantiles
// within 1%.
type Latency struct {
	Min  time.Duration `json:"min_ns"`
	Mean time.Duration `json:"mean_ns"`
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	Max  time.Duration `json:"max_ns"`
}

func summarize(h *Histogram) Latency {
	return Latency{Min: h.Min(), Mean: h.Mean(), P50: h.Quantile(0.50), P90: h.Quantile(0.90), P99: h.Quantile(0.99), Max: h.Max()}
}

// opStats is what one worker gathers for one operation.
type opStats struct {
	hist     Histogram
	count    int64
	errors   int64
	byStatus map[string]int64
	firstErr string
}

func (s *opStats) fail(key, msg string) {
	s.errors++
	if s.byStatus == nil {
		s.byStatus = map[string]int64{}
	}
	s.byStatus[key]++
	if s.firstErr == "" {
		s.firstErr = msg
	}
}

func (s *opStats) merge(o *opStats) {
	s.hist.Merge(&o.hist)
	s.count += o.count
	s.errors += o.errors
	for k, v := range o.byStatus {
		if s.byStatus == nil {
			s.byStatus = map[string]int64{}
		}
		s.byStatus[k] += v
	}
	if s.firstErr == "" {
		s.firstErr = o.firstErr
	}
}

func (s *opStats) result(name string, elapsed time.Duration) OpResult {
	r := OpResult{Op: name, Count: s.count, Errors: s.errors, FirstError: s.firstErr, Latency: summarize(&s.hist)}
	if len(s.byStatus) > 0 {
		r.ErrorsByStatus = maps.Clone(s.byStatus)
	}
	if elapsed > 0 {
		r.Throughput = float64(s.count) / elapsed.Seconds()
	}
	return r
}

// StatusKeys returns the keys of ErrorsByStatus in order.
func (r OpResult) StatusKeys() []string {
	keys := slices.Collect(maps.Keys(r.ErrorsByStatus))
	slices.SortFunc(keys, func(a, b string) int {
		ai, aerr := strconv.Atoi(a)
		bi, berr := strconv.Atoi(b)
		switch {
		case aerr == nil && berr == nil:
			return ai - bi
		case aerr == nil:
			return -1
		case berr == nil:
			return 1
		}
		return strings.Compare(a, b)
	})
	return keys
}
