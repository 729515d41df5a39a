package loadgen

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/clock"
)

// phase is the load against one server (or the nodes of one cluster),
// over all its rounds.
type phase struct {
	name  string   // "baseline" or "presenced"
	bases []string // each node's base URL
	sh    []*shapes
	stats map[Op]*opStats // merged over the rounds run so far
	nodes []*opStats      // per node, every operation together
	// side, when set, runs beside the workers of each round, until they
	// are done (the visibility probe).
	side func(ctx context.Context)
	// elapsed, requests and failed sum the rounds run so far.
	elapsed          time.Duration
	requests, failed int64
	// pids are the processes whose CPU the rounds account (cpu, summed
	// over the rounds); bare is set for the baseline's phase.
	pids cpuPIDs
	bare bool
	// trace holds every request of the rounds run so far when tracing
	// (Config.Trace), its Start from epoch, the first round's start.
	tracing bool
	epoch   time.Time
	trace   []TraceRecord
	cpu     struct {
		client, server, other time.Duration
		swClient, swServer    int64
		ok                    bool
	}
}

func newPhase(cfg Config, name string, bases ...string) *phase {
	p := &phase{name: name, bases: bases, stats: map[Op]*opStats{}}
	for _, base := range bases {
		p.sh = append(p.sh, newShapes(cfg, base))
		p.nodes = append(p.nodes, &opStats{})
	}
	for _, op := range Ops {
		p.stats[op] = &opStats{}
	}
	return p
}

// round is one round's bounds: no request starts after dur (0: no time
// bound) or once n have started (0: no count bound).
type round struct {
	dur        time.Duration
	n          int64
	num, count int // this is round num (from 1) of count
}

// rounds splits cfg's bounds into count rounds as evenly as they divide;
// rounds of a count bound that leave them no request are left out.
func rounds(cfg Config, count int) []round {
	var rs []round
	for i := range count {
		r := round{num: i + 1, count: count, dur: cfg.Duration / time.Duration(count)}
		if i == count-1 {
			r.dur = cfg.Duration - time.Duration(count-1)*r.dur
		}
		if cfg.Requests > 0 {
			r.n = cfg.Requests / int64(count)
			if int64(i) < cfg.Requests%int64(count) {
				r.n++
			}
			if r.n == 0 {
				continue
			}
		}
		rs = append(rs, r)
	}
	return rs
}

// run sends cfg's load to p's server with cfg.Concurrency workers within
// rd's bounds or until ctx ends, and adds what it measured to p. Worker w
// sends through node w mod n with that node's token (tokens[i], or the
// first for a phase of one node), and moves to the next node when its
// own does not answer.
func (p *phase) run(ctx context.Context, cfg Config, c *http.Client, tokens []*tokenSource, rd round) {
	var (
		stop     atomic.Bool
		claimed  atomic.Int64 // requests started, for the count bound
		finished atomic.Int64 // for progress
		paced    atomic.Int64 // requests given a due time (cfg.Rate)
		failed   atomic.Int64
		wg       sync.WaitGroup
	)
	stats := make([]map[Op]*opStats, cfg.Concurrency)
	perNode := make([][]opStats, cfg.Concurrency)
	traces := make([][]TraceRecord, cfg.Concurrency)
	cpu0 := p.pids.sample()
	start := now()
	if p.epoch.IsZero() {
		p.epoch = start
	}
	if rd.dur > 0 {
		t := time.AfterFunc(rd.dur, func() { stop.Store(true) })
		defer t.Stop()
	}
	progressDone := make(chan struct{})
	progressStopped := make(chan struct{})
	go func() {
		defer close(progressStopped)
		if cfg.Progress == nil {
			<-progressDone
			return
		}
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var lastN int64
		var lastT time.Duration
		for {
			select {
			case <-progressDone:
				return
			case <-tick.C:
				el, n := since(start), finished.Load()
				rate := 0.0
				if d := (el - lastT).Seconds(); d > 0 {
					rate = float64(n-lastN) / d
				}
				cfg.Progress(Progress{Phase: p.name, Round: rd.num, Rounds: rd.count, Elapsed: p.elapsed + el,
					Requests: p.requests + n, Errors: p.failed + failed.Load(), Rate: rate})
				lastN, lastT = n, el
			}
		}
	}()

	for w := range cfg.Concurrency {
		st := map[Op]*opStats{}
		for _, op := range Ops {
			st[op] = &opStats{}
		}
		stats[w] = st
		perNode[w] = make([]opStats, len(p.bases))
		wg.Go(func() {
			r := rand.New(rand.NewPCG(rand.Uint64(), uint64(w)))
			body := make([]byte, 32<<10)
			node := w % len(p.bases)
			for !stop.Load() && ctx.Err() == nil {
				if rd.n > 0 && claimed.Add(1) > rd.n {
					return
				}
				var due time.Time
				if cfg.Rate > 0 {
					k := paced.Add(1) - 1
					due = start.Add(time.Duration(float64(k) * float64(time.Second) / cfg.Rate))
					if !waitUntil(ctx, due) || stop.Load() {
						return
					}
				}
				sh, ns := p.sh[node], &perNode[w][node]
				op := sh.ops[r.IntN(len(sh.ops))]
				s := st[op]
				req, user := sh.request(ctx, op, r, tokens[min(node, len(tokens)-1)].header())
				t0 := now()
				if cfg.Rate > 0 {
					t0 = due // latency from when it was due (Config.Rate)
				}
				resp, err := c.Do(req)
				if err != nil {
					if ctx.Err() != nil {
						return // interrupted: not the server's failure
					}
					s.count++
					s.fail("transport", err.Error())
					ns.count++
					ns.fail("transport", err.Error())
					finished.Add(1)
					failed.Add(1)
					if p.tracing {
						traces[w] = append(traces[w], TraceRecord{t0.Sub(p.epoch), since(t0), node, user, op, 0})
					}
					node = (node + 1) % len(p.bases)
					continue
				}
				var errBody []byte
				if resp.StatusCode != http.StatusOK {
					errBody, _ = io.ReadAll(io.LimitReader(resp.Body, 4<<10))
				}
				_, err = io.CopyBuffer(io.Discard, resp.Body, body)
				resp.Body.Close()
				lat := since(t0)
				if err != nil && ctx.Err() != nil {
					return
				}
				s.count++
				ns.count++
				finished.Add(1)
				if p.tracing {
					code := resp.StatusCode
					if err != nil {
						code = 0
					}
					traces[w] = append(traces[w], TraceRecord{t0.Sub(p.epoch), lat, node, user, op, code})
				}
				switch {
				case err != nil:
					s.fail("transport", err.Error())
					ns.fail("transport", err.Error())
					failed.Add(1)
				case resp.StatusCode != http.StatusOK:
					msg := fmt.Sprintf("%s %s%s: %s: %s", req.Method, req.URL.Host, req.URL.Path, resp.Status, clip(errBody))
					s.fail(strconv.Itoa(resp.StatusCode), msg)
					ns.fail(strconv.Itoa(resp.StatusCode), msg)
					failed.Add(1)
				default:
					s.hist.Record(lat)
					ns.hist.Record(lat)
				}
			}
		})
	}
	sideDone := make(chan struct{})
	sideCtx, sideStop := context.WithCancel(ctx)
	if p.side != nil {
		go func() { defer close(sideDone); p.side(sideCtx) }()
	} else {
		close(sideDone)
	}
	wg.Wait()
	sideStop()
	<-sideDone
	el := since(start)
	p.addCPU(cpu0, p.pids.sample())
	close(progressDone)
	<-progressStopped // the progress goroutine reads p.elapsed: add to it only after it stopped
	p.elapsed += el
	for w, st := range stats {
		for op, s := range st {
			p.stats[op].merge(s)
		}
		for i := range perNode[w] {
			p.nodes[i].merge(&perNode[w][i])
		}
	}
	for _, tr := range traces {
		p.trace = append(p.trace, tr...)
	}
	p.requests += finished.Load()
	p.failed += failed.Load()
}

// addCPU adds the CPU time between two samples to p's.
func (p *phase) addCPU(a, b cpuSample) {
	if !a.ok || !b.ok {
		return
	}
	p.cpu.ok = true
	p.cpu.client += b.self - a.self
	srv, other := b.pres-a.pres, b.bare-a.bare
	sw := b.swPres - a.swPres
	if p.bare {
		srv, other = other, srv
		sw = b.swBare - a.swBare
	}
	p.cpu.swClient += b.swSelf - a.swSelf
	p.cpu.swServer += sw
	p.cpu.server += srv
	p.cpu.other += other
}

// result is p's rounds as one Result (throughput over the rounds' summed
// time), after the final progress report.
func (p *phase) result(cfg Config) Result {
	res := Result{URL: p.bases[0], Elapsed: p.elapsed}
	var total opStats
	for _, op := range Ops {
		if cfg.Mix.Weight(op) == 0 {
			continue
		}
		res.Ops = append(res.Ops, p.stats[op].result(string(op), p.elapsed))
		total.merge(p.stats[op])
	}
	res.Total = total.result("total", p.elapsed)
	if n := time.Duration(res.Total.Count); p.cpu.ok && n > 0 {
		res.CPU = &CPU{Client: p.cpu.client / n, Server: p.cpu.server / n, Other: p.cpu.other / n, Known: true,
			ClientSwitches: float64(p.cpu.swClient) / float64(n), ServerSwitches: float64(p.cpu.swServer) / float64(n)}
	}
	if len(p.bases) > 1 {
		for i, base := range p.bases {
			res.Nodes = append(res.Nodes, NodeResult{URL: base, Total: p.nodes[i].result("total", p.elapsed)})
		}
	}
	if cfg.Progress != nil {
		cfg.Progress(Progress{Phase: p.name, Elapsed: p.elapsed, Requests: res.Total.Count, Errors: res.Total.Errors,
			Rate: res.Total.Throughput, Final: true})
	}
	return res
}

// waitUntil waits until t (the wall clock) or ctx's end, and reports
// whether t came first.
func waitUntil(ctx context.Context, t time.Time) bool {
	d := -since(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	return clock.Sleep(ctx, d)
}
