package presenced

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/natsstore"
)

// ClusterConfig makes the server a node of a presenced cluster
// (docs/cluster.md): either its embedded engine joins a NATS cluster
// (NodeName, ClusterName, ClusterListen, Routes), or it connects to a NATS
// cluster the operator runs (NATSURLs). Every node answers every request;
// JetStream replicates the data.
type ClusterConfig struct {
	// NodeName is this node's name: unique in the cluster and never
	// changed (JetStream knows its peers by it). Required for an embedded
	// node; in external mode it names the node's connection and leases
	// (default the host name).
	NodeName string
	// ClusterName is the NATS cluster's name, the same on every node.
	ClusterName string
	// ClusterListen is the host:port this node's routes listen on.
	ClusterListen string
	// Routes are every node's route address (nats://host:port), the same
	// list on every node.
	Routes []string
	// NATSListen is where NATS clients (tools, external-mode nodes) reach
	// this node's embedded server (default 127.0.0.1 on a port the system
	// picks).
	NATSListen string
	// ClusterTLS secures the routes: each node presents Cert/Key and
	// accepts peers whose certificate CA verifies (all three or none).
	ClusterTLS natsstore.TLSFiles

	// NATSURLs connect to an operator's NATS cluster instead of embedding
	// a server (external mode).
	NATSURLs []string
	// NATSCreds is a NATS credentials file for external mode.
	NATSCreds string
	// NATSTLS: a CA to verify the NATS servers with, and a client
	// certificate and key for servers that ask for one.
	NATSTLS natsstore.TLSFiles
}

// external reports whether the node connects to an operator's NATS.
func (c *ClusterConfig) external() bool { return c != nil && len(c.NATSURLs) > 0 }

// engineOptions are the engine's options for the server's configuration.
func (s *Server) engineOptions() (natsstore.Options, error) {
	o := natsstore.Options{
		Dir:        filepath.Join(s.cfg.DataDir, "engine"),
		SyncAlways: s.cfg.SyncAlways,
		MinFree:    s.cfg.DiskReserve,
		Logger:     s.log,
		Replicas:   s.cfg.Replicas,
		Partitions: s.cfg.Partitions,
		WriteWait:  s.cfg.engineWait,
	}
	c := s.cfg.Cluster
	switch {
	case c == nil:
		return o, nil
	case c.external() && (c.ClusterName != "" || c.ClusterListen != "" || len(c.Routes) > 0):
		return o, errors.New("presenced: a node either embeds a clustered engine (--cluster-name, --cluster-listen, --routes) or connects to an external NATS (--nats-url), not both")
	case c.external():
		o.Dir = "" // the engine's files are the operator's
		o.ServerName = c.NodeName
		if o.ServerName == "" {
			o.ServerName, _ = os.Hostname()
		}
		o.External = &natsstore.ExternalOptions{URLs: c.NATSURLs, Creds: c.NATSCreds, TLS: c.NATSTLS}
		return o, nil
	}
	o.ServerName = c.NodeName
	o.Cluster = &natsstore.ClusterOptions{Name: c.ClusterName, Listen: c.ClusterListen, Routes: c.Routes, ClientListen: c.NATSListen}
	if c.ClusterTLS != (natsstore.TLSFiles{}) {
		o.Cluster.TLS = &c.ClusterTLS
	}
	return o, nil
}

// layoutError says, with the flags, how to start a node whose layout is
// not the engine's.
func layoutError(err error) error {
	var le *natsstore.LayoutError
	if !errors.As(err, &le) {
		return fmt.Errorf("presenced: engine: %w", err)
	}
	return fmt.Errorf("presenced: %w. Stored: --partitions %d --replicas %d", err, le.Stored.Partitions, le.Stored.Replicas)
}

// follow keeps the core's cache in step with the engine in cluster mode,
// where other nodes write the same users (core.Follow): started before the
// warm-up and before anything reads a user. The clock offset is followed
// too (followClock). ctx is the node's life, not its start: the watches
// end with it. A node alone is the only writer of its engine and does not
// follow.
func (s *Server) follow(ctx context.Context) error {
	if s.cfg.Cluster == nil {
		return nil
	}
	f, err := s.core.Follow(ctx)
	if err != nil {
		return fmt.Errorf("presenced: engine: %w", err)
	}
	s.health.Check("cache following", f.Err)
	s.watchQuorum()
	s.balanceLeaders()
	s.runDone.Add(1)
	go func() {
		defer s.runDone.Done()
		f.Run(s.runCtx)
	}()
	return s.followClock(ctx)
}

// DefaultBalanceLeaders is `presenced serve`'s Config.BalanceLeaders: a
// move ~1 minute after a start or a peer's return (two looks), without
// stepping down often under load.
const DefaultBalanceLeaders = 30 * time.Second

// balanceLeaders evens out, in the background, which nodes lead the
// presence partitions: the node that leads the most does most of their
// writes' work and bounds the cluster's write latency, and JetStream
// elects leaders unevenly (3/2/1 of six is common after a start, and a
// node restarted leads nothing). Each hand-over pauses one partition's
// writes for tens of milliseconds, as a graceful stop's does. A hand-over
// is made only when two looks in a row, Config.BalanceLeaders apart, call for the
// same one: a node that leads nothing because it is stopping (it handed
// its partitions over) is gone by the second look, and is not handed
// back a partition it would drop on its way out.
func (s *Server) balanceLeaders() {
	if s.cfg.BalanceLeaders <= 0 {
		return
	}
	s.runDone.Add(1)
	go func() {
		defer s.runDone.Done()
		t := time.NewTicker(s.cfg.BalanceLeaders)
		defer t.Stop()
		var last [2]string
		for {
			select {
			case <-s.runCtx.Done():
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(s.runCtx, 10*time.Second)
			stream, to, err := s.engine.LeaderImbalance(ctx, "presence")
			if err == nil && stream != "" && last == [2]string{stream, to} {
				err = s.engine.HandOver(ctx, stream, to)
				stream, to = "", ""
			}
			cancel()
			last = [2]string{stream, to}
			if err != nil && s.runCtx.Err() == nil {
				s.log.Debug("balancing the partitions' leaders", "err", err)
			}
		}
	}()
}

// followLagBuckets are presenced_cluster_follow_lag_seconds' buckets: tenths
// of a millisecond on a quiet cluster, tens of milliseconds on a loaded
// one, seconds while a node catches up; fine around the 50 ms.
var followLagBuckets = []float64{.0005, .001, .002, .003, .005, .0075, .01, .015, .02, .03, .04, .05, .075, .1, .15, .2, .3, .5, 1, 2, 5, 10}

// quorumPoll is how often a cluster node asks the engine whether it has a
// quorum, for /readyz.
const quorumPoll = time.Second

// watchQuorum makes /readyz fail while the engine has no quorum (its meta
// group no leader: natsstore.Engine.Ready), so that load balancers send
// requests to nodes on the majority side. Ready is a request to the
// engine, and /readyz never waits on the engine: it is asked every second
// in the background, and /readyz reads the last answer. A change is
// logged: at WARN when the quorum is lost (writes through the node fail
// with 503; it answers reads from its cache, which may be behind).
func (s *Server) watchQuorum() {
	var state atomic.Pointer[error]
	notYet := errors.New("not known yet")
	state.Store(&notYet)
	s.health.Check("engine quorum", func() error { return *state.Load() })
	s.runDone.Add(1)
	go func() {
		defer s.runDone.Done()
		t := time.NewTicker(quorumPoll)
		defer t.Stop()
		had := true
		for {
			err := s.engine.Ready(s.runCtx)
			if s.runCtx.Err() != nil {
				return
			}
			switch {
			case err != nil && had:
				s.log.Warn("the engine has no quorum: writes through this node fail with 503 and it answers reads from its cache, which may be behind; /readyz fails", "err", err)
			case err == nil && !had:
				s.log.Info("the engine has a quorum again")
			}
			had = err == nil
			if err != nil {
				err = errors.New("the engine has no quorum (a majority of the cluster's nodes is not reachable)")
			}
			state.Store(&err)
			select {
			case <-s.runCtx.Done():
				return
			case <-t.C:
			}
		}
	}()
}
