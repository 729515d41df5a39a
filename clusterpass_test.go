package presenced_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/enginetest"
)

// clusterPassFiles hold the API suites that run a second time with each
// test's server a node of a three-node clustered engine: every test of
// these files, so that a test added to them is in.
var clusterPassFiles = []string{"api_test.go", "badinput_test.go", "batch_test.go",
	"odata_test.go", "notify_test.go", "stream_test.go"}

// The API suites against a clustered engine (docs/cluster.md#tested-against-a-cluster):
// the same tests, each server the third node of a cluster of three, 3
// replicas and 3 partitions.
func TestClusterPass(t *testing.T) {
	var names []string
	fset := token.NewFileSet()
	for _, name := range clusterPassFiles {
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Test") {
				names = append(names, fn.Name.Name)
			}
		}
	}
	t.Parallel()
	enginetest.RunClusterPass(t, "^("+strings.Join(names, "|")+")$")
}
