package clusterproof_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/nodetest"
	"github.com/presenced/presenced/loadgen"
	"github.com/presenced/presenced/natsstore"
)

// A cluster write takes one of two paths: the node that took the HTTP
// request leads the user's partition (it stores the write and waits for a
// follower's acknowledgement), or it does not, and sends the write over a
// route to the leader, one more hop each way (docs/cluster.md#partitions).
// TestClusterBench traces every request of a cluster's write runs (bench
// --trace) and splits their latency by path, with each partition's leader
// read at the run's start and end (a run whose leaders moved is not split:
// a write's path is then not known). The split says whether the hop makes
// the cluster's tail (its p99/mean, 1.5× a single node's on a quiet box),
// and gives the queueing model each path's share, mean and tail
// (queue_model_test.go's projection as the mixture it is).

// writePath is one path's figures in one run.
type writePath struct {
	n              int
	mean, p50, p99 time.Duration
	lat            []time.Duration // sorted
}

func (p writePath) k() float64 { return p.p99.Seconds() / p.mean.Seconds() }

func (p writePath) String() string {
	if p.n == 0 {
		return "none"
	}
	return fmt.Sprintf("%d writes, mean %.2f ms, p50 %.2f ms, p99 %.1f ms, p99/mean %.2f",
		p.n, ms(p.mean), ms(p.p50), ms(p.p99), p.k())
}

func ms(d time.Duration) float64 { return d.Seconds() * 1e3 }

func newWritePath(lat []time.Duration) writePath {
	p := writePath{n: len(lat), lat: slices.Clone(lat)}
	if p.n == 0 {
		return p
	}
	slices.Sort(p.lat)
	var sum time.Duration
	for _, l := range p.lat {
		sum += l
	}
	p.mean = sum / time.Duration(p.n)
	p.p50, p.p99 = rank(p.lat, 0.50), rank(p.lat, 0.99)
	return p
}

// rank is the q-quantile of sorted (nearest rank).
func rank(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// pathSplit is a traced run's writes by path.
type pathSplit struct {
	moved       bool // a partition's leader moved during the run: not split
	leads, hop  writePath
	all         writePath
	byPartition []writePath // each partition's writes, both paths
	byNode      []writePath // by the node that took the request
	// clustered is the share of the writes above the run's p99 that
	// started within the same 10 ms as at least three others above it:
	// stalls many clients meet at once (a collector's pause, a Raft
	// batch, a node's scheduler), not one slow write's bad luck. With
	// ~1 such write per 10 ms on average, chance alone puts ~1 % there.
	clustered float64
	// burstLeader and burstTaker are, over those bursts, the mean share
	// of a burst's slow writes whose partition's leader is the burst's
	// most common one, and whose request the most common node took: near
	// 1 a burst is one node's stall (its collector, its Raft), near 1/3
	// (three nodes) the whole machine's.
	burstLeader, burstTaker float64
	// evenK is the p99/mean of the writes with each hop-path write made
	// shorter by the paths' difference of means: the tail a write would
	// have if the two paths differed in nothing but their tails — what
	// the cluster's tail factor owes to being a mixture of two paths.
	evenK float64
}

// partitionCount is the cluster's P: PRESENCED_CLUSTER_BENCH_PARTITIONS,
// or 0 for the default layout (natsstore.DefaultPartitions).
func partitionCount(t *testing.T) int {
	s := os.Getenv("PRESENCED_CLUSTER_BENCH_PARTITIONS")
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 64 {
		t.Fatalf("PRESENCED_CLUSTER_BENCH_PARTITIONS=%q: a count of partitions, 1–64", s)
	}
	return n
}

// leaderOf is each partition's leading node's name, from the cluster's
// stream leaders (KV_presence-N).
func leaderOf(ctx context.Context, c *nodetest.Cluster, parts int) ([]string, error) {
	if len(c.Nodes) == 1 {
		return []string{c.Nodes[0].Name}, nil // a single node leads its one bucket
	}
	m, err := c.Leaders(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, parts)
	for name, l := range m {
		i, err := strconv.Atoi(strings.TrimPrefix(name, "KV_presence-"))
		if err != nil || i < 0 || i >= parts {
			return nil, fmt.Errorf("stream %s: not one of %d presence partitions", name, parts)
		}
		out[i] = l
	}
	for i, l := range out {
		if l == "" {
			return nil, fmt.Errorf("partition %d: no leader known", i)
		}
	}
	return out, nil
}

// splitPaths splits a trace's successful writes by path. users are the
// bench's (generated demo users 1…n: Users[i] is DemoUserID(i+1)); urls the
// nodes the bench sent through (the trace's node index); before and after
// each partition's leader at the run's start and end.
func splitPaths(rs []loadgen.TraceRecord, urls []*nodetest.Node, parts int, before, after []string) pathSplit {
	var sp pathSplit
	if !slices.Equal(before, after) {
		sp.moved = true
		return sp
	}
	partOf := map[int]int{}
	var leads, hop, all []time.Duration
	byPart := make([][]time.Duration, parts)
	byNode := make([][]time.Duration, len(urls))
	for _, r := range rs {
		if r.Op != loadgen.OpSet || r.Status != 200 || r.User < 0 {
			continue
		}
		p, ok := partOf[r.User]
		if !ok {
			p = natsstore.PartitionOf("u."+directory.DemoTenantID+"."+directory.DemoUserID(r.User+1), parts)
			partOf[r.User] = p
		}
		if before[p] == urls[r.Node].Name {
			leads = append(leads, r.Latency)
		} else {
			hop = append(hop, r.Latency)
		}
		all = append(all, r.Latency)
		byPart[p] = append(byPart[p], r.Latency)
		byNode[r.Node] = append(byNode[r.Node], r.Latency)
	}
	sp.leads, sp.hop, sp.all = newWritePath(leads), newWritePath(hop), newWritePath(all)
	if sp.leads.n > 0 && sp.hop.n > 0 {
		d := sp.hop.mean - sp.leads.mean
		even := slices.Clone(leads)
		for _, l := range hop {
			even = append(even, l-d)
		}
		sp.evenK = newWritePath(even).k()
	}
	for _, l := range byPart {
		sp.byPartition = append(sp.byPartition, newWritePath(l))
	}
	for _, l := range byNode {
		sp.byNode = append(sp.byNode, newWritePath(l))
	}
	// The slow writes' starts, in 10 ms bins.
	type slowWrite struct{ leader, taker string }
	bins := map[int64][]slowWrite{}
	slow := 0
	for _, r := range rs {
		if r.Op == loadgen.OpSet && r.Status == 200 && r.Latency > sp.all.p99 {
			b := int64(r.Start / (10 * time.Millisecond))
			bins[b] = append(bins[b], slowWrite{before[partOf[r.User]], urls[r.Node].Name})
			slow++
		}
	}
	if slow > 0 {
		inBursts, bursts := 0, 0
		mostShare := func(ws []slowWrite, of func(slowWrite) string) float64 {
			count := map[string]int{}
			most := 0
			for _, w := range ws {
				count[of(w)]++
				most = max(most, count[of(w)])
			}
			return float64(most) / float64(len(ws))
		}
		for _, ws := range bins {
			if len(ws) >= 4 {
				inBursts += len(ws)
				bursts++
				sp.burstLeader += mostShare(ws, func(w slowWrite) string { return w.leader })
				sp.burstTaker += mostShare(ws, func(w slowWrite) string { return w.taker })
			}
		}
		sp.clustered = float64(inBursts) / float64(slow)
		if bursts > 0 {
			sp.burstLeader /= float64(bursts)
			sp.burstTaker /= float64(bursts)
		}
	}
	return sp
}

func (sp pathSplit) String() string {
	if sp.moved {
		return "paths: a partition's leader moved during the run, not split"
	}
	s := fmt.Sprintf("paths: the node leads the partition: %s; one more hop: %s (%.0f %% of the writes); all: %s (p99/mean %.2f were the paths' means equal); above the p99 in 10 ms bursts of ≥ 4: %.0f %% (a burst's most common leader %.0f %% of it, most common node taking it %.0f %%)",
		sp.leads, sp.hop, 100*float64(sp.hop.n)/float64(max(sp.all.n, 1)), sp.all, sp.evenK, 100*sp.clustered, 100*sp.burstLeader, 100*sp.burstTaker)
	s += "; p99 by partition"
	for _, p := range sp.byPartition {
		s += fmt.Sprintf(" %.1f", ms(p.p99))
	}
	s += " ms; by the node that took it"
	for _, p := range sp.byNode {
		s += fmt.Sprintf(" %.1f", ms(p.p99))
	}
	return s + " ms"
}

// logPaths logs a row's paths over its runs whose leaders held still.
func logPaths(t *testing.T, r benchRow, fs []benchFigures) {
	var ok []pathSplit
	for _, f := range fs {
		if f.paths != nil && !f.paths.moved && f.paths.leads.n > 0 && (f.paths.hop.n > 0 || len(f.paths.byNode) == 1) {
			ok = append(ok, *f.paths)
		}
	}
	if len(ok) == 0 {
		return
	}
	rng := func(of func(pathSplit) float64, format string) string {
		var v []float64
		for _, p := range ok {
			v = append(v, of(p))
		}
		return rangeOf(v, format)
	}
	path := func(name string, of func(pathSplit) writePath) string {
		return fmt.Sprintf("%s mean %s ms, p50 %s ms, p99 %s ms, p99/mean %s", name,
			rng(func(p pathSplit) float64 { return ms(of(p).mean) }, "%.2f"),
			rng(func(p pathSplit) float64 { return ms(of(p).p50) }, "%.2f"),
			rng(func(p pathSplit) float64 { return ms(of(p).p99) }, "%.1f"),
			rng(func(p pathSplit) float64 { return of(p).k() }, "%.2f"))
	}
	if len(ok[0].byNode) == 1 {
		t.Logf("%-40s %s; slow writes in bursts %s %%", r, path("all:", func(p pathSplit) writePath { return p.all }),
			rng(func(p pathSplit) float64 { return 100 * p.clustered }, "%.0f"))
		return
	}
	t.Logf("%-40s paths (%d of %d runs split): %s; %s (%s %% of the writes); %s (p99/mean %s were the paths' means equal); slow writes in bursts %s %% (one leader's share %s %%, one taker's %s %%)",
		r, len(ok), len(fs),
		path("the node leads:", func(p pathSplit) writePath { return p.leads }),
		path("one more hop:", func(p pathSplit) writePath { return p.hop }),
		rng(func(p pathSplit) float64 { return 100 * float64(p.hop.n) / float64(p.all.n) }, "%.0f"),
		path("all:", func(p pathSplit) writePath { return p.all }),
		rng(func(p pathSplit) float64 { return p.evenK }, "%.2f"),
		rng(func(p pathSplit) float64 { return 100 * p.clustered }, "%.0f"),
		rng(func(p pathSplit) float64 { return 100 * p.burstLeader }, "%.0f"),
		rng(func(p pathSplit) float64 { return 100 * p.burstTaker }, "%.0f"))
}

// keepTrace copies a run's trace to dir (PRESENCED_CLUSTER_BENCH_TRACE)
// as trace-<n>.csv, beside trace-<n>.leaders: the nodes the bench sent
// through, in its order, and each partition's leader before and after.
func keepTrace(t *testing.T, dir, tracePath string, urls []*nodetest.Node, before, after []string) {
	raw, err := os.ReadFile(tracePath)
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	base := filepath.Join(dir, fmt.Sprintf("trace-%d", len(ents)/2+1))
	var names []string
	for _, n := range urls {
		names = append(names, n.Name)
	}
	meta := fmt.Sprintf("nodes %s\nbefore %s\nafter %s\n", strings.Join(names, " "), strings.Join(before, " "), strings.Join(after, " "))
	if err := os.WriteFile(base+".csv", raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+".leaders", []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
}
