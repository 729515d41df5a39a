// Package clusterproof_test holds the tests that run presenced as a
// cluster of real processes (internal/nodetest): kill -9, SIGTERM,
// SIGSTOP and rolling restarts under load, docs/cluster.md's script, and
// presenced bench against three nodes. They need no in-process server, and
// in a package of their own they run beside the API suites instead of
// after them (docs/cluster.md#tested-against-a-cluster).
package clusterproof_test

import (
	"os"
	"testing"

	"github.com/presenced/presenced/internal/nodetest"
)

// TestMain removes the binary the process tests built (nodetest.Binary).
func TestMain(m *testing.M) {
	code := m.Run()
	nodetest.Cleanup()
	os.Exit(code)
}
