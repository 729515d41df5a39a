package presenced_test

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
