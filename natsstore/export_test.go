package natsstore

import "time"

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
