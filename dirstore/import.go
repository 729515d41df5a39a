package dirstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/presence"
)

// Import replaces the whole directory with f, all or nothing: f is
// validated whole, its passwords and secrets in clear are hashed, it is
// written as a new generation, and one write of `current` makes that
// generation the directory. A failure at any point leaves the directory as
// it was (what was written of the new generation is deleted). Users the
// new directory no longer has, or has disabled, go to the OnUsersGone hooks. src says
// where f came from (nil: a directory made by hand).
func (s *Store) Import(ctx context.Context, f *directory.File, src *Source) error {
	d, err := f.Build()
	if err != nil {
		return err
	}
	sealed, err := seal(ctx, f, s.clock.Now())
	if err != nil {
		return err
	}
	for i, a := range f.Applications {
		if a.Secret != "" { // the directory keeps the hash, not the value
			if err := d.PutApp(sealed.Applications[i]); err != nil {
				return err
			}
		}
	}
	err = s.tx(ctx, func(x *txn) error { return x.importGeneration(d, sealed, src) })
	if err != nil {
		return err
	}
	s.background(s.deleteOtherGenerations)
	return nil
}

// errSuperseded: another import was made current while this one was being
// written; this one was not, and its generation is deleted.
var errSuperseded = presence.Errorf(presence.Conflict, "", "Another import replaced the directory while this one was being written; nothing of this one was kept. Import it again to replace that one.")

// importGeneration writes f as a new generation and makes it current, if
// the generation current when it was numbered still is. A generation is
// only ever named by `current` once every key of it is stored, and only
// generations older than the current one are deleted (by any node): so a
// node that reads the generation `current` names reads it whole. d is f
// built; it becomes the directory when the switch is stored, by whichever
// comes first of this write's acknowledgement and the watch delivering it.
func (x *txn) importGeneration(d *directory.Directory, f *directory.File, src *Source) error {
	s := x.s
	// The new generation is written whatever else is written meanwhile
	// (nothing is checked against it until it is current).
	x.free = true
	from := s.generation()
	g, err := x.claim()
	if err != nil {
		return err
	}
	s.st.Lock()
	s.pending, s.pendingDir = g, d
	s.st.Unlock()
	defer func() {
		s.st.Lock()
		s.pending, s.pendingDir = 0, nil
		s.st.Unlock()
	}()
	if err := x.writeGeneration(g, f); err != nil {
		x.dropGeneration(g)
		return err
	}
	next := current{Generation: g}
	if src != nil {
		src.At = s.clock.Now().UTC()
		next.Source = src
	}
	b, _ := json.Marshal(next)
	// The switch: made only on the directory as of the bucket's newest
	// write, and only while `from` is still current — an import numbered
	// later may have been made current meanwhile, and the nodes then
	// delete this generation as an older one.
	_, err = x.put(currentKey, b, false, func() error {
		if s.cur.Generation != from {
			return errSuperseded
		}
		return nil
	}, func() { x.gone = append(x.gone, s.install(next)...) })
	if err == nil {
		return nil
	}
	if !errors.Is(err, errSuperseded) {
		// The engine may have stored the switch though it did not say so
		// (a lost answer): then the generation is the directory.
		c, _, rerr := s.readCurrent(x.ctx)
		if rerr != nil {
			return err // not known: the generation is left, deleted once older than the current one
		}
		if c.Generation == g {
			s.st.Lock()
			x.gone = append(x.gone, s.install(c)...)
			s.st.Unlock()
			return nil
		}
	}
	x.dropGeneration(g)
	return err
}

// install makes next, the switch to the generation this node's import
// wrote, the directory, and returns who lost their access by it. Called
// with st held, by the writer or by the watch, whichever has the switch
// first; the other finds it done.
func (s *Store) install(next current) []UsersGone {
	if s.pendingDir == nil || next.Generation != s.pending || s.cur.Generation == next.Generation {
		if s.cur.Generation == next.Generation {
			s.cur = next
		}
		return nil
	}
	old := s.dir.Snapshot()
	s.cur = next
	s.dir.Replace(s.pendingDir)
	s.pendingDir = nil
	return usersGoneIn(old, s.dir)
}

// dropGeneration deletes what a failed import wrote; what it cannot is
// deleted at the next start.
func (x *txn) dropGeneration(g uint64) {
	keys, err := x.s.kv.Keys(context.Background(), genPrefix(g))
	if err != nil {
		return
	}
	// Each deletion only while g is not current: a switch whose answer was
	// lost may still be stored after all, before them.
	notCurrent := func() error {
		if x.s.cur.Generation == g {
			return errors.New("dirstore: the generation became current")
		}
		return nil
	}
	for _, k := range keys {
		if _, err := x.put(k, nil, true, notCurrent, nil); err != nil {
			return
		}
	}
}

// usersGoneIn returns, per tenant, the users of old that new does not have
// in the same tenant, or has disabled.
func usersGoneIn(old, new *directory.Directory) []UsersGone {
	var out []UsersGone
	for _, t := range old.Tenants() {
		g := UsersGone{TenantID: t.ID}
		old.ScanUsers(t.ID, "", func(u directory.User) bool {
			if n, ok := new.UserInTenant(t.ID, u.ID); !ok {
				g.Removed = append(g.Removed, u.ID)
			} else if u.AccountEnabled && !n.AccountEnabled {
				g.Disabled = append(g.Disabled, u.ID)
			}
			return true
		})
		out = append(out, g)
	}
	return out
}

// writeGeneration writes f as generation g: tenants, applications, then
// every page.
func (x *txn) writeGeneration(g uint64, f *directory.File) error {
	for _, t := range f.Tenants {
		b, err := json.Marshal(t)
		if err != nil {
			return err
		}
		if err := x.write(tenantKey(g, t.ID), b, false, nil); err != nil {
			return err
		}
	}
	for _, a := range f.Applications {
		a.Secret = ""
		b, err := json.Marshal(a)
		if err != nil {
			return err
		}
		if err := x.write(appKey(g, a.ClientID), b, false, nil); err != nil {
			return err
		}
	}
	// Users by (tenant, page): sort positions, not the entries.
	type at struct {
		tenant string
		page   int32
		i      int32
	}
	order := make([]at, len(f.Users))
	for i := range f.Users {
		order[i] = at{f.Users[i].TenantID, int32(directory.Page(f.Users[i].ID)), int32(i)}
	}
	sort.Slice(order, func(a, b int) bool {
		if order[a].tenant != order[b].tenant {
			return order[a].tenant < order[b].tenant
		}
		return order[a].page < order[b].page
	})
	var page []directory.UserEntry
	for k := 0; k < len(order); {
		j := k
		page = page[:0]
		for j < len(order) && order[j].tenant == order[k].tenant && order[j].page == order[k].page {
			page = append(page, f.Users[order[j].i])
			j++
		}
		if err := x.write(pageKey(g, order[k].tenant, int(order[k].page)), encodePage(page), false, nil); err != nil {
			return err
		}
		k = j
	}
	return nil
}

// seal returns a copy of f with every password and client secret in clear
// hashed, on all cores (a file of a thousand users with passwords takes
// ~50 ms each, over the cores).
func seal(ctx context.Context, f *directory.File, now time.Time) (*directory.File, error) {
	out := &directory.File{Tenants: f.Tenants, Users: f.Users, Applications: f.Applications}
	var todo []int
	for i, u := range f.Users {
		if u.Password != "" {
			todo = append(todo, i)
		}
	}
	if len(todo) > 0 {
		out.Users = append([]directory.UserEntry(nil), f.Users...)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var first error
		next := make(chan int)
		for range runtime.GOMAXPROCS(0) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					if err := hashPassword(ctx, &out.Users[i]); err != nil {
						mu.Lock()
						first = cmpErr(first, err)
						mu.Unlock()
					}
				}
			}()
		}
		for _, i := range todo {
			next <- i
		}
		close(next)
		wg.Wait()
		if first != nil {
			return nil, first
		}
	}
	out.Applications = append([]directory.App(nil), f.Applications...)
	for i := range out.Applications {
		a := &out.Applications[i]
		if a.Secret == "" {
			continue
		}
		sec, err := directory.NewSecret(ctx, a.Secret, now.UTC())
		if err != nil {
			return nil, err
		}
		a.Secrets, a.Secret = append(append([]directory.Secret(nil), a.Secrets...), sec), ""
	}
	return out, nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// Export returns the directory as stored: every tenant, user and
// application, with hashes of passwords and secrets (never values). Its
// JSON is a directory file that Import takes back.
func (s *Store) Export(ctx context.Context) (*directory.File, error) {
	g := s.generation()
	if g == 0 {
		return &directory.File{Tenants: []directory.Tenant{}, Users: []directory.UserEntry{}, Applications: []directory.App{}}, nil
	}
	f, err := s.readGeneration(ctx, g, nil)
	if err != nil {
		return nil, unavailable(err)
	}
	if f.Users == nil {
		f.Users = []directory.UserEntry{}
	}
	if f.Applications == nil {
		f.Applications = []directory.App{}
	}
	return f, nil
}

// Hash is the SHA-256 (hex) of content, as a Source names it.
func Hash(content []byte) string {
	h := sha256.Sum256(content)
	return hex.EncodeToString(h[:])
}

// Decode reads a directory file from r as it comes (directory.Decode: the
// file is never all in memory) and returns it with the SHA-256 (hex) of
// what was read, as a Source names it.
func Decode(r io.Reader) (*directory.File, string, error) {
	h := sha256.New()
	f, err := directory.Decode(io.TeeReader(r, h))
	if err != nil {
		return nil, "", err
	}
	return f, hex.EncodeToString(h.Sum(nil)), nil
}

// ErrChangedSinceImport: serve --directory was given a file that changed
// since it was imported, and the directory was changed otherwise since
// (Graph, SCIM, administration): importing it would undo those changes.
var ErrChangedSinceImport = errors.New("the directory was changed since its file was imported")

// Seed makes f the directory where that is safe, and says what it did:
// "seeded" (the engine had no directory), "unchanged" (f is what was last
// imported), "re-imported" (f changed, and the directory was not changed
// otherwise since its last import: a deployment managed by its file).
// Otherwise the directory stays and the error wraps ErrChangedSinceImport,
// saying what to do.
//
// Nodes of a cluster started together each seed the same file: one
// import is made current, and the others, finding it made current while
// they wrote theirs, decide again — and find f unchanged.
func (s *Store) Seed(ctx context.Context, f *directory.File, src Source) (string, error) {
	for tries := 1; ; tries++ {
		did, err := s.seedOnce(ctx, f, src)
		if !errors.Is(err, errSuperseded) || tries == attempts {
			return did, err
		}
	}
}

func (s *Store) seedOnce(ctx context.Context, f *directory.File, src Source) (string, error) {
	s.st.Lock()
	cur := s.cur
	s.st.Unlock()
	switch {
	case cur.Generation == 0:
		return "seeded", s.Import(ctx, f, &src)
	case cur.Source != nil && cur.Source.SHA256 == src.SHA256:
		return "unchanged", nil
	case cur.Source != nil && !cur.Changed:
		return "re-imported", s.Import(ctx, f, &src)
	}
	what := "was made by changes alone (never imported)"
	if cur.Source != nil {
		what = fmt.Sprintf("was imported from %s %s at %s and changed since (Graph, SCIM or presenced admin)", cur.Source.Kind, cur.Source.Name, cur.Source.At.Format("2006-01-02 15:04:05Z07:00"))
	}
	return "", fmt.Errorf("%w: the directory in the engine %s, and %s is not what was imported; importing it would undo those changes, so it was not. Run `presenced directory import %s` to replace the directory with the file anyway, or `presenced directory export` to see the live directory; then start without --directory",
		ErrChangedSinceImport, what, src.Name, src.Name)
}
