package natsstore

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/clock"
)

// Where a follow's consumer is placed, and why at home.
//
// Every node follows every partition's stream (its cache's watch), so
// each write is delivered once to every node. With each node's consumers
// on the stream's leader (placeLeader), the leader delivered a write
// three times, two of them over the routes to the other nodes, each
// crossing a route twice (the leader's write loop, the other node's read
// loop and its matching of the inbox); the cluster bench's profiles put
// the routes at ~14 µs of a node's ~78 µs per write (docs/performance.md).
// Each node of an embedded cluster holds a replica of every stream, so
// its consumers can read its own replica instead (placeHome): the
// replica stores a write once the leader tells it the write is committed
// (the leader says so at once when nothing else is queued: nats-server
// sends a heartbeat then), and its consumer delivers it inside the node's
// own server. What the routes carry per write is then the replication
// alone.
//
// A replica can be behind: one catching up after a restart stores what
// it catches up without waking its consumers, and a consumer there
// delivers nothing until a live write arrives (why the watch was placed
// on the leader, watch.go). So a consumer goes home only when the node's
// server says its replica is current (JetStreamIsStreamCurrent: in
// contact with the leader, everything committed applied, not catching
// up); otherwise, and after an attempt that ended in an error (a stall,
// a consumer not made or lost), it goes to the leader, and a follow not at home
// looks again every homeAgain whether it can go home, between two
// fetches (nothing lost: the next consumer starts at the next position).
// A consumer at home can only be lost with its node, which then does not
// need it: a peer's death costs the follow nothing.
//
// Only an engine that embeds its server has a home; one on an operator's
// NATS (External) keeps its consumers on the leader.

// placement is where a follow's consumers go.
type placement int

const (
	placeAny    placement = iota // where JetStream puts it (a random replica)
	placeLeader                  // the stream's leader, when it can be (leaderConsumer)
	placeHome                    // this node's own replica when it is current, else the leader
)

// homeAgain is how often a follow placed away from home looks whether its
// node's replica is current again.
var homeAgain = 30 * time.Second

// Looking whether the replica is current: nats-server's answer needs
// every committed entry applied, which under load is true between two
// batches, not at every instant; asked up to homeLooks times homePause
// apart.
const (
	homeLooks = 20
	homePause = 5 * time.Millisecond
)

// errGoHome ends a follow's attempt away from home when its node's
// replica is current: the next attempt is made at home.
var errGoHome = errors.New("the node's own replica is current again")

// home is the name of this node's server, "" when the engine has none of
// its own (External) or is not clustered.
func (l *log) home() string {
	if l.e.srv == nil || l.e.opts.Cluster == nil {
		return ""
	}
	return l.e.srv.Name()
}

// homeCurrent says whether this node's replica of the stream is current
// (see above), looking up to homeLooks times.
func (l *log) homeCurrent(ctx context.Context) bool {
	for look := 0; ; look++ {
		if l.e.srv.JetStreamIsStreamCurrent(server.DEFAULT_GLOBAL_ACCOUNT, l.name) {
			return true
		}
		if look+1 >= homeLooks || !clock.Sleep(ctx, homePause) {
			return false
		}
	}
}

// placedConsumer is a follow's consumer from from, placed as place says
// (away: placeHome asked, but the consumer is not on this node's server).
// After an attempt that ended in an error (failed) a home follow goes to
// the leader, and home again when goHome says so.
func (l *log) placedConsumer(ctx context.Context, filter []string, from uint64, bound time.Duration, place placement, failed bool) (c jetstream.Consumer, away bool, err error) {
	home := l.home()
	switch {
	case place == placeAny:
		c, err = l.readConsumer(ctx, filter, from, bound)
		return c, false, err
	case place == placeHome && home != "" && !failed:
		cctx, cancel := context.WithTimeout(ctx, bound)
		current := l.homeCurrent(cctx)
		cancel()
		if current {
			// Made again while it lands elsewhere (each try one in
			// three with three replicas); past the bound, away.
			c, _, err = l.consumerOn(ctx, filter, from, bound, func(context.Context) (string, bool) { return home, true })
			if err != nil {
				return nil, false, err
			}
			return c, awayFrom(c, home), nil
		}
	}
	if c, _, err = l.leaderConsumer(ctx, filter, from, bound); err != nil {
		return nil, false, err
	}
	return c, place == placeHome && home != "" && awayFrom(c, home), nil
}

// awayFrom says whether c is placed on another server than home.
func awayFrom(c jetstream.Consumer, home string) bool {
	info := c.CachedInfo()
	return info.Cluster != nil && info.Cluster.Leader != home
}

// goHome says whether a follow away from home should end its attempt now
// to go home: it looks every homeAgain (since *looked), between fetches.
func (l *log) goHome(ctx context.Context, looked *time.Time) bool {
	if clock.Since(clock.Real{}, *looked) < homeAgain {
		return false
	}
	*looked = (clock.Real{}).Now()
	cctx, cancel := context.WithTimeout(ctx, homeLooks*homePause)
	defer cancel()
	return l.homeCurrent(cctx)
}
