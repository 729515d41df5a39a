package graphapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"unsafe"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/presence"
)

// getPresence serves GET /me/presence, /users/{id}/presence and
// /communications/presences/{id}.
func (a *API) getPresence(kind subjectKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { a.servePresence(w, r, kind, r.PathValue("id")) }
}

// servePresence is getPresence of the user the path names by id (unused
// for /me). Its two halves are functions of their own, not inlined, so
// that their frames are never on the stack together: the token check's and
// the directory's calls run under the first, the cache read (its snapshot
// and the sequence's walk) under the second. In one frame, with the
// snapshot passed by value, a GET's stack went past its first 8 KiB, and
// every collection shrank it back, so that each connection's next request
// paid for copying its stack to grow it again (~0.5 µs a GET,
// docs/performance.md, branch getpath).
func (a *API) servePresence(w http.ResponseWriter, r *http.Request, kind subjectKind, id string) {
	if u, owner, sel, ok := a.presenceRequest(w, r, kind, id); ok {
		a.answerPresence(w, r, kind, u, owner, sel)
	}
}

// presenceRequest authenticates a presence read, resolves its user and
// reads its options; on an error it answers it and returns false.
//
//go:noinline
func (a *API) presenceRequest(w http.ResponseWriter, r *http.Request, kind subjectKind, id string) (_ core.UserRef, owner bool, _ selection, ok bool) {
	p, u, err := a.readableID(r, kind, id)
	if err != nil {
		a.writeError(w, r, err)
		return core.UserRef{}, false, selection{}, false
	}
	sel, err := readOptions(r)
	if err != nil {
		a.writeError(w, r, err)
		return core.UserRef{}, false, selection{}, false
	}
	return ref(u), isOwner(p, u.ID), sel, true
}

// answerPresence reads u's presence and writes it.
//
//go:noinline
func (a *API) answerPresence(w http.ResponseWriter, r *http.Request, kind subjectKind, u core.UserRef, owner bool, sel selection) {
	var snap core.Snapshot
	if err := a.core.ReadInto(r.Context(), u, &snap); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeRead(w, r, kind, u.UserID, &snap, owner, sel)
}

// writeRead writes a presence read: answerPresence's last step, whose
// buffer for the context is not under core.ReadInto's frames.
//
//go:noinline
func (a *API) writeRead(w http.ResponseWriter, r *http.Request, kind subjectKind, userID string, snap *core.Snapshot, owner bool, sel selection) {
	// With $select the context names the properties, as OData's does:
	// …/presence(availability,activity)/$entity.
	list := ""
	if sel.list != "" {
		list = "(" + sel.list + ")"
	}
	var cb [256]byte // the context, on the stack unless it is longer
	var c []byte
	if kind == subjectPresences {
		c = a.appendServiceRoot(cb[:0], r, "/$metadata#communications/presences", list, "/$entity")
	} else {
		c = a.appendServiceRoot(cb[:0], r, "/$metadata#users('", userID, "')/presence", list, "/$entity")
	}
	writePresence(w, unsafe.String(unsafe.SliceData(c), len(c)), snap, owner, sel.fields)
}

// readable authenticates a read of a user's presence (counted against
// the caller's budget), resolves the user and checks that the caller may
// read that presence.
func (a *API) readable(r *http.Request, kind subjectKind) (auth.Principal, directory.User, error) {
	return a.readableID(r, kind, r.PathValue("id"))
}

// readableID is readable of the user id names (unused for /me).
func (a *API) readableID(r *http.Request, kind subjectKind, id string) (auth.Principal, directory.User, error) {
	p, err := a.caller(r)
	if err != nil {
		return p, directory.User{}, err
	}
	u, err := a.subjectID(kind, p, id)
	if err != nil {
		return p, u, err
	}
	return p, u, auth.Authorize(p, auth.ReadPresence, u.ID, kind == subjectMe)
}

func isOwner(p auth.Principal, userID string) bool {
	return p.Delegated && strings.EqualFold(p.UserID, userID)
}

// listPresences answers GET /communications/presences, which Graph does not
// support: say what to use instead.
func (a *API) listPresences(w http.ResponseWriter, r *http.Request) {
	if _, err := a.caller(r); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeError(w, r, errBody(http.StatusBadRequest, "notSupported",
		"Listing all presences is not supported. Use GET /communications/presences/{id} or POST /communications/getPresencesByUserId with up to 650 ids."))
}

// getPresencesByUserID serves POST /communications/getPresencesByUserId.
// Unknown ids, and ids of users the caller's tenant may not see, are left
// out of the result (semantics §6); duplicates are answered once.
func (a *API) getPresencesByUserID(w http.ResponseWriter, r *http.Request) {
	p, err := a.caller(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := auth.Authorize(p, auth.ReadPresences, "", false); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := noOptions(r); err != nil {
		a.writeError(w, r, err)
		return
	}
	sc := manyScratch.Get().(*idsScratch)
	defer sc.put()
	ids, err := a.decodeIDs(r, sc)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	// Many ids: their lookups' memory is read in waves first, so that the
	// misses overlap (at a million users each lookup is ~3 of them).
	if len(ids) > 8 {
		a.dir.Prefetch(ids)
	}
	refs, seen := sc.refs[:0], sc.seen
	for _, id := range ids { // each already passed checkUserID
		u, ok := a.find(p, id)
		if !ok {
			continue
		}
		if _, dup := seen[u.ID]; dup {
			continue
		}
		seen[u.ID] = struct{}{}
		refs = append(refs, ref(u))
	}
	sc.refs = refs
	// The ids may be slices of sc.body; the refs are the directory's own
	// strings (directory.User), so the body is not needed any more.
	ids = nil
	err = writePresences(w, a.serviceRoot(r, "/$metadata#Collection(microsoft.graph.presence)"), len(refs),
		func(each func(*core.Snapshot) error) error { return a.core.ReadEach(r.Context(), refs, each) },
		func(s *core.Snapshot) bool { return isOwner(p, s.User.UserID) })
	if err != nil {
		a.writeError(w, r, err)
	}
}

// idsScratch is what a getPresencesByUserId needs per request and
// recycles: the body (~30 KiB for 650 ids) and the ids scanned from it
// (slices of it, 10 KB), 650 users' refs and their set (~45 KB). Before
// the body and the ids were recycled, a request allocated ~130 KB, which
// at a million users' ~450 MB live heap brought a collection every few
// thousand requests.
type idsScratch struct {
	body bytes.Buffer
	ids  []string
	refs []core.UserRef
	seen map[string]struct{}
}

var manyScratch = sync.Pool{New: func() any { return &idsScratch{seen: make(map[string]struct{}, MaxIDs)} }}

// maxScratchBody is the largest body buffer put back for the next request:
// 650 ids, each a userPrincipalName of up to ~100 characters, with room.
const maxScratchBody = 128 << 10

func (s *idsScratch) put() {
	clear(s.refs[:cap(s.refs)]) // keep no strings alive
	clear(s.ids[:cap(s.ids)])
	clear(s.seen)
	if s.body.Cap() > maxScratchBody {
		s.body = bytes.Buffer{} // a rare huge body: let it go
	}
	s.body.Reset()
	manyScratch.Put(s)
}

// decodeIDs reads {"ids":[...]} and checks every entry before anything is
// read. The ids may be slices of sc.body: they are valid until sc is put
// back.
func (a *API) decodeIDs(r *http.Request, sc *idsScratch) ([]string, error) {
	body, err := readBodyInto(r, a.maxBody, &sc.body)
	if err != nil {
		return nil, err
	}
	// No copy of the body: sc.body is not written again before sc.put,
	// and nothing keeps an id (the error messages format theirs).
	ids, ok := scanIDsInto(unsafe.String(unsafe.SliceData(body), len(body)), sc.ids)
	if ok {
		sc.ids = ids
	} else {
		if ids, err = decodeIDsStrict(body); err != nil {
			return nil, err
		}
	}
	for i, id := range ids {
		if err := checkUserID("ids", id); err != nil {
			return nil, presence.Errorf(presence.Invalid, "ids", "ids[%d]: %s", i, presence.ErrorMessage(err))
		}
	}
	return ids, nil
}

// decodeIDsStrict decodes a getPresencesByUserId body (nil: empty) with the
// strict decoder every action uses; it says what is wrong with any body.
func decodeIDsStrict(body []byte) ([]string, error) {
	var ids []string
	present := false
	err := decodeBytes(body, "getPresencesByUserId", false, []param{{"ids", func(raw json.RawMessage) error {
		present = true
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return presence.Errorf(presence.Invalid, "ids", "Property 'ids' must be an array of strings (user object ids or userPrincipalNames).")
		}
		if err := presence.CheckIDCount("ids", "Property 'ids'", len(items)); err != nil {
			return err
		}
		ids = make([]string, len(items))
		for i, it := range items {
			if err := json.Unmarshal(it, &ids[i]); err != nil {
				return presence.Errorf(presence.Invalid, "ids", "ids[%d] must be a string; got %s.", i, clip(string(it)))
			}
		}
		return nil
	}}})
	if err != nil {
		return nil, err
	}
	if !present {
		return nil, presence.Errorf(presence.Invalid, "ids", "Property 'ids' is required: an array of at most %d user ids (object ids or userPrincipalNames); an empty array answers an empty collection.", MaxIDs)
	}
	return ids, nil
}
