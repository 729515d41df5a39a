package nodetest

import (
	"context"
	"errors"
	"strings"
	"testing"
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
// it now. Each JetStream request in it is asked again when it gets no
// answer (ask).
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
	all, err := Ask(ctx, c.t, "the streams' names", func(ctx context.Context) ([]string, error) {
		var all []string
		names := js.StreamNames(ctx)
		for name := range names.Name() {
			all = append(all, name)
		}
		return all, names.Err()
	})
	if err != nil {
		return nil, err
	}
	leaders := map[string]string{}
	for _, name := range all {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		s, err := Ask(ctx, c.t, name+"'s info", func(ctx context.Context) (jetstream.Stream, error) { return js.Stream(ctx, name) })
		if err != nil {
			return nil, err
		}
		if cl := s.CachedInfo().Cluster; cl != nil {
			leaders[name] = cl.Leader
		}
	}
	return leaders, nil
}

// askFirst bounds a JetStream request's first attempt; each next one gets
// twice the last's, up to askMost.
const (
	askFirst = time.Second
	askMost  = 8 * time.Second
)

// Ask makes a JetStream API request (fn) until it is answered or ctx
// ends, each attempt under a bound of its own (askFirst, doubling up to
// askMost). A request on loopback is answered within milliseconds or not
// at all: nats-server answers a stream's STREAM.INFO only from its leader,
// and while the leadership moves (a step-down, an election, a new leader
// that has not yet applied its log) every replica drops the request
// unanswered (jsStreamInfoRequest). One such request asked once under the
// caller's whole bound made a test wait out that bound: under load
// TestClusterProcessEvensOutLeaders, whose nodes hand partitions over
// every two seconds, failed in its 3-minute or 30-second wait ("context
// deadline exceeded"). The bounds grow so that a loaded server that
// answers slowly is still heard.
// Each attempt that goes unanswered is logged with what through t.
func Ask[T any](ctx context.Context, t testing.TB, what string, fn func(context.Context) (T, error)) (T, error) {
	bound := askFirst
	for {
		actx, cancel := context.WithTimeout(ctx, bound)
		v, err := fn(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)) {
			return v, err
		}
		t.Logf("nodetest: no answer for %s within %v: asking again", what, bound)
		bound = min(2*bound, askMost)
	}
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
