// Package dirstore keeps the directory in the engine and the in-memory
// directory (package directory) current with it. It is the one place where
// a change of tenants, users or applications meets storage: check the
// change against the directory as of the bucket's newest write, write it
// after that write (store.SerialKV: nothing may come in between), then
// apply it in memory.
//
// The bucket holds a `current` record naming the live generation, and per
// generation N its tenants (gN.t.<id>), applications (gN.a.<client id>)
// and users in pages (gN.u.<tenant>.<page>, directory.Page, 4,096 per
// tenant, encoded by page.go). An import numbers a new generation by the
// revision of a write of `claim`, writes it whole and then switches
// `current`, so a failed one changes nothing; generations older than the
// current one are deleted afterwards (import.go; docs/design.md,
// "Organisations").
package dirstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// Options configure a Store. KV is required.
type Options struct {
	// KV is the directory's bucket.
	KV store.SerialKV
	// Clock stamps imports and secrets (default clock.Real).
	Clock clock.Clock
	// Logger receives what the store does on its own (default slog.Default()).
	Logger *slog.Logger
	// Replicated: the bucket is a cluster's. A read of the whole directory
	// may then be served by a node whose copy is still catching up (a
	// node that lost its files, just back): a generation read incomplete,
	// so that it does not validate, is read again until it does (for up
	// to ReplicaCatchUp) rather than refused as damaged.
	Replicated bool
	// Snapshot, when set, is a saved directory (DecodeSnapshot) to start
	// from instead of reading the live generation whole: it is used if it
	// is of this bucket's stream and not ahead of it, and what the bucket
	// holds after it is applied. Otherwise (said at WARN) the directory is
	// read from the engine as without it.
	Snapshot *Snapshot
}

// ReplicaCatchUp bounds how long a replicated store reads a generation
// again that did not validate (Options.Replicated): a node catches up
// from its peers in seconds.
const ReplicaCatchUp = 30 * time.Second

// Store is the directory in the engine. Its methods are safe for
// concurrent use; changes are serialised.
type Store struct {
	kv    store.SerialKV
	dir   *directory.Directory
	clock clock.Clock
	log   *slog.Logger
	// replicated: Options.Replicated.
	replicated bool

	// mu serialises this node's changes (tx); st guards what follows and
	// every change of dir, this node's own and those the watch delivers.
	// A change holds mu throughout and st only to read or apply, so that
	// it can wait for the watch to catch up (txn.go).
	mu sync.Mutex
	st sync.Mutex
	// applied is the bucket revision up to which every change is
	// reflected in dir: a write made after it is checked against all
	// that came before.
	applied uint64
	cur     current
	// pending is the generation this node's import is writing (0: none),
	// and pendingDir the directory it becomes when made current.
	pending    uint64
	pendingDir *directory.Directory
	// seen is the revision of each key the directory reflects (read at
	// load, written here, or applied from the watch): a change the watch
	// delivers at or below it is already in.
	seen map[string]uint64
	// inflight counts this node's writes of a key under way; while there
	// is one, who lost their access by a change the watch applies to that
	// key is kept in stash for the writer to report, so that a change's
	// consequences end before its request is answered (txn.write).
	inflight map[string]int
	stash    map[string][]UsersGone

	hooksMu sync.Mutex
	gone    []func(UsersGone)

	// Background work (deleting old generations) runs under bg and is
	// waited for by Close.
	bg      context.Context
	stop    context.CancelFunc
	cleanup sync.WaitGroup
}

// current is the `current` record: the live generation and where it came
// from.
type current struct {
	Generation uint64 `json:"generation"`
	// Source is where the generation was imported from; nil for a
	// directory made by changes alone.
	Source *Source `json:"source,omitempty"`
	// Changed: the directory was changed since its import (Graph, SCIM,
	// administration), so the import's source no longer describes it.
	Changed bool `json:"changedSinceImport,omitempty"`
}

// Source says where an import came from.
type Source struct {
	// Kind is "file" (serve --directory), "import" (presenced directory
	// import), "demo" (dev mode) or "config" (a directory given in code).
	Kind string `json:"kind"`
	// Name is the file's path as given, if any.
	Name string `json:"name,omitempty"`
	// SHA256 is the hash of the content imported (hex).
	SHA256 string `json:"sha256"`
	// At is when it was imported.
	At time.Time `json:"importedAt"`
}

const currentKey = "current"

func genPrefix(g uint64) string { return "g" + strconv.FormatUint(g, 10) + "." }

func tenantKey(g uint64, id string) string { return genPrefix(g) + "t." + id }

func appKey(g uint64, id string) string { return genPrefix(g) + "a." + id }

func pageKey(g uint64, tenant string, page int) string {
	return fmt.Sprintf("%su.%s.%03x", genPrefix(g), tenant, page)
}

// Open reads the directory from the bucket (empty if it has none yet) and
// deletes what is left of older generations in the background.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Store{kv: o.KV, clock: o.Clock, log: o.Logger, replicated: o.Replicated, inflight: map[string]int{}, stash: map[string][]UsersGone{}}
	s.bg, s.stop = context.WithCancel(context.Background())
	// The watch starts before the directory is read, so that nothing
	// written meanwhile (by another node) is missed.
	w, err := s.watch(ctx)
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("dirstore: watching the directory: %w", err)
	}
	s.st.Lock()
	err = s.open(ctx, o.Snapshot)
	s.st.Unlock()
	if err != nil {
		w.Stop()
		s.stop()
		return nil, err
	}
	s.background(func(ctx context.Context) { s.follow(ctx, w) })
	s.background(s.deleteOtherGenerations)
	return s, nil
}

// watch starts the store's watch of the directory: it lives as long as the
// store (s.bg), but its start is bounded by ctx, the caller's. (It was
// begun under s.bg alone: in a cluster, whose engine retries "no answer
// yet" until its context ends, a start on a loaded machine hung for 20
// minutes past its caller's deadline.)
func (s *Store) watch(ctx context.Context) (store.Watcher, error) {
	life, abandon := context.WithCancelCause(s.bg)
	unbind := context.AfterFunc(ctx, func() { abandon(context.Cause(ctx)) })
	w, err := s.kv.Watch(life, "")
	if !unbind() { // ctx ended: the watch's start was abandoned, or is now
		cause := context.Cause(ctx)
		switch {
		case err == nil:
			w.Stop()
			err = cause
		case !errors.Is(err, cause):
			err = fmt.Errorf("%w: %w", cause, err)
		}
		return nil, err
	}
	return w, err
}

// open reads the directory: from the snapshot, if it can be used, or from
// the bucket. Called with st held.
func (s *Store) open(ctx context.Context, snap *Snapshot) error {
	if snap == nil {
		return s.load(ctx)
	}
	start := s.clock.Now()
	saved := snap.pos.Seq
	n, err := s.loadSnapshot(ctx, snap)
	if err == nil {
		s.log.Info("directory: the saved directory is up to date", "users", s.dir.UserCount(), "saved_at_seq", saved, "changes_since", n, "took", clock.Since(s.clock, start).Round(time.Millisecond))
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	s.log.Warn("directory: the saved directory cannot be used: reading it from the engine instead (nothing is lost; the file is replaced at the next save)", "err", err)
	return s.load(ctx)
}

// background runs fn aside, until Close.
func (s *Store) background(fn func(context.Context)) {
	s.cleanup.Add(1)
	go func() {
		defer s.cleanup.Done()
		fn(s.bg)
	}()
}

// Close stops the store's background work (deleting old generations;
// what is left is deleted at the next start) and waits for it.
func (s *Store) Close() {
	s.stop()
	s.cleanup.Wait()
}

// Directory is the in-memory directory the store keeps current.
func (s *Store) Directory() *directory.Directory { return s.dir }

// Imported says where the directory was last imported from (nil: never,
// or made by changes alone) and whether it was changed since.
func (s *Store) Imported() (*Source, bool) {
	s.st.Lock()
	defer s.st.Unlock()
	if s.cur.Source == nil {
		return nil, s.cur.Changed
	}
	src := *s.cur.Source
	return &src, s.cur.Changed
}

// load reads the live generation whole and makes it the directory.
// Called with st held. A replicated store reads a generation that does
// not validate again, for up to ReplicaCatchUp: the copy the walk read may
// be a node's that is still catching up (Options.Replicated).
func (s *Store) load(ctx context.Context) error {
	const pause = 250 * time.Millisecond
	for tries := int(ReplicaCatchUp / pause); ; tries-- {
		err := s.loadOnce(ctx)
		if !s.replicated || tries <= 0 || !errors.Is(err, errNotValid) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause): // a pause before reading again, not a clock reading
		}
	}
}

// errNotValid marks a stored generation that does not validate.
var errNotValid = errors.New("the stored directory does not validate")

// loadOnce is load's one reading.
func (s *Store) loadOnce(ctx context.Context) error {
	last, err := s.kv.LastRevision(ctx)
	if err != nil {
		return err
	}
	cur, curRev, err := s.readCurrent(ctx)
	if err != nil {
		return err
	}
	seen := map[string]uint64{currentKey: curRev}
	d := directory.Empty()
	if cur.Generation > 0 {
		f, err := s.readGeneration(ctx, cur.Generation, seen)
		if err != nil {
			return err
		}
		// last stays the revision from before the walk: a key the walk
		// passed at an older revision than one written meanwhile is caught
		// up by the watch, and until then a write after last is refused.
		if d, err = f.Build(); err != nil {
			return fmt.Errorf("dirstore: %w (generation %d): %w", errNotValid, cur.Generation, err)
		}
	}
	if s.dir == nil {
		s.dir = d
	} else {
		s.dir.Replace(d)
	}
	s.applied, s.cur, s.seen = last, cur, seen
	return nil
}

func (s *Store) readCurrent(ctx context.Context) (current, uint64, error) {
	var c current
	e, err := s.kv.Get(ctx, currentKey)
	if errors.Is(err, store.ErrNotFound) {
		return c, 0, nil
	}
	if err != nil {
		return c, 0, err
	}
	if err := json.Unmarshal(e.Value, &c); err != nil {
		return c, 0, fmt.Errorf("dirstore: the current record is damaged: %w", err)
	}
	return c, e.Revision, nil
}

// readGeneration reads generation g whole, in the order of its keys
// (tenants by id, users page by page): what an export writes. seen, when
// not nil, gets each key's revision.
func (s *Store) readGeneration(ctx context.Context, g uint64, seen map[string]uint64) (*directory.File, error) {
	var tenants []directory.Tenant
	var apps []directory.App
	pages := map[string][]directory.UserEntry{}
	err := s.kv.Walk(ctx, genPrefix(g), func(e store.Entry) error {
		if seen != nil {
			seen[e.Key] = max(seen[e.Key], e.Revision)
		}
		rest := strings.TrimPrefix(e.Key, genPrefix(g))
		kind, id, _ := strings.Cut(rest, ".")
		switch kind {
		case "t":
			var t directory.Tenant
			if err := json.Unmarshal(e.Value, &t); err != nil {
				return fmt.Errorf("dirstore: tenant record %s: %w", e.Key, err)
			}
			tenants = append(tenants, t)
		case "a":
			var a directory.App
			if err := json.Unmarshal(e.Value, &a); err != nil {
				return fmt.Errorf("dirstore: application record %s: %w", e.Key, err)
			}
			apps = append(apps, a)
		case "u":
			tenant, _, _ := strings.Cut(id, ".")
			users, err := decodePage(tenant, e.Value)
			if err != nil {
				return fmt.Errorf("dirstore: page %s: %w", e.Key, err)
			}
			pages[e.Key] = users
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(tenants, func(a, b directory.Tenant) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(apps, func(a, b directory.App) int { return strings.Compare(a.ClientID, b.ClientID) })
	keys := make([]string, 0, len(pages))
	n := 0
	for k, p := range pages {
		keys = append(keys, k)
		n += len(p)
	}
	slices.Sort(keys)
	users := make([]directory.UserEntry, 0, n)
	for _, k := range keys {
		users = append(users, pages[k]...)
	}
	return &directory.File{Tenants: tenants, Users: users, Applications: apps}, nil
}

// deleteOtherGenerations removes every key of a generation older than the
// live one: what an import left of the one it replaced, or of an import
// that failed or lost to another. Newer generations are left alone: they
// are imports under way (here or at another node), which may yet be made
// current; one older than the live one never can be (importGeneration),
// and that makes deleting it safe at any node, at any time.
func (s *Store) deleteOtherGenerations(ctx context.Context) {
	keys, err := s.kv.Keys(ctx, "g")
	if err != nil {
		s.log.Warn("directory: listing old generations", "err", err)
		return
	}
	n := 0
	for _, k := range keys {
		g, ok := generationOf(k)
		if !ok || g >= s.generation() {
			continue
		}
		err := s.tx(ctx, func(t *txn) error { return t.write(k, nil, true, nil) })
		if err == nil {
			n++
		} else {
			if ctx.Err() == nil {
				s.log.Warn("directory: deleting an old generation's key", "key", k, "err", err)
			}
			break
		}
	}
	if n > 0 {
		s.log.Info("directory: old generation deleted", "keys", n)
	}
}

// generationOf is the generation a key of one belongs to.
func generationOf(key string) (uint64, bool) {
	num, _, ok := strings.Cut(strings.TrimPrefix(key, "g"), ".")
	if !ok || !strings.HasPrefix(key, "g") {
		return 0, false
	}
	g, err := strconv.ParseUint(num, 10, 64)
	return g, err == nil
}

// UsersGone is users of a tenant who lost their access: removed from the
// directory (deleted, or gone with their tenant or an import), or whose
// account was disabled.
type UsersGone struct {
	TenantID string
	Removed  []string
	Disabled []string
}

// OnUsersGone registers fn, called once the directory no longer has the
// removed users, or has them disabled: it ends what was theirs.
func (s *Store) OnUsersGone(fn func(UsersGone)) {
	s.hooksMu.Lock()
	defer s.hooksMu.Unlock()
	s.gone = append(s.gone, fn)
}

func (s *Store) usersGone(g UsersGone) {
	if len(g.Removed) == 0 && len(g.Disabled) == 0 {
		return
	}
	s.hooksMu.Lock()
	hooks := slices.Clone(s.gone)
	s.hooksMu.Unlock()
	for _, fn := range hooks {
		fn(g)
	}
}

// unavailable is an engine failure as the API reports it.
func unavailable(err error) error {
	var pe *presence.Error
	if errors.As(err, &pe) {
		return err
	}
	if msg, ok := store.FullMessage(err); ok {
		return presence.Errorf(presence.Unavailable, "", "%s", msg)
	}
	return fmt.Errorf("dirstore: %w", err)
}
