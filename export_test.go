package presenced

import (
	"context"
	"net/http"
	"time"
)

// OpenConnections is how many connections the server holds open (-1 when
// they are not limited), for tests that watch a client being dropped.
func (s *Server) OpenConnections() int {
	if l, ok := s.ln.(*limitListener); ok {
		return int(l.open.Load())
	}
	return -1
}

// SlowWarmUp makes the server's cache warm-up wait for gate (a test of
// readiness during a slow warm-up).
func SlowWarmUp(cfg *Config, gate func(context.Context)) { cfg.warmGate = gate }

// Delivers reports whether this node delivers subscription id now (it
// holds the lease of its shard and runs its worker).
func (s *Server) Delivers(id string) bool { return s.subs.Delivers(id) }

// OpenStreams is how many live streams the server serves now (a stream's
// users are released once it no longer counts).
func (s *Server) OpenStreams() int { return s.api.OpenStreams() }

// ShortEngineWait bounds the engine's writes and leader reads by d instead
// of its default (a test of a cluster without quorum).
func ShortEngineWait(cfg *Config, d time.Duration) { cfg.engineWait = d }

// Handler is what the server's listener serves, for benchmarks that run a
// request through the whole chain without a connection.
func (s *Server) Handler() http.Handler { return s.http.Handler }

// SaveCache saves the server's cache to its data directory now, as it does
// periodically and at shutdown.
func (s *Server) SaveCache() { s.saveCache(context.Background()) }

// DelayCacheCheck makes the walk that checks a cache loaded from its saved
// file run d after the start instead of cacheCheckDelay (a test that must
// see the loaded cache alone, without the walk's corrections).
func DelayCacheCheck(cfg *Config, d time.Duration) { cfg.cacheCheck = d }

// SlowEngineStart makes the server wait for gate before it opens the
// engine (a test of what a start does while the engine recovers).
func SlowEngineStart(cfg *Config, gate func(context.Context)) { cfg.engineGate = gate }

// ConnectionsThatFit is connectionsThatFit, for its table.
func ConnectionsThatFit(want int, files uint64) int { return connectionsThatFit(want, files) }
