package graphapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/notify"
	"github.com/presenced/presenced/presence"
)

// Streams is the live change feed behind the stream endpoint.
type Streams interface {
	Watch(ctx context.Context, users []core.UserRef) (release func(), err error)
	LastSeq(ctx context.Context) (uint64, error)
	FirstSeq(ctx context.Context) (uint64, error)
	Follow(ctx context.Context, users []core.UserRef, from uint64, fn func(seq uint64, c notify.Change) error) error
}

// StreamPath is the live stream, an extension of presenced's own (not a
// Graph path): Server-Sent Events of the presence of chosen users.
const StreamPath = "/presenced/v1/stream"

// streamHeartbeat keeps proxies from closing an idle stream.
const streamHeartbeat = 15 * time.Second

// stream serves GET /presenced/v1/stream?ids=a,b (ids or UPNs, up to 650):
// first the current presence of each user, then every change, each as an
// SSE event whose id is its position in the change log. A client that
// reconnects with Last-Event-ID (EventSource does) gets every change after
// that position, so nothing is lost across a disconnect. Authorised like a
// read; browsers, which cannot set headers on EventSource, may pass the
// token as access_token in the query.
func (a *API) stream(w http.ResponseWriter, r *http.Request) {
	if a.streams == nil {
		a.writeError(w, r, errBody(http.StatusNotImplemented, "notImplemented", "Streams are not enabled on this server."))
		return
	}
	if r.Header.Get("Authorization") == "" && r.URL.Query().Get("access_token") != "" {
		r.Header.Set("Authorization", "Bearer "+r.URL.Query().Get("access_token"))
	}
	p, err := a.principal(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var raw []string
	for _, v := range r.URL.Query()["ids"] {
		for _, id := range strings.Split(v, ",") {
			if id = strings.TrimSpace(id); id != "" {
				raw = append(raw, id)
			}
		}
	}
	if len(raw) == 0 {
		a.writeError(w, r, presence.Errorf(presence.Invalid, "ids",
			"Query parameter 'ids' must name 1 to %d users (object ids or userPrincipalNames, comma-separated).", MaxIDs))
		return
	}
	if err := presence.CheckIDCount("ids", "Query parameter 'ids'", len(raw)); err != nil {
		a.writeError(w, r, err)
		return
	}
	var users []core.UserRef
	seen := map[string]bool{}
	for _, id := range raw {
		u, err := a.lookup(p, "ids", id)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if err := auth.Authorize(p, auth.ReadPresence, u.ID, false); err != nil {
			a.writeError(w, r, err)
			return
		}
		if !seen[u.ID] {
			seen[u.ID] = true
			users = append(users, ref(u))
		}
	}
	var resume uint64
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("lastEventId")
	}
	if last != "" {
		if resume, err = strconv.ParseUint(last, 10, 64); err != nil {
			a.writeError(w, r, presence.Errorf(presence.Invalid, "Last-Event-ID", "Last-Event-ID '%s' is not an event id of this stream (a number).", clip(last)))
			return
		}
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		a.writeError(w, r, errBody(http.StatusInternalServerError, "generalException", "Streaming is not supported by this connection."))
		return
	}
	rc := http.NewResponseController(w)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(a.streamsDone, cancel)
	defer stop()
	release, err := a.streams.Watch(ctx, users)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	defer release()
	defer a.countStream()()

	var mu sync.Mutex // one writer at a time: events and heartbeats
	sent := map[string]presence.Stamp{}
	send := func(id uint64, kind string, s core.Snapshot) error {
		if !sent[s.User.UserID].Less(s.Seq) && sent[s.User.UserID] != (presence.Stamp{}) {
			return nil // already sent (the initial state raced a change)
		}
		sent[s.User.UserID] = s.Seq
		b := appendPresence(nil, "", s, isOwner(p, s.User.UserID))
		mu.Lock()
		defer mu.Unlock()
		a.streamDeadline(rc)
		if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", id, kind, b); err != nil {
			return err
		}
		flusher.Flush()
		return nil
	}

	from := resume + 1
	first, err := a.streams.FirstSeq(ctx)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	fresh := resume == 0 || (first > 0 && from < first)
	var head uint64
	if fresh {
		// A new stream, or one whose position is no longer kept: start
		// from the current state.
		if head, err = a.streams.LastSeq(ctx); err != nil {
			a.writeError(w, r, err)
			return
		}
		from = head + 1
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	a.streamDeadline(rc)
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 1000\n\n")
	flusher.Flush()
	if fresh {
		kind := "presence"
		if resume != 0 {
			kind = "reset" // the client's position was trimmed: here is the state now
		}
		snaps, err := a.core.ReadMany(ctx, users)
		if err != nil {
			return
		}
		for _, s := range snaps {
			if err := send(head, kind, s); err != nil {
				return
			}
		}
	}
	var beating sync.WaitGroup
	defer beating.Wait() // never write after the handler returned
	defer cancel()
	beating.Add(1)
	go func() {
		defer beating.Done()
		t := time.NewTicker(streamHeartbeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				mu.Lock()
				a.streamDeadline(rc)
				_, err := fmt.Fprint(w, ": heartbeat\n\n")
				if err == nil {
					flusher.Flush()
				}
				mu.Unlock()
			}
		}
	}()
	_ = a.streams.Follow(ctx, users, from, func(seq uint64, c notify.Change) error {
		return send(seq, "presence", c.Snapshot())
	})
}
