package store

import (
	"context"
	"errors"
	"time"

	"github.com/presenced/presenced/clock"
)

// Lease is the right of one holder at a time to do one thing in a
// cluster (deliver one webhook subscription). It lasts until its holder
// releases it, or stops renewing it and its TTL lapses.
type Lease struct {
	Name   string
	Holder string
	// Revision is the engine revision of the holder's last write of the
	// lease; Renew and Release act only if it is still the current one.
	Revision uint64
	// Expires is when the holder must have stopped acting unless it
	// renewed: the instant it sent its last write, plus the TTL, by its
	// own clock. The engine cannot give the lease to another before.
	Expires time.Time
}

// ErrLeaseLost: the lease lapsed or another holder has it now.
var ErrLeaseLost = errors.New("store: lease lost")

// Leases keeps leases in the engine, for one holder.
type Leases interface {
	// Acquire takes the lease name if nobody holds it (it was never
	// taken, was released, or lapsed). If another holder has it, the
	// error wraps ErrConflict.
	Acquire(ctx context.Context, name string) (Lease, error)
	// Renew extends l by the TTL if it is still the holder's, or returns
	// ErrLeaseLost.
	Renew(ctx context.Context, l Lease) (Lease, error)
	// Release gives l up if it is still the holder's (nil if it was lost
	// already).
	Release(ctx context.Context, l Lease) error
	// Holder returns the lease name as it is held now, by any holder
	// (Expires is left zero: only the holder knows it), or ErrNotFound
	// if nobody holds it.
	Holder(ctx context.Context, name string) (Lease, error)
	// TTL is how long a lease lasts without a renewal.
	TTL() time.Duration
	// Watch follows the leases under prefix (their names): a Change with
	// Deleted is a lease released or lapsed.
	Watch(ctx context.Context, prefix string) (Watcher, error)
	// Leads reports whether this holder's own engine server leads the
	// leases (every holder's renewals go through it: its death stops
	// every holder until the engine elects another leader). False where
	// the engine runs elsewhere.
	Leads(ctx context.Context) bool
}

// Hold runs work while this holder holds the lease name, until ctx ends.
// It takes the lease whenever it is free, renews it every third of its
// TTL, and runs work with a context that ends as soon as the lease may
// be lost: a renewal refused, or a fifth of the TTL before Expires without
// one (the engine unreachable; see stopShare). Once work has returned it
// tries again. A lease another
// holder has is tried again when a watch sees it released or lapsed, and
// at least once a TTL. Hold returns ctx's error when ctx ends, after
// work returned and the lease was released; or nil when work returns by
// itself while the lease is held (released too).
//
// Lapses are timed by the engine (a holder that dies stops renewing and
// its lease lapses a TTL after its last write); clk measures only how
// long this holder may act, so it must run at the wall clock's pace (never
// a dev clock that jumps).
func Hold(ctx context.Context, ls Leases, name string, clk clock.Clock, work func(context.Context)) error {
	freed := make(chan struct{}, 1)
	if w, err := ls.Watch(ctx, name); err == nil {
		// Started before the first Acquire, so that a lapse right after a
		// refusal is seen. Without it (it failed) Hold tries every TTL.
		defer w.Stop()
		go func() {
			for {
				c, err := w.Next(ctx)
				if err != nil {
					return
				}
				if c.Key == name && c.Deleted {
					select {
					case freed <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	for {
		l, err := ls.Acquire(ctx, name)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			wait := ls.TTL()
			if !errors.Is(err, ErrConflict) {
				wait = min(wait, time.Second) // the engine, not a holder: sooner
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
			case <-freed:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		if done, err := holding(ctx, ls, l, clk, work); done {
			return err
		}
	}
}

// stopShare: work's context ends TTL/stopShare before the lease's Expires
// when no renewal got through, so that work has that long to stop before
// the engine can give the lease to another holder. Ended at Expires itself,
// the next holder, which takes the lease as soon as the engine lets it lapse
// (its watch sees the lapse), started its work within a few milliseconds of
// this one being told to stop, and in 1 run of 7–10 before this one's work
// had seen it (TestClusterLeaseMovesWhenItsHolderStops, -race).
const stopShare = 5

// holding runs work while l is held. done reports that Hold is over
// (ctx ended, or work returned by itself), with Hold's error.
func holding(ctx context.Context, ls Leases, l Lease, clk clock.Clock, work func(context.Context)) (done bool, err error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopBefore := ls.TTL() / stopShare
	expiry := time.AfterFunc(l.Expires.Sub(clk.Now())-stopBefore, cancel)
	defer expiry.Stop()
	finished := make(chan struct{})
	go func() { defer close(finished); work(wctx) }()
	release := func() {
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer rcancel()
		_ = ls.Release(rctx, l)
	}
	every := ls.TTL() / 3
	renew := time.NewTimer(every)
	defer renew.Stop()
	for {
		select {
		case <-finished:
			if wctx.Err() != nil && ctx.Err() == nil {
				return false, nil // lost (its expiry passed): try again
			}
			release()
			if err := ctx.Err(); err != nil {
				return true, err
			}
			return true, nil
		case <-renew.C:
			nl, err := ls.Renew(ctx, l)
			switch {
			case err == nil:
				l = nl
				expiry.Reset(l.Expires.Sub(clk.Now()) - stopBefore)
				renew.Reset(every)
			case errors.Is(err, ErrLeaseLost):
				cancel()
				<-finished
				return ctx.Err() != nil, ctx.Err()
			default:
				// The engine did not answer: try again soon; the expiry
				// ends work if no renewal gets through in time.
				renew.Reset(min(every, time.Second))
			}
		}
	}
}
