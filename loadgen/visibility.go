package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Visibility is how long a write acknowledged by one node of a cluster
// took to be read on another: from the moment the writer had its 200 to
// the answer of the first GET through the other node that showed it. The
// time includes that GET's round trip, so it is an upper bound by about
// one GET.
type Visibility struct {
	// Samples counts the writes whose visibility was measured.
	Samples int64 `json:"samples"`
	// NotSeen counts writes the other node did not show within
	// VisibilityTimeout, and Errors writes or reads that failed; FirstError
	// shows one of either.
	NotSeen    int64   `json:"notSeen"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"firstError,omitempty"`
	Latency    Latency `json:"latency"`
	// Reads is the probe's GETs' own round trips, and FirstRead counts
	// the samples the first GET after the write already showed: a sample
	// is at least one read, so under load most of Latency can be the
	// probe's own GET waiting its turn rather than the write's travel.
	Reads     Latency `json:"reads"`
	FirstRead int64   `json:"firstRead"`
}

const (
	// VisibilityTimeout is how long the probe waits for another node to
	// show a write before it counts it as not seen.
	VisibilityTimeout = 5 * time.Second
	// visibilityEvery paces the probe: a sample starts at most this often,
	// so that it weighs little beside the load it runs in.
	visibilityEvery = 20 * time.Millisecond
)

// visibilityPairs alternate, so that each write is a change a reader can
// tell from the one before; neither fades with time.
var visibilityPairs = [2][2]string{{"Busy", "InACall"}, {"DoNotDisturb", "Presenting"}}

// probe is the visibility probe's state over a run's rounds.
type visProbe struct {
	cfg    Config
	c      *http.Client
	tokens []*tokenSource
	bases  []string
	user   string

	mu    sync.Mutex
	n     int // samples started, over the rounds
	hist  Histogram
	reads Histogram
	res   Visibility
}

// run takes samples until ctx ends: sample j writes through node j mod n
// and reads through the next node.
func (v *visProbe) run(ctx context.Context) {
	tick := time.NewTicker(visibilityEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		v.mu.Lock()
		j := v.n
		v.n++
		v.mu.Unlock()
		w, r := j%len(v.bases), (j+1)%len(v.bases)
		took, first, err := v.sample(ctx, w, r, visibilityPairs[j%2])
		if ctx.Err() != nil {
			return // cut by the end of the round
		}
		v.mu.Lock()
		switch {
		case err != nil:
			v.res.Errors++
			if v.res.FirstError == "" {
				v.res.FirstError = err.Error()
			}
		case took < 0:
			v.res.NotSeen++
			if v.res.FirstError == "" {
				v.res.FirstError = fmt.Sprintf("a write acknowledged by %s was not read on %s within %v", v.bases[w], v.bases[r], VisibilityTimeout)
			}
		default:
			v.res.Samples++
			v.hist.Record(took)
			if first {
				v.res.FirstRead++
			}
		}
		v.mu.Unlock()
	}
}

// sample writes pair through node w, then reads through node r until it
// shows it; took < 0 means it did not within VisibilityTimeout, and first
// that the first read showed it.
func (v *visProbe) sample(ctx context.Context, w, r int, pair [2]string) (took time.Duration, first bool, err error) {
	body := fmt.Sprintf(`{"sessionId":"%s:visibility","availability":"%s","activity":"%s","expirationDuration":"PT1H"}`, v.cfg.ClientID, pair[0], pair[1])
	path := "/v1.0/users/" + url.PathEscape(v.user) + "/presence"
	if _, err := v.do(ctx, w, http.MethodPost, path+"/setPresence", []byte(body)); err != nil {
		return 0, false, err
	}
	acked := now()
	for i := 0; since(acked) < VisibilityTimeout; i++ {
		t0 := now()
		raw, err := v.do(ctx, r, http.MethodGet, path, nil)
		if err != nil {
			return 0, false, err
		}
		rt := since(t0)
		v.mu.Lock()
		v.reads.Record(rt)
		v.mu.Unlock()
		var got struct{ Availability, Activity string }
		if err := json.Unmarshal(raw, &got); err != nil {
			return 0, false, fmt.Errorf("GET %s: %w", v.bases[r]+path, err)
		}
		if got.Availability == pair[0] && got.Activity == pair[1] {
			return since(acked), i == 0, nil
		}
	}
	return -1, false, nil
}

// do sends one request through node i and returns the body of its 200.
func (v *visProbe) do(ctx context.Context, i int, method, path string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, v.bases[i]+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", v.tokens[i].header())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := v.c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s %s: %s: %s", method, v.bases[i]+path, resp.Status, clip(raw))
	}
	return raw, err
}

// result is the probe's figures over the rounds run.
func (v *visProbe) result() *Visibility {
	v.mu.Lock()
	defer v.mu.Unlock()
	res := v.res
	res.Latency, res.Reads = summarize(&v.hist), summarize(&v.reads)
	return &res
}
