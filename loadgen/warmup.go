package loadgen

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Warmup is what Config.Warmup sent before anything was measured: every
// (user, session) pair of the mix's write shape written once, and with a
// read in the mix every user read once, at the run's concurrency — to
// presenced, and the same requests to the bare baseline (whose answers do
// not depend on them) so that its connections and runtime start as warm.
// None of it is in any figure of the report: latency, throughput and CPU
// are read from the first round on.
type Warmup struct {
	// Sets and Gets are the requests sent to presenced (Users × SessionsPerUser
	// setPresence, Users GET), Elapsed how long they took.
	Sets    int64         `json:"sets"`
	Gets    int64         `json:"gets"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// BareRequests and BareElapsed are the same against the baseline (0
	// without one).
	BareRequests int64         `json:"bareRequests,omitempty"`
	BareElapsed  time.Duration `json:"bareElapsed_ns,omitempty"`
}

// warmJob is one request of the warm-up: a user (index in the load's
// Users) and, for a write, the session k of "<ClientID>:s<k>".
type warmJob struct {
	op      Op
	user, k int
}

// warmJobs are the warm-up's requests: every (user, session) pair once
// when the mix writes, then every user once when it reads.
func warmJobs(cfg Config) []warmJob {
	var jobs []warmJob
	if cfg.Mix.Set > 0 {
		for u := range cfg.Users {
			for k := range cfg.SessionsPerUser {
				jobs = append(jobs, warmJob{OpSet, u, k})
			}
		}
	}
	if cfg.Mix.Get > 0 || cfg.Mix.Many > 0 {
		for u := range cfg.Users {
			jobs = append(jobs, warmJob{op: OpGet, user: u})
		}
	}
	return jobs
}

// warm sends jobs to p's server(s) with cfg.Concurrency workers (worker w
// through node w mod n, as in a round) and returns how long they took. The
// first request that fails (no answer, or a status other than 200) stops
// it: the error says which and how many had been sent.
func (p *phase) warm(ctx context.Context, cfg Config, c *http.Client, tokens []*tokenSource, jobs []warmJob) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next, done atomic.Int64
		firstErr   error
		errOnce    sync.Once
		wg         sync.WaitGroup
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	start := now()
	for w := range min(cfg.Concurrency, len(jobs)) {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(rand.Uint64(), uint64(w)))
			buf := make([]byte, 32<<10)
			node := w % len(p.bases)
			sh, authz := p.sh[node], tokens[min(node, len(tokens)-1)].header()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(len(jobs)) {
					return
				}
				j := jobs[i]
				req := sh.warmRequest(ctx, j, r, authz)
				resp, err := c.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						fail(fmt.Errorf("%s %s: %w", req.Method, req.URL, err))
					}
					return
				}
				var errBody []byte
				if resp.StatusCode != http.StatusOK {
					errBody, _ = io.ReadAll(io.LimitReader(resp.Body, 4<<10))
				}
				_, err = io.CopyBuffer(io.Discard, resp.Body, buf)
				resp.Body.Close()
				switch {
				case err != nil && ctx.Err() == nil:
					fail(fmt.Errorf("%s %s: %w", req.Method, req.URL, err))
					return
				case resp.StatusCode != http.StatusOK:
					fail(fmt.Errorf("%s %s answered %s: %s", req.Method, req.URL, resp.Status, clip(errBody)))
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	el := since(start)
	if firstErr != nil {
		return el, fmt.Errorf("%d of %d requests done, then %w", done.Load(), len(jobs), firstErr)
	}
	if err := ctx.Err(); err != nil {
		return el, err
	}
	return el, nil
}
