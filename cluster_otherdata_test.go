package presenced_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/internal/freeport"
	"github.com/presenced/presenced/natsstore"
)

// A cluster node started on the data directory of another cluster's node
// (an operator's mix-up of volumes) waits for that cluster's peers, which
// its engine remembers; its log says why before the wait begins, naming
// both clusters. Before, it said only "connected to 0 of the other nodes
// named in 3 routes" every 5 s, for ten minutes.
func TestClusterNodeOnAnotherClustersData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := natsstore.WriteManifest(filepath.Join(dir, presenced.ManifestFile), natsstore.Manifest{Cluster: "presenced-blue"}); err != nil {
		t.Fatal(err)
	}
	ports := freeport.Ports(t, 4)
	var routes []string
	for _, p := range ports[:3] {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var buf lockedBuffer
	srv, err := presenced.New(presenced.Config{Addr: "127.0.0.1:0", DataDir: dir, Dev: true,
		Logger: slog.New(slog.NewTextHandler(&buf, nil)),
		Cluster: &presenced.ClusterConfig{NodeName: "node-a", ClusterName: "presenced-green",
			ClusterListen: strings.TrimPrefix(routes[0], "nats://"), Routes: routes, NATSListen: fmt.Sprintf("127.0.0.1:%d", ports[3])}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err == nil {
		_ = srv.Shutdown(context.Background())
		t.Fatal("a node whose peers are all away started")
	}
	logged := buf.String()
	if !strings.Contains(logged, "a node of another cluster") || !strings.Contains(logged, "its_cluster=presenced-blue") || !strings.Contains(logged, "cluster_name=presenced-green") {
		t.Fatalf("the start did not say that its data is another cluster's:\n%s", logged)
	}
}
