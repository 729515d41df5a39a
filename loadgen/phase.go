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
)

// phase is the load against one server, over all its rounds.
type phase struct {
	name  string // "baseline" or "presenced"
	base  string
	sh    *shapes
	stats map[Op]*opStats // merged over the rounds run so far
	// elapsed, requests and failed sum the rounds run so far.
	elapsed          time.Duration
	requests, failed int64
}

func newPhase(cfg Config, name, base string) *phase {
	p := &phase{name: name, base: base, sh: newShapes(cfg, base), stats: map[Op]*opStats{}}
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
// rd's bounds or until ctx ends, and adds what it measured to p.
func (p *phase) run(ctx context.Context, cfg Config, c *http.Client, tokens *tokenSource, rd round) {
	var (
		stop     atomic.Bool
		claimed  atomic.Int64 // requests started, for the count bound
		finished atomic.Int64 // for progress
		failed   atomic.Int64
		wg       sync.WaitGroup
	)
	stats := make([]map[Op]*opStats, cfg.Concurrency)
	start := now()
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
		wg.Go(func() {
			r := rand.New(rand.NewPCG(rand.Uint64(), uint64(w)))
			body := make([]byte, 32<<10)
			for !stop.Load() && ctx.Err() == nil {
				if rd.n > 0 && claimed.Add(1) > rd.n {
					return
				}
				op := p.sh.ops[r.IntN(len(p.sh.ops))]
				s := st[op]
				req := p.sh.request(ctx, op, r, tokens.header())
				t0 := now()
				resp, err := c.Do(req)
				if err != nil {
					if ctx.Err() != nil {
						return // interrupted: not the server's failure
					}
					s.count++
					s.fail("transport", err.Error())
					finished.Add(1)
					failed.Add(1)
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
				finished.Add(1)
				switch {
				case err != nil:
					s.fail("transport", err.Error())
					failed.Add(1)
				case resp.StatusCode != http.StatusOK:
					s.fail(strconv.Itoa(resp.StatusCode), fmt.Sprintf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, clip(errBody)))
					failed.Add(1)
				default:
					s.hist.Record(lat)
				}
			}
		})
	}
	wg.Wait()
	el := since(start)
	close(progressDone)
	<-progressStopped // the progress goroutine reads p.elapsed: add to it only after it stopped
	p.elapsed += el
	for _, st := range stats {
		for op, s := range st {
			p.stats[op].merge(s)
		}
	}
	p.requests += finished.Load()
	p.failed += failed.Load()
}

// result is p's rounds as one Result (throughput over the rounds' summed
// time), after the final progress report.
func (p *phase) result(cfg Config) Result {
	res := Result{URL: p.base, Elapsed: p.elapsed}
	var total opStats
	for _, op := range Ops {
		if cfg.Mix.Weight(op) == 0 {
			continue
		}
		res.Ops = append(res.Ops, p.stats[op].result(string(op), p.elapsed))
		total.merge(p.stats[op])
	}
	res.Total = total.result("total", p.elapsed)
	if cfg.Progress != nil {
		cfg.Progress(Progress{Phase: p.name, Elapsed: p.elapsed, Requests: res.Total.Count, Errors: res.Total.Errors,
			Rate: res.Total.Throughput, Final: true})
	}
	return res
}
