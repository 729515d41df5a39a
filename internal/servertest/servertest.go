// Package servertest starts an in-process presenced for the tests of other
// packages: one place for the start and the stop every such test needs.
package servertest

import (
	"context"
	"testing"
	"time"

	"github.com/presenced/presenced"
)

// Start starts a server of cfg (on a loopback port of its own when
// cfg.Addr is empty) and shuts it down when the test ends, waiting at most
// 10 s for it. A start that fails fails the test.
func Start(t testing.TB, cfg presenced.Config) *presenced.Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	srv, err := presenced.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return srv
}
