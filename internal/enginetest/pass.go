package enginetest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// PassVar is the environment variable that selects the engine the API
// suites run on: "cluster" makes each test's server a node of a
// three-node clustered engine.
const PassVar = "PRESENCED_TEST_ENGINE"

// ClusterPass reports whether this test binary is the cluster pass.
func ClusterPass() bool { return os.Getenv(PassVar) == "cluster" }

// RunClusterPass runs the tests that match run again, in a child of this
// test binary with PassVar set to "cluster", and fails t with the child's
// output if any of them fails. It is how the project's one test command
// (`go test ./...`) covers the API suites on a clustered engine as well as
// on a single node: no second command to remember, in CI or by hand. The
// child is bounded by t's deadline (less a margin for the report) and is
// the only process it stops.
func RunClusterPass(t *testing.T, run string) {
	t.Helper()
	if ClusterPass() {
		t.Skip("this is the cluster pass")
	}
	if testing.Short() {
		t.Skip("runs the suites again on a three-node engine")
	}
	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-30*time.Second))
		defer cancel()
	}
	args := []string{"-test.run", run, "-test.count", "1"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), PassVar+"=cluster")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the cluster pass (%s=cluster, -test.run %s) failed: %v\n%s", PassVar, run, err, out)
	}
	if bytes.Contains(out, []byte("no tests to run")) {
		t.Fatalf("the cluster pass ran no test: -test.run %s matches none", run)
	}
	if testing.Verbose() {
		t.Logf("%s", out)
	}
}
