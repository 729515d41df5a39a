package natsstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/store"
)

// What nats-server 2.15 does on a full disk, read in its source and seen on
// a small tmpfs: a stream whose write(2) fails with ENOSPC keeps the error
// for good (fileStore.werr and stream.werr are never cleared while the
// stream runs), answers no publish any more (processJetStreamMsg returns
// the error without a reply), so every write waits out its 5 s timeout,
// also after space was freed, until the stream is loaded again. Its own
// limit (max_file_store) is a number fixed at start, 75 % of what was free
// then, which stream reservations (a log's MaxBytes) must fit in: a start
// on a small or full volume fails with "insufficient storage resources".
//
// So the engine sizes max_file_store to the volume (Options.MaxStore), and
// the guard here keeps writes off a full disk: it watches the volume's
// free space and refuses writes at once (store.ErrFull) while less than
// Options.MinFree is free; it reads the engine's log for the write error,
// so that the write that hit the wall and those in flight with it fail at
// once too, instead of after 5 s; and once there is room again it reloads
// the streams (a JetStream restart in the same server: the connection and
// every handle stay valid) so writes succeed again without a restart of
// the process.

// spacePoll is how often the guard looks at the volume's free space.
var spacePoll = 500 * time.Millisecond

// reloadAfter is the least time between two reloads of a stuck engine;
// each reload that does not last doubles it, up to reloadAfterMax (a disk
// full in a way its free space does not show, such as a quota, would
// otherwise reload the streams every few seconds).
var (
	reloadAfter    = 5 * time.Second
	reloadAfterMax = 5 * time.Minute
)

// volumeOf is volume, replaced by tests that make the engine meet a full
// disk the free space does not show.
var volumeOf = volume

// inodesOf is inodes (a variable like volumeOf).
var inodesOf = inodes

// minFreeInodes is how many files the guard keeps makeable on the volume:
// the engine makes one per new block and index, a save a temporary file.
// A volume out of inodes with bytes to spare is as full as one out of
// bytes — the engine's next block fails with ENOSPC, and a reload of its
// streams then fails too ("storage directory is not writable"), leaving
// the engine off, reads of users not cached included — so it is refused
// likewise, and reloaded only once files can be made again.
const minFreeInodes = 64

// defaultMinFree is the free space writes leave on a volume of total
// bytes: 1 %, between 1 MiB and 256 MiB. It is room for what the engine
// writes besides messages (index files, the manifest, a new block) and for
// the rest of the machine.
func defaultMinFree(total uint64) uint64 {
	return min(max(total/100, 1<<20), 256<<20)
}

// newEngineRoom is what a new engine writes before its first message: each
// stream's metadata and first block, with room to spare.
const newEngineRoom = 1 << 20

// roomToStart refuses to create a new engine on a volume without room for
// it and the free space writes leave; an engine that has streams starts
// on a full volume (reads are served, writes refused until space returns).
func roomToStart(storeDir string, free, minFree uint64) error {
	if minFree == 0 {
		return nil
	}
	streams, _ := os.ReadDir(filepath.Join(storeDir, "jetstream", "$G", "streams"))
	if need := minFree + newEngineRoom; len(streams) == 0 && free < need {
		return &NoRoomError{Dir: storeDir, Free: free, Need: need, MinFree: minFree}
	}
	return nil
}

// NoRoomError is Open's error on a volume without room for a new engine.
type NoRoomError struct {
	Dir                 string
	Free, Need, MinFree uint64
}

func (e *NoRoomError) Error() string {
	return fmt.Sprintf("natsstore: open: %s has %s free; a new engine needs at least %s: %s kept free so that writes never fill the disk (Options.MinFree, 1%% of the volume by default), and %s for its streams' files",
		e.Dir, mib(e.Free), mib(e.Need), mib(e.MinFree), mib(newEngineRoom))
}

// mib formats a byte count for people.
func mib(n uint64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// guard keeps writes off a full disk (see above).
type guard struct {
	e       *Engine
	dir     string
	minFree uint64

	free atomic.Uint64
	// inodes is the files free on the volume, when it counts them
	// (inodesCounted); fewer than minFreeInodes is full too.
	inodes        atomic.Uint64
	inodesCounted atomic.Bool
	full          atomic.Bool                // free < minFree, or the engine said ENOSPC since the last poll
	stuck         atomic.Pointer[stuckError] // a stream stopped writing; cleared by a reload

	// Writes wait for the engine's answer on the context of the current
	// generation, made every spacePoll and cancelled publishTimeout later
	// (or at once when the engine fails a write): one context and timer
	// per generation rather than per write.
	mu   sync.Mutex
	gens []*waitGen
	cur  atomic.Pointer[waitGen]
	// ended is signalled whenever generations were ended (the raw
	// connection's waiters check theirs then: rawConn.watch).
	ended chan struct{}

	stop chan struct{}
	done chan struct{}
}

type waitGen struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	ticks  int // polls since it was made
}

// stuckError is the write error that stopped a stream.
type stuckError struct {
	msg     string
	noSpace bool
	told    bool // a cluster node's operator was told to restart it
}

func newGuard(e *Engine, dir string, minFree uint64) *guard {
	g := &guard{e: e, dir: dir, minFree: minFree, stop: make(chan struct{}), done: make(chan struct{}), ended: make(chan struct{}, 1)}
	g.rotate()
	g.poll()
	return g
}

// run polls the volume and rotates the wait generations until close.
func (g *guard) run() {
	defer close(g.done)
	t := time.NewTicker(spacePoll)
	defer t.Stop()
	wait := reloadAfter
	since := wait // since the last reload
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		g.rotate()
		g.poll()
		since += spacePoll
		s := g.stuck.Load()
		switch {
		case s == nil && since >= reloadAfterMax:
			wait = reloadAfter // the last reload lasted
		case s != nil && g.e.opts.clustered():
			// nats-server stopped this node's JetStream (its peers carry
			// on). Starting it again in the running server races with
			// the routes' API traffic in nats-server 2.15 (its
			// EnableJetStream rewrites what the route readers use), so a
			// cluster node is restarted instead, by its operator.
			if g.stuck.CompareAndSwap(s, &stuckError{msg: s.msg, noSpace: s.noSpace, told: true}) && !s.told {
				g.e.log.Error("this node's engine stopped writing; its peers carry on without it, and requests through this node are served by them. Free space on its volume, then restart this node: it catches up from its peers",
					"dir", g.dir, "err", s.msg)
			}
		case s != nil && (!s.noSpace || !g.full.Load()) && since >= wait:
			if since < reloadAfterMax {
				wait = min(2*wait, reloadAfterMax)
			}
			since = 0
			g.reload(s)
		}
	}
}

func (g *guard) close() {
	close(g.stop)
	<-g.done
	g.mu.Lock()
	for _, w := range g.gens {
		w.cancel(context.Canceled)
	}
	g.gens = nil
	g.mu.Unlock()
	g.signalEnded()
}

// signalEnded tells the raw connection's watch that generations ended.
func (g *guard) signalEnded() {
	select {
	case g.ended <- struct{}{}:
	default: // signalled already, not yet taken
	}
}

// poll reads the volume's free space.
func (g *guard) poll() {
	if g.minFree == 0 {
		return
	}
	_, free, err := volumeOf(g.dir)
	if err != nil {
		return // the last reading stays
	}
	g.free.Store(free)
	files, counted := inodesOf(g.dir)
	g.inodes.Store(files)
	g.inodesCounted.Store(counted)
	noFiles := counted && files < minFreeInodes
	switch full := g.full.Load(); {
	case !full && (free < g.minFree || noFiles):
		g.full.Store(true)
		if noFiles && !g.e.opts.clustered() {
			g.e.log.Error("the data volume has no free inodes: no file can be made on it, and writes are refused until files are removed (its bytes are not the problem)", "dir", g.dir, "free_inodes", files, "kept_free", minFreeInodes)
			break
		}
		if g.e.opts.clustered() {
			// A quorum stores each write, not this disk: nothing is
			// refused here. When the engine meets the full disk,
			// nats-server stops this node's JetStream (its peers carry
			// on), and run says to restart the node.
			g.e.log.Error("the data volume is full: this node's engine stops when it cannot write, and its peers carry on; free space on it", "dir", g.dir, "free", free, "kept_free", g.minFree)
		} else {
			g.e.log.Error("the data volume is full: writes are refused until space is freed", "dir", g.dir, "free", free, "kept_free", g.minFree)
		}
	case full && free >= g.minFree+g.minFree/4 && !(counted && files < 2*minFreeInodes):
		// A quarter of the reserve above it before writes resume, so that a
		// volume at the edge does not flip at every poll.
		g.full.Store(false)
		if g.stuck.Load() == nil {
			g.e.log.Info("the data volume has room again: writes resume", "dir", g.dir, "free", free)
		}
	}
}

// rotate makes a new wait generation and ends those publishTimeout old.
func (g *guard) rotate() {
	ctx, cancel := context.WithCancelCause(context.Background())
	w := &waitGen{ctx: ctx, cancel: cancel}
	g.mu.Lock()
	defer g.mu.Unlock()
	live := g.gens[:0]
	for _, o := range g.gens {
		if o.ticks++; time.Duration(o.ticks)*spacePoll >= publishTimeout {
			o.cancel(nats.ErrTimeout)
			continue
		}
		live = append(live, o)
	}
	ended := len(live) < len(g.gens)
	g.gens = append(live, w)
	g.cur.Store(w)
	if ended {
		g.signalEnded()
	}
}

// waitCtx is the context a write waits for the engine's answer on.
func (g *guard) waitCtx() context.Context { return g.cur.Load().ctx }

// check fails a write before it is sent when the engine cannot take it.
func (g *guard) check() error {
	if s := g.stuck.Load(); s != nil {
		if s.noSpace {
			return g.fullError()
		}
		return fmt.Errorf("%w (%s); writes resume once it is reloaded", errStopped, s.msg)
	}
	if g.full.Load() {
		return g.fullError()
	}
	return nil
}

func (g *guard) fullError() error {
	if g.inodesCounted.Load() && g.inodes.Load() < minFreeInodes {
		return fmt.Errorf("natsstore: %w: %d inodes free on the volume of %s, where %d are kept free", store.ErrFull, g.inodes.Load(), g.dir, minFreeInodes)
	}
	return fmt.Errorf("natsstore: %w: %d bytes free on the volume of %s, where %d are kept free", store.ErrFull, g.free.Load(), g.dir, g.minFree)
}

// waitError is the error of a write whose wait ended on its generation.
// The write had been sent: the engine's failure of another write (the one
// that met the full disk) ends every wait in flight, and any of those may
// have been stored — the error says so (store.ErrMaybeStored) rather than
// that nothing was written.
func (g *guard) waitError(ctx context.Context) error {
	if err := context.Cause(ctx); err != nil && err != nats.ErrTimeout {
		if e := g.check(); e != nil {
			return fmt.Errorf("%w (%w)", e, store.ErrMaybeStored)
		}
		return err
	}
	return nats.ErrTimeout
}

// engineLogged is called with every warning and error nats-server logs.
// It runs inside nats-server, often under a stream's lock: it only flips
// flags and cancels contexts.
func (g *guard) engineLogged(msg string) {
	noSpace := strings.Contains(msg, "no space left on device")
	critical := strings.Contains(strings.ToLower(msg), "critical write error")
	if !noSpace && !critical {
		return
	}
	if noSpace {
		g.full.Store(true)
	}
	if !critical {
		return
	}
	g.stuck.CompareAndSwap(nil, &stuckError{msg: msg, noSpace: noSpace})
	// Fail the writes waiting now: the stream answers none of them. (A
	// write to another stream in flight at this instant fails with them,
	// though it may have been stored: at worst a client retries a write
	// that took effect, which setPresence makes harmless.)
	cause := error(store.ErrFull)
	if !noSpace {
		cause = errStopped
	}
	g.mu.Lock()
	for _, w := range g.gens {
		w.cancel(cause)
	}
	g.gens = nil
	g.mu.Unlock()
	g.signalEnded()
	go g.rotate() // not under the caller's locks
}

// reload restarts JetStream in the running server: it loads every stream
// from its files again, which clears the write error a stream keeps.
func (g *guard) reload(s *stuckError) {
	e := g.e
	e.log.Warn("reloading the engine's streams after a write error", "err", s.msg)
	if err := e.srv.ShutdownJetStream(); err != nil {
		e.log.Error("reloading the engine: stop", "err", err)
		return
	}
	cfg := e.jsConfig
	if err := e.srv.EnableJetStream(&cfg); err != nil {
		e.log.Error("reloading the engine: start; writes stay refused", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.Streams(ctx); err != nil {
		e.log.Error("reloading the engine: streams", "err", err)
		return
	}
	g.stuck.CompareAndSwap(s, nil)
	e.log.Info("the engine writes again", "dir", g.dir)
}

// errStopped is the error of writes to an engine whose stream stopped
// writing for another reason than a full disk (an I/O error).
var errStopped = errors.New("natsstore: the engine stopped writing")

// write runs a write under the guard: refused at once when the engine
// cannot take it, and ended at once when the engine fails a write while
// it waits (not after its timeout). A nil guard runs it as is.
func (g *guard) write(ctx context.Context, w func(context.Context) error) error {
	if g == nil {
		return w(ctx)
	}
	if err := g.check(); err != nil {
		return err
	}
	gen := g.waitCtx()
	c, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(gen, func() { cancel(context.Cause(gen)) })
	err := w(c)
	ended := c.Err() != nil && ctx.Err() == nil // by the generation, not the caller
	stop()
	cancel(nil)
	if err != nil && ended {
		return g.waitError(gen)
	}
	return fullIfExhausted(err)
}

// fullIfExhausted marks JetStream's own "out of storage" answers as
// store.ErrFull (with MaxStore the volume's size they are rare: the guard
// refuses first).
func fullIfExhausted(err error) error {
	if err == nil {
		return nil // before errors.As, whose target escapes: an allocation per write
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jsInsufficientResources || apiErr.ErrorCode == jsStorageExceeded) {
		return fmt.Errorf("%w: %w", store.ErrFull, err)
	}
	return err
}

// JetStream's error codes for a store over its limits.
const (
	jsInsufficientResources = 10023
	jsStorageExceeded       = 10047
)

// Volume reports the size of the volume that holds the engine's files and
// the space free on it; ok is false for a memory engine or where that is
// unknown.
func (e *Engine) Volume() (total, free uint64, ok bool) {
	if e.storage != jetstream.FileStorage {
		return 0, 0, false
	}
	total, free, err := volumeOf(e.store)
	return total, free, err == nil
}

// isNoSpace reports whether err is the engine's ENOSPC, which its API
// passes on as text (nats-server matches the same words).
func isNoSpace(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no space left on device")
}
