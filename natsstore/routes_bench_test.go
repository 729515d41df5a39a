package natsstore_test

import (
	"testing"

	"github.com/presenced/presenced/natsstore"
)

// BenchmarkClusterRoutes is BenchmarkClusterWatchedWrites' cluster
// (watches at home) under each setting of nats-server's routes tried in
// docs/performance.md ("The embedded engine's own settings"): its default
// pool of three routes a peer plus the system account's pinned one, a
// pool of one, no pool (one route a peer for every account), and the
// global account pinned to a route of its own. The sub-benchmarks run
// one after the other in one process: run it with -count and compare
// them alternated. Run:
//
//	go test -run '^$' -bench ClusterRoutes -benchtime 30000x -count 4 ./natsstore/
func BenchmarkClusterRoutes(b *testing.B) {
	for _, r := range []struct {
		name   string
		pool   int
		pinned []string
	}{
		{"default", 0, nil},
		{"nopool", -1, nil},
		{"pool=1", 1, nil},
		{"pinned", 0, []string{"$G"}},
	} {
		b.Run(r.name, func(b *testing.B) {
			defer natsstore.SetRoutes(r.pool, r.pinned)()
			watchedWrites(b)
		})
	}
}
