package graphapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/presence"
)

// getPresence serves GET /me/presence, /users/{id}/presence and
// /communications/presences/{id}.
func (a *API) getPresence(kind subjectKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, u, err := a.readable(r, kind)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		sel, err := readOptions(r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		snap, err := a.core.Read(r.Context(), ref(u))
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		// With $select the context names the properties, as OData's does:
		// …/presence(availability,activity)/$entity.
		list := ""
		if sel.list != "" {
			list = "(" + sel.list + ")"
		}
		var context string
		if kind == subjectPresences {
			context = a.serviceRoot(r, "/$metadata#communications/presences", list, "/$entity")
		} else {
			context = a.serviceRoot(r, "/$metadata#users('", u.ID, "')/presence", list, "/$entity")
		}
		writePresence(w, context, snap, isOwner(p, u.ID), sel.fields)
	}
}

// readable authenticates a read of a user's presence (counted against
// the caller's budget), resolves the user and checks that the caller may
// read that presence.
func (a *API) readable(r *http.Request, kind subjectKind) (auth.Principal, directory.User, error) {
	p, err := a.caller(r)
	if err != nil {
		return p, directory.User{}, err
	}
	u, err := a.subject(r, kind, p)
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
	ids, err := a.decodeIDs(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	sc := manyScratch.Get().(*idsScratch)
	defer sc.put()
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
	err = writePresences(w, a.serviceRoot(r, "/$metadata#Collection(microsoft.graph.presence)"), len(refs),
		func(each func(*core.Snapshot) error) error { return a.core.ReadEach(r.Context(), refs, each) },
		func(s *core.Snapshot) bool { return isOwner(p, s.User.UserID) })
	if err != nil {
		a.writeError(w, r, err)
	}
}

// idsScratch is what a getPresencesByUserId needs per request and
// recycles: 650 users' refs and their set are ~45 KB.
type idsScratch struct {
	refs []core.UserRef
	seen map[string]struct{}
}

var manyScratch = sync.Pool{New: func() any { return &idsScratch{seen: make(map[string]struct{}, MaxIDs)} }}

func (s *idsScratch) put() {
	clear(s.refs[:cap(s.refs)]) // keep no strings alive
	clear(s.seen)
	manyScratch.Put(s)
}

// decodeIDs reads {"ids":[...]} and checks every entry before anything is read.
func (a *API) decodeIDs(r *http.Request) ([]string, error) {
	body, err := readBody(r, a.maxBody)
	if err != nil {
		return nil, err
	}
	ids, ok := scanIDs(body)
	if !ok {
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
		return nil, presence.Errorf(presence.Invalid, "ids", "Property 'ids' is required: an array of 1 to %d user ids.", MaxIDs)
	}
	return ids, nil
}
