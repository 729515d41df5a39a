package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/natsstore"
)

func TestClusterFlags(t *testing.T) {
	parse := func(args ...string) (presenced.Config, error) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var cfg presenced.Config
		apply := clusterFlags(fs, &cfg)
		if err := fs.Parse(args); err != nil {
			return cfg, err
		}
		return cfg, apply()
	}
	t.Run("none: a single node, as before", func(t *testing.T) {
		cfg, err := parse()
		if err != nil || cfg.Cluster != nil || cfg.Replicas != 0 || cfg.Partitions != 0 {
			t.Fatalf("%+v, %v", cfg, err)
		}
	})
	t.Run("an embedded cluster node", func(t *testing.T) {
		cfg, err := parse("--node-name", "a", "--cluster-name", "pd", "--cluster-listen", "10.0.0.1:6222",
			"--routes", "nats://10.0.0.1:6222, nats://10.0.0.2:6222,,nats://10.0.0.3:6222", "--nats-listen", "127.0.0.1:4222",
			"--replicas", "3", "--partitions", "6", "--cluster-tls-ca", "ca.pem", "--cluster-tls-cert", "a.pem", "--cluster-tls-key", "a.key")
		c := cfg.Cluster
		if err != nil || c == nil || c.NodeName != "a" || c.ClusterName != "pd" || c.ClusterListen != "10.0.0.1:6222" || c.NATSListen != "127.0.0.1:4222" ||
			!slices.Equal(c.Routes, []string{"nats://10.0.0.1:6222", "nats://10.0.0.2:6222", "nats://10.0.0.3:6222"}) ||
			c.ClusterTLS.CA != "ca.pem" || c.ClusterTLS.Cert != "a.pem" || c.ClusterTLS.Key != "a.key" || cfg.Replicas != 3 || cfg.Partitions != 6 {
			t.Fatalf("%+v %+v, %v", cfg, c, err)
		}
	})
	t.Run("an external NATS", func(t *testing.T) {
		cfg, err := parse("--nats-url", "nats://a:4222,nats://b:4222", "--nats-creds", "u.creds", "--nats-tls-ca", "ca.pem", "--nats-tls-cert", "c.pem", "--nats-tls-key", "c.key")
		c := cfg.Cluster
		if err != nil || c == nil || !slices.Equal(c.NATSURLs, []string{"nats://a:4222", "nats://b:4222"}) || c.NATSCreds != "u.creds" ||
			c.NATSTLS.CA != "ca.pem" || c.NATSTLS.Cert != "c.pem" || c.NATSTLS.Key != "c.key" {
			t.Fatalf("%+v %+v, %v", cfg, c, err)
		}
	})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--node-name", "a"}, "--node-name is for cluster mode"},
		{[]string{"--replicas", "-1"}, "positive"},
	} {
		if _, err := parse(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v; want %q", tc.args, err, tc.want)
		}
	}
}

// A cluster node's data directory is not checked alone: its copy may be
// behind the cluster's and catches up from its peers.
func TestCheckLeavesAClusterNodeAlone(t *testing.T) {
	data := t.TempDir()
	if err := os.MkdirAll(filepath.Join(data, "engine"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := natsstore.WriteManifest(filepath.Join(data, presenced.ManifestFile), natsstore.Manifest{Cluster: "pd", Streams: map[string]natsstore.Recorded{}}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run([]string{"check", "--data", data}, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `a node of cluster "pd"`) || strings.Contains(out.String(), "DAMAGE") {
		t.Fatalf("check of a cluster node: %v\n%s", err, out.String())
	}
}
