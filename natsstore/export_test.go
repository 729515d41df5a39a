package natsstore

import (
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// LeadsMeta says whether e's embedded server leads JetStream's meta group
// (for tests that must not kill it: its death costs an election).
func LeadsMeta(e *Engine) bool { return e.srv != nil && e.srv.JetStreamIsLeader() }

// ErrWatchStopped is what a stopped watch's Next returns.
var ErrWatchStopped = errWatchStopped

// ProcessCPUTime is the process's user and system CPU time so far.
var ProcessCPUTime = processCPUTime

// WatchOnLeader places every cluster watch's consumers started from now
// on the streams' leaders (as before home.go) when on, at home when off;
// for a benchmark comparing the two.
func WatchOnLeader(on bool) {
	watchPlacement = placeHome
	if on {
		watchPlacement = placeLeader
	}
}

// SetHomeAgain sets how often a follow away from home looks whether it
// can go home (home.go), until restore is called.
func SetHomeAgain(d time.Duration) (restore func()) {
	was := homeAgain
	homeAgain = d
	return func() { homeAgain = was }
}

// SetRoutes sets the route pool size and pinned accounts of the cluster
// nodes started from now on (nats-server's Cluster.PoolSize and
// PinnedAccounts), until restore is called; for a benchmark comparing
// them.
func SetRoutes(pool int, pinned []string) (restore func()) {
	wasPool, wasPinned := routePoolSize, routePinned
	routePoolSize, routePinned = pool, pinned
	return func() { routePoolSize, routePinned = wasPool, wasPinned }
}

// Routes counts e's embedded server's routes by peer and by compression
// mode.
func Routes(e *Engine) (perPeer, compression map[string]int) {
	perPeer, compression = map[string]int{}, map[string]int{}
	rz, err := e.srv.Routez(&server.RoutezOptions{})
	if err != nil {
		return nil, nil
	}
	for _, r := range rz.Routes {
		perPeer[r.RemoteName]++
		compression[r.Compression]++
	}
	return perPeer, compression
}

// AfterLayoutRead sets a function run between Layout's read finding no
// record and its list of the streams, until the test ends.
func AfterLayoutRead(t interface{ Cleanup(func()) }, f func()) {
	afterLayoutRead = f
	t.Cleanup(func() { afterLayoutRead = nil })
}
