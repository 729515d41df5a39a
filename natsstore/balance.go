package natsstore

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// Why leaders are evened out: every write of a partition goes through its
// stream's leader, which does most of the work of a replicated write
// (taking the write, the Raft proposal, applying it, answering, serving
// every node's watch), and JetStream elects leaders where it happens to —
// 3/2/1 of six partitions is common after a start, and after a node's
// restart its peers lead everything. The node that leads the most bounds
// the cluster's write latency: in TestClusterBench the busiest node spent
// 110–136 µs of CPU per write against ~100 for the mean
// (docs/performance.md). JetStream does not rebalance by itself.

// leaderStepdown is JetStream's request to a stream's leader to step down,
// naming the peer it should hand over to (nats-server 2.11 and later).
type leaderStepdown struct {
	Placement struct {
		Preferred string `json:"preferred"`
	} `json:"placement"`
}

// BalanceLeaders evens out which nodes lead the partitions of the
// partitioned bucket name (Partitioned): if this node leads at least two
// more of them than the node that leads the fewest, it hands one of its
// own over to that node (HandOver), and returns the partition's stream.
// It moves at most one a call, and only to a replica that is current
// (caught up, not offline). Every node calling it from time to time
// converges: each move lowers the spread, and a node only hands over its
// own. It does nothing on a single node or with an external NATS (whose
// servers are not presenced's to arrange).
func (e *Engine) BalanceLeaders(ctx context.Context, name string) (moved string, err error) {
	stream, to, err := e.LeaderImbalance(ctx, name)
	if err != nil || stream == "" {
		return "", err
	}
	return stream, e.HandOver(ctx, stream, to)
}

// LeaderImbalance is what BalanceLeaders would do now: which partition's
// stream this node would hand over, and to which node; "" if none.
func (e *Engine) LeaderImbalance(ctx context.Context, name string) (stream, to string, err error) {
	if e.srv == nil || e.opts.Cluster == nil {
		return "", "", nil
	}
	me := e.srv.Name()
	prefix := "KV_" + name + "-"
	e.mu.Lock()
	var streams []string
	for s := range maps.Keys(e.streams) {
		if strings.HasPrefix(s, prefix) {
			streams = append(streams, s)
		}
	}
	e.mu.Unlock()
	slices.Sort(streams)
	led := map[string]int{}      // partitions each node leads
	current := map[string]bool{} // nodes that are a current replica of every partition
	var mine []*jetstream.StreamInfo
	for i, s := range streams {
		st, err := e.js.Stream(ctx, s)
		if err != nil {
			return "", "", fmt.Errorf("natsstore: balance leaders: %s: %w", s, err)
		}
		info := st.CachedInfo()
		cl := info.Cluster
		if cl == nil || cl.Leader == "" {
			return "", "", nil // a partition without a leader: not now
		}
		led[cl.Leader]++
		ok := map[string]bool{cl.Leader: true}
		for _, r := range cl.Replicas {
			if r.Current && !r.Offline && r.Lag == 0 {
				ok[r.Name] = true
			}
		}
		// Only nodes that are current for every partition take one: a
		// node that catches up is left alone until it has.
		for n := range current {
			if !ok[n] {
				delete(current, n)
			}
		}
		if i == 0 {
			maps.Copy(current, ok)
		}
		if cl.Leader == me {
			mine = append(mine, info)
		}
	}
	fewest := len(mine)
	for _, n := range slices.Sorted(maps.Keys(current)) {
		if n != me && led[n] < fewest {
			to, fewest = n, led[n]
		}
	}
	if to == "" || len(mine)-fewest < 2 {
		return "", "", nil
	}
	return mine[len(mine)-1].Config.Name, to, nil
}

// HandOver asks this node's leadership of stream to pass to the node
// named to (a JetStream step-down naming it). Like a graceful stop's, the
// hand-over pauses the stream's writes for tens of milliseconds: those in
// flight are sent again to the new leader once it is announced.
func (e *Engine) HandOver(ctx context.Context, stream, to string) error {
	var req leaderStepdown
	req.Placement.Preferred = to
	body, _ := json.Marshal(req)
	resp, err := e.nc.RequestWithContext(ctx, jetstream.DefaultAPIPrefix+"STREAM.LEADER.STEPDOWN."+stream, body)
	if err != nil {
		return fmt.Errorf("natsstore: hand %s over to %s: %w", stream, to, err)
	}
	var answer struct {
		Success bool                `json:"success"`
		Error   *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &answer); err != nil {
		return fmt.Errorf("natsstore: hand %s over to %s: %w: %.200q", stream, to, err, resp.Data)
	}
	if !answer.Success {
		return fmt.Errorf("natsstore: hand %s over to %s: %v", stream, to, answer.Error)
	}
	e.log.Info("handed a stream's leadership over", "stream", stream, "to", to)
	return nil
}
