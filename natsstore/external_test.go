package natsstore_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/internal/freeport"
	"github.com/presenced/presenced/natsstore"
)

// External mode against a real NATS cluster: the embedded cluster's
// client URLs. What one writes the other reads, and a watch through the
// external connection follows the cluster's writes.
func externalMode(t *testing.T, c *enginetest.Cluster) {
	ctx := clusterCtx(t)
	ext, err := natsstore.Open(ctx, natsstore.Options{ServerName: "ext", External: &natsstore.ExternalOptions{URLs: c.ClientURLs()}})
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Close()
	if err := ext.Ready(ctx); err != nil {
		t.Fatalf("ready: %v", err)
	}
	kv := partitioned(t, ext)
	l, err := ext.Layout(ctx)
	if err != nil || l.Partitions != 3 || l.Replicas != 3 {
		t.Fatalf("external layout %+v, %v; want the cluster's (3, 3)", l, err)
	}
	w, err := kv.Watch(ctx, "u.")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	rev, err := kv.Put(ctx, userKey(5, 1), []byte("through the external connection"), 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := partitioned(t, c.Node(1)).Get(ctx, userKey(5, 1))
	if err != nil || got.Revision != rev {
		t.Fatalf("node 1 reads %+v, %v", got, err)
	}
	// Each revision is awaited before the next is written: the bucket
	// keeps one revision per key, so a second write before the watch has
	// delivered the first replaces it (and the watch then rightly marks
	// the second Skipped, seen once in CI).
	next := func(want uint64) {
		t.Helper()
		nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ch, err := w.Next(nctx)
		cancel()
		if err != nil || ch.Revision != want || ch.Skipped {
			t.Fatalf("watch: %+v, %v; want revision %d, not skipped", ch, err, want)
		}
	}
	next(rev)
	rev2, err := partitioned(t, c.Node(2)).Put(ctx, userKey(5, 1), []byte("through node 2"), rev)
	if err != nil {
		t.Fatal(err)
	}
	next(rev2)
	// Nothing is embedded: no local engine files, no client URL.
	if ext.ClientURL() != "" {
		t.Fatalf("external engine has a client URL %q", ext.ClientURL())
	}
	if _, _, ok := ext.Volume(); ok {
		t.Fatal("external engine reports a local volume")
	}
}

// A start that cannot reach the cluster waits, bounded by its context,
// and says what it waited for.
func TestExternalStartWaitsBounded(t *testing.T) {
	port := freeport.Ports(t, 1)[0] // nothing listens there
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := natsstore.Open(ctx, natsstore.Options{External: &natsstore.ExternalOptions{URLs: []string{"nats://127.0.0.1:" + strconv.Itoa(port)}}})
	if err == nil || !strings.Contains(err.Error(), "waiting for the JetStream cluster") || !strings.Contains(err.Error(), "not connected") {
		t.Fatalf("open without a server: %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("open without a server took %v", took)
	}
}

func TestOptionsAreChecked(t *testing.T) {
	ctx := context.Background()
	cl := func(c natsstore.ClusterOptions) *natsstore.ClusterOptions { return &c }
	good := natsstore.ClusterOptions{Name: "c", Listen: "127.0.0.1:6222", Routes: []string{"nats://127.0.0.1:6222"}}
	for _, tc := range []struct {
		name string
		o    natsstore.Options
		want string
	}{
		{"a cluster node needs a name", natsstore.Options{Cluster: cl(good)}, "needs a name"},
		{"and the cluster's name", natsstore.Options{ServerName: "a", Cluster: cl(natsstore.ClusterOptions{Listen: "127.0.0.1:1", Routes: []string{"a:1"}})}, "cluster's name"},
		{"and routes", natsstore.Options{ServerName: "a", Cluster: cl(natsstore.ClusterOptions{Name: "c", Listen: "127.0.0.1:1"})}, "routes"},
		{"a listen address is host:port", natsstore.Options{ServerName: "a", Cluster: cl(natsstore.ClusterOptions{Name: "c", Listen: "6222", Routes: []string{"a:1"}})}, "cluster listen address"},
		{"a route names a port", natsstore.Options{ServerName: "a", Cluster: cl(natsstore.ClusterOptions{Name: "c", Listen: ":1", Routes: []string{"nats://host"}})}, "route"},
		{"cluster TLS needs all three files", natsstore.Options{ServerName: "a", Cluster: cl(natsstore.ClusterOptions{Name: "c", Listen: ":1", Routes: []string{"a:1"}, TLS: &natsstore.TLSFiles{Cert: "c"}})}, "cluster TLS"},
		{"embedded or external, not both", natsstore.Options{ServerName: "a", Cluster: cl(good), External: &natsstore.ExternalOptions{URLs: []string{"nats://x:4222"}}}, "not both"},
		{"external needs a URL", natsstore.Options{External: &natsstore.ExternalOptions{}}, "server URL"},
		{"a client certificate needs its key", natsstore.Options{External: &natsstore.ExternalOptions{URLs: []string{"nats://x:4222"}, TLS: natsstore.TLSFiles{Cert: "c.pem"}}}, "both its certificate and its key"},
		{"replicas 1 to 5", natsstore.Options{External: &natsstore.ExternalOptions{URLs: []string{"nats://x:4222"}}, Replicas: 7}, "1 to 5"},
		{"partitions bounded", natsstore.Options{Dir: "x", Partitions: 1000}, "partitions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.o.External == nil {
				tc.o.Dir = t.TempDir()
			}
			_, err := natsstore.Open(ctx, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v; want an error saying %q", err, tc.want)
			}
		})
	}
}
