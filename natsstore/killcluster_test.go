package natsstore_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/benchenv"
	"github.com/presenced/presenced/natsstore"
)

// killCluster is the fixture of the tests that kill (SIGKILL) the server
// serving a reader's consumer — a follow's (TestClusterFollowOutlivesAKill),
// a watch's (TestClusterWatchOutlivesAKill): three node processes (k0, k1,
// k2) and an engine of the test's own (ext) that reaches k0 only.
type killCluster struct {
	procs []*nodeProc
	start func(i int)
	ext   *natsstore.Engine
	// kills is how many rounds the test makes: the environment variable
	// the test names, 4 by default.
	kills int
}

// newKillCluster starts the nodes and opens the test's engine, named
// name; killsEnv names the variable that sets the number of kills.
func newKillCluster(t *testing.T, ctx context.Context, name, killsEnv string) *killCluster {
	t.Helper()
	k := &killCluster{kills: 4}
	k.kills = benchenv.Int(killsEnv, k.kills, 1)
	var urls []string
	k.procs, k.start, urls = startNodes(t)
	ext, err := natsstore.Open(ctx, natsstore.Options{ServerName: name, External: &natsstore.ExternalOptions{URLs: urls[:1]}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ext.Close() })
	k.ext = ext
	return k
}

// offMeta is the round's victim: k1 or k2, whichever does not lead the
// meta group (its death would cost an election, and every consumer's
// making with it); asked again for 15 s while both do.
func (k *killCluster) offMeta(t *testing.T, round int) int {
	t.Helper()
	for range 30 {
		for i := 1; i < 3; i++ {
			if !leadsMeta(t, k.ext, k.procs[i].name) {
				return i
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("round %d: k1 and k2 both lead the meta group, for 15 s", round)
	return -1
}

// resumedAfter waits, polling, until the reader (what: "follow",
// "watch") delivered what was acknowledged after victim's kill at
// killedAt — resumed reports when it delivered it — and returns how
// long after the kill that was. It fails the test when the reader ends
// (ended) or a minute passes.
func (k *killCluster) resumedAfter(t *testing.T, round, victim int, what string, killedAt time.Time, ended func() error, resumed func() (time.Time, bool)) time.Duration {
	t.Helper()
	for {
		if time.Since(killedAt) > time.Minute {
			t.Fatalf("round %d: the %s delivered nothing acknowledged after %s's kill within a minute", round, what, k.procs[victim].name)
		}
		if err := ended(); err != nil {
			t.Fatalf("round %d: the %s ended: %v", round, what, err)
		}
		time.Sleep(50 * time.Millisecond)
		if at, ok := resumed(); ok {
			took := at.Sub(killedAt)
			t.Logf("round %d: %s (served the %s's consumer) killed; the %s delivered the first one acknowledged after it %v after the kill",
				round, k.procs[victim].name, what, what, took.Round(time.Millisecond))
			if took > followResumed {
				t.Errorf("round %d: the %s went on %v after the kill of its consumer's server; want within %v", round, what, took.Round(time.Millisecond), followResumed)
			}
			return took
		}
	}
}

// restart starts node i again and waits until it has caught up with stream.
func (k *killCluster) restart(t *testing.T, ctx context.Context, i int, stream string) {
	t.Helper()
	k.start(i)
	k.procs[i].waitReady(t)
	waitCaughtUp(t, ctx, k.ext, k.procs[i].name, stream)
}

// summary is the kills' line: took sorted, and then what.
func summary(what string, took []time.Duration) string {
	slices.Sort(took)
	return fmt.Sprintf("%d kills: the %s went on %v … %v after the kill (p50 %v)", len(took), what,
		took[0].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), took[len(took)/2].Round(time.Millisecond))
}

// ended is a reader's end, run in the background: its error once it has
// returned.
type ended chan error

// err is the reader's error if it has ended.
func (d ended) err() error {
	select {
	case err := <-d:
		d <- err
		return fmt.Errorf("it returned %w", err)
	default:
		return nil
	}
}

// waitProgress waits until the reader (what) has delivered one more than
// last said at the call, for 30 s at most; it fails the test if the
// reader ends (ended) meanwhile.
func waitProgress(t *testing.T, ctx context.Context, what string, last func() uint64, ended func() error) {
	t.Helper()
	from := last()
	deadline := time.Now().Add(30 * time.Second)
	for last() <= from+1 {
		if err := ended(); err != nil {
			t.Fatalf("the %s ended: %v", what, err)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("the %s delivered nothing in 30 s (at %d)", what, from)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitReached waits until the reader (what) has delivered the last
// acknowledged position want, for 30 s at most.
func waitReached(t *testing.T, what string, want uint64, last func() uint64) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); last() < want; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the %s did not reach the last acknowledged position %d within 30 s (at %d)", what, want, last())
		}
	}
}
