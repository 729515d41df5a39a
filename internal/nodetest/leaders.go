package nodetest

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Leaders returns, for every presence partition's stream (KV_presence-N),
// the name of the node that leads it now, as the running nodes' JetStream
// reports it: the failure tests kill the node that leads the most.
func (c *Cluster) Leaders(ctx context.Context) (map[string]string, error) {
	return c.StreamLeaders(ctx, "KV_presence")
}

// StreamLeaders returns, for every stream whose name begins with prefix
// (KV_leases: the webhook leases' bucket), the name of the node that leads
// it now.
func (c *Cluster) StreamLeaders(ctx context.Context, prefix string) (map[string]string, error) {
	var urls []string
	for _, n := range c.Nodes {
		if n.Running() {
			urls = append(urls, n.NATSURL)
		}
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.Timeout(5*time.Second))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	leaders := map[string]string{}
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		s, err := js.Stream(ctx, name)
		if err != nil {
			return nil, err
		}
		if cl := s.CachedInfo().Cluster; cl != nil {
			leaders[name] = cl.Leader
		}
	}
	return leaders, names.Err()
}

// BusiestLeader is the running node that leads the most presence
// partitions (the first node on a tie), and how many it leads.
func (c *Cluster) BusiestLeader(ctx context.Context) (*Node, int, error) {
	leaders, err := c.Leaders(ctx)
	if err != nil {
		return nil, 0, err
	}
	count := map[string]int{}
	for _, l := range leaders {
		count[l]++
	}
	var best *Node
	for _, n := range c.Nodes {
		if n.Running() && (best == nil || count[n.Name] > count[best.Name]) {
			best = n
		}
	}
	return best, count[best.Name], nil
}
