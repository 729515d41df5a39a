package natsstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/store"
)

// progressEvery is how often a start that waits for the cluster says so.
var progressEvery = 5 * time.Second

// waitForJetStream waits until JetStream answers: in a cluster, until its
// meta group has a leader (account info is answered only then), which
// needs a majority of the nodes. It logs what it waits for every
// progressEvery, and gives up when ctx ends.
func (e *Engine) waitForJetStream(ctx context.Context) error {
	err := e.retry(ctx, "the JetStream cluster to elect a meta leader", func(ctx context.Context) error {
		_, err := e.js.AccountInfo(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("natsstore: open: %w", err)
	}
	return nil
}

// singleNodePatience is how long a single node's engine may go without
// answering before an open or a watch gives up: a node that answers
// nothing for a minute is stuck, not slow.
var singleNodePatience = time.Minute

// clusterPatience is how long one wait of a cluster node for its cluster
// (a meta leader, a stream's leader, peers to place a replicated stream
// on, an answer) may last before it gives up, whatever the caller's
// context: a start whose peers do not come within it fails, saying what
// it waited for, and the node's service manager starts it again; a
// follower's watch tries again (dirstore, core). Ten minutes is many
// elections and a slow machine's catch-up; a start that had no bound of
// its own hung for 20 minutes on a loaded machine (a watch begun under a
// context that never ended).
var clusterPatience = 10 * time.Minute

// retry calls fn until it succeeds, fails for good, ctx ends, or its own
// bound passes (singleNodePatience, clusterPatience): every wait is
// bounded twice, by its caller and by itself, so that no start hangs
// whatever context it was given. Each attempt has a bound of its own too
// (a second at first, doubling up to publishTimeout). In a cluster,
// errors that mean "not yet" (no meta or stream leader, too few nodes to
// place a replicated stream, no answer, no connection) are retried, with
// a log line every progressEvery saying what it waits for. On a single
// node, an attempt that got no answer within its own bound (the engine is
// slow: a loaded machine, a long compaction) is tried again; any other
// error is returned at once. (Before, a single node's open gave up after
// the first attempt's second, and a server under load failed to start:
// the board's browser tests on a loaded machine saw "open bucket "oauth":
// context deadline exceeded".) An error that ends the wait names what it
// waited for.
func (e *Engine) retry(ctx context.Context, what string, fn func(context.Context) error) error {
	r := clock.Real{}
	start, logged := r.Now(), r.Now()
	patience := singleNodePatience
	if e.opts.clustered() {
		patience = clusterPatience
	}
	backoff := 50 * time.Millisecond
	// An attempt that gets no answer (a leader just elected, or none yet,
	// does not answer) is given up after a second at first: the wait is
	// then not counted in whole long timeouts; up to publishTimeout for a
	// slow engine. It never outlasts the wait's own bound.
	attempt := time.Second
	for {
		if err := e.duplicateName(); err != nil {
			return err
		}
		actx, cancel := context.WithTimeout(ctx, min(attempt, max(patience-clock.Since(r, start), time.Millisecond)))
		err := fn(actx)
		cancel()
		attempt = min(2*attempt, publishTimeout)
		if err == nil {
			if clock.Since(r, start) >= progressEvery {
				e.log.Info("the JetStream cluster answers", "waited_for", what, "took", clock.Since(r, start).Round(time.Millisecond))
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for %s (%s): %w: %w", what, e.progress(), context.Cause(ctx), err)
		}
		again := notYet(err)
		if !e.opts.clustered() {
			again = noAnswer(ctx, err)
		}
		if !again {
			return err
		}
		if waited := clock.Since(r, start); waited >= patience {
			if !e.opts.clustered() {
				return fmt.Errorf("no answer from the engine for %v, waiting for %s: %w", waited.Round(time.Second), what, err)
			}
			return fmt.Errorf("gave up after %v waiting for %s (%s): %w", waited.Round(time.Second), what, e.progress(), err)
		}
		if clock.Since(r, logged) >= progressEvery {
			logged = r.Now()
			if e.opts.clustered() {
				e.log.Info("waiting for the JetStream cluster", "for", what, "waited", clock.Since(r, start).Round(time.Second), "cluster", e.progress(), "last_error", err)
			} else {
				e.log.Warn("the engine is slow to answer", "for", what, "waited", clock.Since(r, start).Round(time.Second), "last_error", err)
			}
		}
		clock.Sleep(ctx, backoff)
		backoff = min(2*backoff, time.Second)
	}
}

// noAnswer reports whether err is an attempt's own bound running out
// while ctx, the caller's, has not: no answer yet, rather than a refusal.
func noAnswer(ctx context.Context, err error) bool {
	return ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout))
}

// notYet reports whether err means the cluster cannot answer yet but
// will: no meta or stream leader, too few nodes to place a replicated
// stream, no answer, no connection.
func notYet(err error) bool {
	if errors.Is(err, store.ErrUnavailable) {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case 10005, // no suitable peers for placement: too few nodes up yet
			10008, // JetStream system temporarily unavailable: no leader
			10009, // cluster can not handle request
			10118, // stream is offline
			10194: // stream is offline: reason
			return true
		}
		return false
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrDisconnected)
}

// progress says how far the cluster got, for the log of a waiting start.
func (e *Engine) progress() string {
	switch {
	case e.srv != nil && e.opts.Cluster != nil:
		rz, err := e.srv.Routez(&server.RoutezOptions{})
		if err != nil {
			return "routes unknown"
		}
		peers := map[string]bool{}
		for _, r := range rz.Routes {
			peers[r.RemoteName+r.RemoteID] = true
		}
		return fmt.Sprintf("connected to %d of the other nodes named in %d routes", len(peers), len(e.opts.Cluster.Routes))
	case e.nc != nil:
		if e.nc.IsConnected() {
			return "connected to " + e.nc.ConnectedUrlRedacted()
		}
		return "not connected: " + e.nc.Status().String()
	}
	return ""
}

// Ready reports whether the engine can serve: connected, and JetStream
// answering within readyWait (in a cluster, its meta group has a leader,
// so a majority of the nodes are up). It is one request, for a readiness
// check; a stream between leaders still fails writes for a few seconds
// meanwhile.
func (e *Engine) Ready(ctx context.Context) error {
	if !e.nc.IsConnected() {
		return fmt.Errorf("natsstore: not ready: %w: %s", store.ErrUnavailable, e.progress())
	}
	ctx, cancel := context.WithTimeout(ctx, readyWait)
	defer cancel()
	if _, err := e.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("natsstore: not ready: %w: %w", store.ErrUnavailable, err)
	}
	return nil
}

// readyWait bounds Ready's request.
const readyWait = 2 * time.Second

// unavailable marks err as store.ErrUnavailable when it means the engine
// did not answer in time or could not take the request.
func unavailable(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	if notYet(err) || errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, errStopped) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// leaders follows JetStream's leader-elected advisories so that a write
// waiting on a stream whose leader changed is sent again at once instead
// of waiting out its timeout: a leader that steps down or dies drops the
// writes it had not proposed yet without an answer.
type leaders struct {
	sub  *nats.Subscription
	mu   sync.Mutex
	gens map[string]*leaderGen
}

// leaderGen ends when its stream's next leader is elected.
type leaderGen struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// leaderElectedPrefix starts the subject of JetStream's advisory that a
// stream has a new leader; the stream's name follows.
const leaderElectedPrefix = "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED."

func followLeaders(nc *nats.Conn) (*leaders, error) {
	l := &leaders{gens: map[string]*leaderGen{}}
	sub, err := nc.Subscribe(leaderElectedPrefix+"*", func(m *nats.Msg) {
		l.elected(strings.TrimPrefix(m.Subject, leaderElectedPrefix))
	})
	if err != nil {
		return nil, fmt.Errorf("follow stream leaders: %w", err)
	}
	l.sub = sub
	return l, nil
}

// next is a context that ends when stream's next leader is elected (never
// on a single node, where l is nil).
func (l *leaders) next(stream string) context.Context {
	if l == nil {
		return context.Background()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	g, ok := l.gens[stream]
	if !ok {
		ctx, cancel := context.WithCancel(context.Background())
		g = &leaderGen{ctx: ctx, cancel: cancel}
		l.gens[stream] = g
	}
	return g.ctx
}

func (l *leaders) elected(stream string) {
	l.mu.Lock()
	g, ok := l.gens[stream]
	delete(l.gens, stream)
	l.mu.Unlock()
	if ok {
		g.cancel()
	}
}

func (l *leaders) stop() {
	_ = l.sub.Unsubscribe()
	l.mu.Lock()
	defer l.mu.Unlock()
	for s, g := range l.gens {
		g.cancel()
		delete(l.gens, s)
	}
}

// handOver steps down from every stream this node leads and waits, at
// most until ctx ends, until each has another leader (its leader-elected
// advisory): nats-server's own shutdown steps its leaders down too, but
// goes on at once, and the writes the old leader had queued are dropped
// without an answer; handed over first, they find the new leader (the
// advisory makes their writers send them again). It returns how many
// streams it handed over.
func (e *Engine) handOver(ctx context.Context) int {
	if e.srv == nil || e.opts.Cluster == nil {
		return 0
	}
	e.mu.Lock()
	streams := slices.Collect(maps.Keys(e.streams))
	e.mu.Unlock()
	var led []string
	var elected []context.Context
	for _, name := range streams {
		if !e.srv.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, name) {
			continue
		}
		next := e.leaders.next(name)
		if err := e.srv.JetStreamStepdownStream(server.DEFAULT_GLOBAL_ACCOUNT, name); err != nil {
			e.log.Warn("graceful stop: stepping down", "stream", name, "err", err)
			continue
		}
		led, elected = append(led, name), append(elected, next)
	}
	for i, next := range elected {
		select {
		case <-next.Done():
		case <-ctx.Done():
			e.log.Warn("graceful stop: a stream has no new leader yet; stopping anyway", "stream", led[i])
		}
	}
	return len(led)
}
