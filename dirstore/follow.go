package dirstore

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/store"
)

// follow applies to the directory what other writers (the other nodes of
// a cluster) write to the bucket, as the watch delivers it: a tenant, an
// application, a page of users, or a new generation (an import), which is
// read whole. This node's own writes come back too and are passed over
// (seen). When the watch fails it is started again and the directory read
// again, as at a start.
func (s *Store) follow(ctx context.Context, w store.Watcher) {
	for {
		c, err := w.Next(ctx)
		if ctx.Err() != nil {
			w.Stop()
			return
		}
		if err != nil {
			w.Stop()
			s.log.Warn("directory: the watch ended; following again", "err", err)
			if w, err = s.rewatch(ctx); err != nil {
				return
			}
			continue
		}
		gone, err := s.apply(ctx, c)
		for _, g := range gone {
			s.usersGone(g)
		}
		if err != nil {
			// A new generation could not be read: nothing after it is
			// applied (applied stays before it, so this node's changes
			// wait) until it is read whole, as at a start.
			w.Stop()
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("directory: reading a new generation failed; reading the directory again", "err", err)
			if w, err = s.rewatch(ctx); err != nil {
				return
			}
		}
	}
}

// rewatch starts a new watch and reads the directory again.
func (s *Store) rewatch(ctx context.Context) (store.Watcher, error) {
	for {
		w, err := s.kv.Watch(ctx, "")
		if err == nil {
			s.st.Lock()
			err = s.load(ctx)
			s.st.Unlock()
			if err == nil {
				return w, nil
			}
			w.Stop()
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.log.Warn("directory: following the directory again failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second): // a pause before trying again, not a clock reading
		}
	}
}

// apply applies one change and returns who lost their access by it —
// unless this node is writing that key: the writer reports it then. An
// error is a new generation that could not be read; nothing of the change
// is applied then.
func (s *Store) apply(ctx context.Context, c store.Change) ([]UsersGone, error) {
	s.st.Lock()
	defer s.st.Unlock()
	if c.Revision <= s.seen[c.Key] {
		return nil, nil
	}
	var gone []UsersGone
	if c.Key == currentKey {
		var err error
		if gone, err = s.switchGeneration(ctx, c); err != nil {
			return nil, err
		}
	} else {
		gone = s.applyChange(c)
	}
	// After a generation read whole (load), seen and applied are past c.
	s.seen[c.Key] = max(s.seen[c.Key], c.Revision)
	s.applied = max(s.applied, c.Revision)
	if s.inflight[c.Key] > 0 {
		s.stash[c.Key] = append(s.stash[c.Key], gone...)
		return nil, nil
	}
	return gone, nil
}

// switchGeneration follows a write of `current`: another node's import
// (the generation it names is read whole), this node's own (its
// directory, built already, is installed: the watch may deliver the
// switch before the write's acknowledgement arrives), or a change of the
// record alone. It returns who lost their access; called with st held.
func (s *Store) switchGeneration(ctx context.Context, c store.Change) ([]UsersGone, error) {
	var next current
	if c.Deleted || json.Unmarshal(c.Value, &next) != nil {
		return nil, nil
	}
	switch {
	case next.Generation == s.cur.Generation:
		s.cur = next
		return nil, nil
	case next.Generation == s.pending && s.pendingDir != nil:
		return s.install(next), nil
	}
	old := s.dir.Snapshot()
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	return usersGoneIn(old, s.dir), nil
}

// applyChange applies a change of a tenant, an application or a page;
// called with st held.
func (s *Store) applyChange(c store.Change) []UsersGone {
	rest, ok := strings.CutPrefix(c.Key, genPrefix(s.cur.Generation))
	if !ok {
		return nil // another generation: an import under way, or one being deleted
	}
	kind, id, _ := strings.Cut(rest, ".")
	switch kind {
	case "t":
		if c.Deleted {
			gone := UsersGone{TenantID: id}
			s.dir.ScanUsers(id, "", func(u directory.User) bool { gone.Removed = append(gone.Removed, u.ID); return true })
			s.dir.RemoveTenant(id)
			return []UsersGone{gone}
		}
		var t directory.Tenant
		if err := json.Unmarshal(c.Value, &t); err != nil {
			s.log.Error("directory: a tenant record does not decode", "key", c.Key, "err", err)
		} else if err := s.dir.PutTenant(t); err != nil {
			s.log.Error("directory: a tenant record does not apply", "key", c.Key, "err", err)
		}
	case "a":
		if c.Deleted {
			s.dir.RemoveApp(id)
			return nil
		}
		var a directory.App
		if err := json.Unmarshal(c.Value, &a); err != nil {
			s.log.Error("directory: an application record does not decode", "key", c.Key, "err", err)
		} else if err := s.dir.PutApp(a); err != nil {
			s.log.Error("directory: an application record does not apply", "key", c.Key, "err", err)
		}
	case "u":
		tenant, pageHex, _ := strings.Cut(id, ".")
		p, err := strconv.ParseUint(pageHex, 16, 16)
		if err != nil {
			return nil
		}
		var users []directory.UserEntry
		if !c.Deleted {
			if users, err = decodePage(tenant, c.Value); err != nil {
				s.log.Error("directory: a page does not decode", "key", c.Key, "err", err)
				return nil
			}
		}
		old := s.dir.PageUsers(tenant, int(p))
		views := make([]directory.User, len(users))
		for i := range users {
			views[i] = users[i].View()
		}
		if err := s.dir.ApplyPage(tenant, int(p), views); err != nil {
			s.log.Error("directory: a page does not apply", "key", c.Key, "err", err)
		}
		return []UsersGone{goneBetween(tenant, old, views)}
	}
	return nil
}

// goneBetween is who of old is not in now, or is disabled there.
func goneBetween(tenant string, old, now []directory.User) UsersGone {
	g := UsersGone{TenantID: tenant}
	for _, o := range old {
		found := false
		for _, n := range now {
			if n.ID == o.ID {
				found = true
				if o.AccountEnabled && !n.AccountEnabled {
					g.Disabled = append(g.Disabled, o.ID)
				}
			}
		}
		if !found {
			g.Removed = append(g.Removed, o.ID)
		}
	}
	return g
}
