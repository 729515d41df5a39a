package nodetest

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Metric reads the value of an unlabelled metric (presenced_subscriptions)
// from the node's /metrics, as an operator's scraper would: which node
// delivers a webhook subscription is what that node reports, not something
// a test reads out of the engine.
func (n *Node) Metric(ctx context.Context, name string) (float64, error) {
	var v float64
	found := false
	err := n.Scrape(ctx, func(line string) error {
		s, ok := strings.CutPrefix(line, name+" ")
		if !ok || found {
			return nil
		}
		found = true
		var err error
		v, err = strconv.ParseFloat(strings.TrimSpace(s), 64)
		return err
	})
	if err == nil && !found {
		err = fmt.Errorf("%s: /metrics has no %s", n.Name, name)
	}
	return v, err
}

// Bucket is one bucket of a histogram: how many observations were at most
// Le (cumulative, as Prometheus counts them).
type Bucket struct {
	Le    float64
	Count float64
}

// Histogram reads an unlabelled histogram's buckets (name without
// "_bucket"), in order, +Inf last, from the node's /metrics.
func (n *Node) Histogram(ctx context.Context, name string) ([]Bucket, error) {
	var bs []Bucket
	err := n.Scrape(ctx, func(line string) error {
		rest, ok := strings.CutPrefix(line, name+`_bucket{le="`)
		if !ok {
			return nil
		}
		le, count, ok := strings.Cut(rest, `"} `)
		if !ok {
			return fmt.Errorf("%s: /metrics: %q", n.Name, line)
		}
		b := Bucket{}
		var err error
		if b.Le, err = strconv.ParseFloat(le, 64); err != nil {
			return err
		}
		if b.Count, err = strconv.ParseFloat(strings.TrimSpace(count), 64); err != nil {
			return err
		}
		bs = append(bs, b)
		return nil
	})
	if err == nil && len(bs) == 0 {
		err = fmt.Errorf("%s: /metrics has no histogram %s", n.Name, name)
	}
	return bs, err
}

// Scrape reads the node's /metrics, a line at a time, as an operator's
// scraper would (within 5 s), and stops at the first error line returns.
func (n *Node) Scrape(ctx context.Context, line func(string) error) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+"/metrics", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: GET /metrics: %s", n.Name, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if err := line(sc.Text()); err != nil {
			return err
		}
	}
	return sc.Err()
}
