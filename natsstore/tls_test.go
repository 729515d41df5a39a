package natsstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/freeport"
	"github.com/presenced/presenced/internal/testcert"
	"github.com/presenced/presenced/natsstore"
)

// routeTLS makes a CA and a certificate it signs for loopback, written in
// a directory of their own.
func routeTLS(t *testing.T) natsstore.TLSFiles {
	t.Helper()
	dir := t.TempDir()
	ca := testcert.NewCA(t, time.Now())
	cert, key := testcert.Write(t, dir, ca.Issue(t, time.Now(), 2))
	return natsstore.TLSFiles{CA: ca.Write(t, dir), Cert: cert, Key: key}
}

// Routes with mutual TLS: the nodes form the cluster and replicate; a
// server whose certificate another CA signed cannot join.
func TestClusterRoutesWithTLS(t *testing.T) {
	files := routeTLS(t)
	c := startCluster(t, natsstore.Options{Partitions: 1, Cluster: &natsstore.ClusterOptions{TLS: &files}})
	ctx := clusterCtx(t)
	rev, err := partitioned(t, c.Node(0)).Put(ctx, "u.t.u", []byte("over TLS"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := partitioned(t, c.Node(2)).Get(ctx, "u.t.u"); err != nil || got.Revision != rev {
		t.Fatalf("node 2 reads %+v, %v", got, err)
	}

	rogue := routeTLS(t) // another CA
	var routes []string
	for i := range 3 {
		routes = append(routes, c.Options(i).Cluster.Routes[i])
	}
	port := freeport.Ports(t, 1)[0]
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	e, err := natsstore.Open(rctx, natsstore.Options{Dir: t.TempDir(), ServerName: "rogue", Logger: c.Options(0).Logger,
		Cluster: &natsstore.ClusterOptions{Name: "presenced-test", Listen: fmt.Sprintf("127.0.0.1:%d", port), Routes: routes, TLS: &rogue}})
	if err == nil {
		e.Close()
		t.Fatal("a node with another CA's certificate joined the cluster")
	}
	info, err := streamOf(ctx, t, c.Node(0), "KV_presence")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range info.CachedInfo().Cluster.Replicas {
		if r.Name == "rogue" {
			t.Fatal("the rogue server is a replica")
		}
	}
}
