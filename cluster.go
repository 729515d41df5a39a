package presenced

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

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
