// Package loadgen is presenced's load generator, the engine of
// `presenced bench`: a fixed number of workers, each sending one request at
// a time over keep-alive connections, spread a mix of setPresence, GET
// presence and getPresencesByUserId over a set of users for a duration or a
// request count, and the latencies and throughput of each operation are
// reported — beside, optionally, the same load against a bare net/http
// handler (in a process of its own, or in this one), the ceiling any Go HTTP
// server on this machine could reach.
//
// It talks to presenced only over HTTP, with an application token from the
// server's own issuer, so it measures any presenced, local or remote.
package loadgen

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Op is one kind of request the generator sends.
type Op string

const (
	// OpSet is setPresence: POST /v1.0/users/{id}/presence/setPresence.
	OpSet Op = "set"
	// OpGet is GET /v1.0/users/{id}/presence.
	OpGet Op = "get"
	// OpMany is POST /v1.0/communications/getPresencesByUserId.
	OpMany Op = "many"
)

// Ops are the operations in report order.
var Ops = []Op{OpSet, OpGet, OpMany}

// MaxManyIDs is the most ids getPresencesByUserId accepts (Graph's limit).
const MaxManyIDs = 650

// Mix is the relative weight of each operation: Mix{Set: 20, Get: 70,
// Many: 10} makes each request a setPresence with probability 20/100.
type Mix struct {
	Set  int `json:"set"`
	Get  int `json:"get"`
	Many int `json:"many"`
}

// DefaultMix is mostly reads, as presence traffic is.
var DefaultMix = Mix{Set: 20, Get: 70, Many: 10}

// Weight is op's weight.
func (m Mix) Weight(op Op) int {
	switch op {
	case OpSet:
		return m.Set
	case OpGet:
		return m.Get
	case OpMany:
		return m.Many
	}
	return 0
}

func (m Mix) total() int { return m.Set + m.Get + m.Many }

// String is the mix in ParseMix's syntax.
func (m Mix) String() string {
	return fmt.Sprintf("set=%d,get=%d,many=%d", m.Set, m.Get, m.Many)
}

// ParseMix reads "set=20,get=70,many=10". Weights are non-negative integers
// and need not sum to 100; an operation left out has weight 0.
func ParseMix(s string) (Mix, error) {
	var m Mix
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok {
			return Mix{}, fmt.Errorf("mix entry %q is not op=weight (ops: set, get, many)", part)
		}
		w, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || w < 0 {
			return Mix{}, fmt.Errorf("mix entry %q: the weight must be a non-negative integer", part)
		}
		if seen[k] {
			return Mix{}, fmt.Errorf("mix entry %q: %s is given twice", part, k)
		}
		seen[k] = true
		switch Op(k) {
		case OpSet:
			m.Set = w
		case OpGet:
			m.Get = w
		case OpMany:
			m.Many = w
		default:
			return Mix{}, fmt.Errorf("mix entry %q: unknown operation %q (ops: set, get, many)", part, k)
		}
	}
	if m.total() == 0 {
		return Mix{}, fmt.Errorf("mix %q has no operation with a weight above 0 (e.g. set=20,get=70,many=10)", s)
	}
	return m, nil
}

// Config is one load run. URL, Tenant, ClientID, ClientSecret and Users are
// required, and Duration or Requests; the rest have defaults.
type Config struct {
	// URL is the base URL of the presenced under test (http://host:port),
	// or of the first node of a cluster whose others are in Nodes.
	URL string
	// Nodes are the base URLs of the other nodes of URL's cluster. The
	// workers are spread over all the nodes (worker w sends through node
	// w mod n, and moves to the next node when its own does not answer:
	// a node's death costs its clients a connection error each, as behind
	// a load balancer), and each node's token comes from its own issuer.
	Nodes []string
	// Visibility measures, while the load runs, how long a write
	// acknowledged by one node takes to be read on another (it needs
	// Nodes): a probe writes to the last of Users (which the load then
	// leaves alone) through node i, and reads it through node i+1 until
	// it shows the write. See Report.Visibility.
	Visibility bool
	// Tenant is the tenant id or domain whose issuer gives the token.
	Tenant string
	// ClientID and ClientSecret are a confidential app of that tenant with
	// Presence.ReadWrite.All (client credentials grant).
	ClientID, ClientSecret string
	// Users are the ids or userPrincipalNames the load is spread over.
	Users []string
	// SessionsPerUser is how many sessions setPresence writes per user, as
	// sessionId "<ClientID>:s<k>" for k in 0..SessionsPerUser-1 (default 4).
	SessionsPerUser int
	// Mix weights the operations (default DefaultMix).
	Mix Mix
	// ManyIDs is the number of ids in each getPresencesByUserId (default and
	// at most 650), taken round-robin from Users (repeating if fewer).
	ManyIDs int
	// Concurrency is the number of workers, each with one request in flight
	// (default 64).
	Concurrency int
	// Rate, when above 0, paces the workers together to start at most Rate
	// requests per second, evenly spaced: an open load, so that a cluster
	// can be measured below saturation. A request's latency then counts
	// from when it was due, not when a worker was free to send it, so a
	// server that falls behind is not hidden by the pacing (give enough
	// workers for the rate times the latency).
	Rate float64
	// Duration bounds the run by time: no request starts after it, and
	// those in flight finish. Requests bounds it by count. With both, the
	// first reached ends the run; one of them is required.
	Duration time.Duration
	Requests int64
	// Trace, when set, receives every request sent to presenced (not the
	// baseline's), once the run is over, as CSV lines (WriteTrace's
	// format): when it started, how long it took, through which node,
	// about which user, its operation and status. For splitting the
	// latency by what the server had to do for it — in a cluster, whether
	// the node that took a write leads the user's partition
	// (clusterproof's TestClusterBench). Kept in memory during the run
	// (~40 bytes a request) and written after it, not while measuring.
	Trace io.Writer
	// Timeout bounds each request (default 30s); one that runs out counts
	// as an error.
	Timeout time.Duration
	// Baseline runs the same load against a bare net/http handler first
	// (see Bare) and reports presenced's throughput as a ratio of it.
	Baseline bool
	// BareCommand, when set, runs that baseline in a child process of its
	// own (StartBareProcess), as presenced runs in its own: `presenced
	// bench` gives its own binary and "bare". Empty runs it in this
	// process, beside the load generator, which makes the ratio look worse
	// for a presenced in another process (the baseline then has no process
	// boundary to cross).
	BareCommand []string
	// ServerPIDs are presenced's processes on this machine (the server
	// under test, or a cluster's nodes): the report then gives their CPU
	// time a request (Result.CPU) beside this process's and the bare
	// child's. Optional; read from /proc (Linux).
	ServerPIDs []int
	// Rounds is, with Baseline, how many times the run alternates the
	// baseline and presenced (default 5, as BenchmarkHTTP does), each round
	// a share of Duration and of Requests, so that a change in the
	// machine's load during the run weighs on both alike. Without
	// Baseline there is one round.
	Rounds int
	// Warmup, before anything is measured (before the first round, the
	// baseline's too), writes every (user, session) pair of the mix's
	// write shape once — the run's own setPresence requests, at its
	// concurrency — and, when the mix reads, reads every user once; then
	// the same requests go to the baseline, whose connections and runtime
	// so start as warm as presenced's. Without it a fresh server's first
	// seconds are measured: each user's first write creates it, on an
	// engine and heaps still growing (docs/performance.md, "toolwarm").
	// It is bounded (Users × SessionsPerUser writes and Users reads, not
	// timed), in no figure (Report.Warmup says what it sent), and a
	// request of it that fails ends Run with an error before any load.
	// `presenced bench` turns it on unless --warmup=false.
	Warmup bool
	// Probe are users whose presence Run reads before any load; one the
	// server does not know ends the run with ErrUnknownUser. (With
	// Baseline, the first user is read anyway.)
	Probe []string
	// Progress, when set, is called about once a second while a phase runs
	// and once for each phase after its last round (Final); never by two
	// goroutines at once.
	Progress func(Progress)
	// Logf, when set, receives warnings (a failed token refresh).
	Logf func(format string, args ...any)
}

// DefaultRounds is Config.Rounds' default.
const DefaultRounds = 5

// Progress is a running phase's counters.
type Progress struct {
	Phase string // "baseline" or "presenced"
	// Round is the round running, of Rounds (0 in the Final report).
	Round, Rounds int
	Elapsed       time.Duration // in this phase's rounds so far
	Requests      int64         // completed so far
	Errors        int64         // of which failed
	Rate          float64       // req/s over the last interval; over the whole phase when Final
	Final         bool          // the phase is over
}

func (c Config) withDefaults() Config {
	if c.SessionsPerUser == 0 {
		c.SessionsPerUser = 4
	}
	if c.Mix == (Mix{}) {
		c.Mix = DefaultMix
	}
	if c.ManyIDs == 0 {
		c.ManyIDs = MaxManyIDs
	}
	if c.Concurrency == 0 {
		c.Concurrency = 64
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Rounds == 0 {
		c.Rounds = DefaultRounds
	}
	c.URL = strings.TrimSuffix(c.URL, "/")
	c.Nodes = slices.Clone(c.Nodes)
	for i := range c.Nodes {
		c.Nodes[i] = strings.TrimSuffix(c.Nodes[i], "/")
	}
	return c
}

// urls are every node's base URL, URL first.
func (c Config) urls() []string { return append([]string{c.URL}, c.Nodes...) }

// Check reports the first problem with c (after defaults), in words a
// command line can show.
func (c Config) Check() error {
	c = c.withDefaults()
	if c.URL == "" {
		return errors.New("a server URL is required")
	}
	for _, base := range c.urls() {
		u, err := url.Parse(base)
		switch {
		case err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
			return fmt.Errorf("server URL %q must be http:// or https:// and a host, e.g. http://127.0.0.1:8080", base)
		case u.RawQuery != "" || u.Fragment != "":
			return fmt.Errorf("server URL %q must not have a query or fragment", base)
		}
	}
	switch {
	case c.Visibility && len(c.Nodes) == 0:
		return errors.New("visibility is measured between two nodes of a cluster: give the other nodes' URLs too")
	case c.Visibility && len(c.Users) < 2:
		return errors.New("visibility needs at least two users: the probe writes to the last, and the load to the others")
	case c.Tenant == "":
		return errors.New("a tenant (id or domain) is required")
	case c.ClientID == "" || c.ClientSecret == "":
		return errors.New("a client id and client secret are required (a confidential app with Presence.ReadWrite.All)")
	case len(c.Users) == 0:
		return errors.New("at least one user is required")
	case c.SessionsPerUser < 0:
		return fmt.Errorf("sessions per user must be at least 1, not %d", c.SessionsPerUser)
	case c.Mix.Set < 0 || c.Mix.Get < 0 || c.Mix.Many < 0:
		return fmt.Errorf("mix %s has a negative weight", c.Mix)
	case c.ManyIDs < 0 || c.ManyIDs > MaxManyIDs:
		return fmt.Errorf("ids per getPresencesByUserId must be 1 to %d, not %d", MaxManyIDs, c.ManyIDs)
	case c.Concurrency < 0:
		return fmt.Errorf("concurrency must be at least 1, not %d", c.Concurrency)
	case c.Rate < 0:
		return fmt.Errorf("rate must be positive (or 0: as fast as the workers go), not %g", c.Rate)
	case c.Duration < 0:
		return fmt.Errorf("duration must be positive, not %s", c.Duration)
	case c.Requests < 0:
		return fmt.Errorf("request count must be positive, not %d", c.Requests)
	case c.Duration == 0 && c.Requests == 0:
		return errors.New("a duration or a request count is required to bound the run")
	case c.Rounds < 0:
		return fmt.Errorf("rounds must be at least 1, not %d", c.Rounds)
	case c.Timeout < 0:
		return fmt.Errorf("request timeout must be positive, not %s", c.Timeout)
	}
	for i, id := range append(c.Users[:len(c.Users):len(c.Users)], c.Probe...) {
		if id == "" || strings.ContainsAny(id, "/?#\"\\ \t\r\n") {
			return fmt.Errorf("user %d (%q) is not a user id or userPrincipalName", i+1, id)
		}
	}
	return nil
}
