package main

import (
	"errors"
	"flag"
	"strings"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/natsstore"
)

// clusterFlags registers the flags of cluster mode (docs/cluster.md) on fs,
// and returns the function that applies them to cfg after parsing: none
// of them given is a single node, as before.
func clusterFlags(fs *flag.FlagSet, cfg *presenced.Config) func() error {
	var c presenced.ClusterConfig
	var routes, urls string
	fs.StringVar(&c.NodeName, "node-name", "", "this node's `name` in the cluster: unique, and never changed (required for an embedded cluster node)")
	fs.StringVar(&c.ClusterName, "cluster-name", "", "the NATS cluster's `name`, the same on every node (embedded cluster)")
	fs.StringVar(&c.ClusterListen, "cluster-listen", "", "`host:port` this node's cluster routes listen on (embedded cluster)")
	fs.StringVar(&routes, "routes", "", "every node's route `URLs`, nats://host:port separated by commas, the same list on every node (embedded cluster)")
	fs.StringVar(&c.NATSListen, "nats-listen", "", "`host:port` NATS clients reach this node's embedded server at (embedded cluster; default 127.0.0.1 on a free port)")
	fs.StringVar(&c.ClusterTLS.CA, "cluster-tls-ca", "", "CA `file` that signed the nodes' route certificates (with --cluster-tls-cert and --cluster-tls-key: routes use mutual TLS)")
	fs.StringVar(&c.ClusterTLS.Cert, "cluster-tls-cert", "", "this node's route certificate `file` (PEM)")
	fs.StringVar(&c.ClusterTLS.Key, "cluster-tls-key", "", "this node's route private key `file` (PEM)")
	fs.StringVar(&urls, "nats-url", "", "connect to an external NATS cluster at these `URLs` (nats://a:4222,nats://b:4222) instead of embedding one")
	fs.StringVar(&c.NATSCreds, "nats-creds", "", "NATS credentials `file` for --nats-url")
	fs.StringVar(&c.NATSTLS.CA, "nats-tls-ca", "", "CA `file` to verify the NATS servers of --nats-url with (default the system's)")
	fs.StringVar(&c.NATSTLS.Cert, "nats-tls-cert", "", "client certificate `file` for NATS servers that ask for one")
	fs.StringVar(&c.NATSTLS.Key, "nats-tls-key", "", "its private key `file`")
	fs.IntVar(&cfg.Replicas, "replicas", 0, "replica count of every stream, 1 to 5 (0: the engine's stored one; a new engine 1 alone, 3 in a cluster)")
	fs.IntVar(&cfg.Partitions, "partitions", 0, "presence buckets users are spread over (0: the engine's stored count; a new engine 1 alone, 3 in a cluster)")
	fs.DurationVar(&cfg.BalanceLeaders, "balance-leaders", presenced.DefaultBalanceLeaders, "how often this node looks whether it leads two presence partitions more than another node, and hands one over if two looks agree (embedded cluster; 0: never)")
	return func() error {
		c.Routes, c.NATSURLs = splitList(routes), splitList(urls)
		if cfg.Replicas < 0 || cfg.Partitions < 0 {
			return errors.New("--replicas and --partitions take a positive number, 0 for the stored or default one")
		}
		given := c.ClusterName != "" || c.ClusterListen != "" || len(c.Routes) > 0 || c.NATSListen != "" ||
			c.ClusterTLS != (natsstore.TLSFiles{}) || len(c.NATSURLs) > 0 || c.NATSCreds != "" || c.NATSTLS != (natsstore.TLSFiles{})
		switch {
		case !given && c.NodeName != "":
			return errors.New("--node-name is for cluster mode: give --cluster-name, --cluster-listen and --routes, or --nats-url")
		case given:
			cfg.Cluster = &c
		}
		return nil
	}
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
