package graphapi

import (
	"context"
	"errors"
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
	// Watch keeps the users' changes logged until release is called.
	Watch(ctx context.Context, users []core.UserRef) (release func(), err error)
	// LastSeq is the log's position now.
	LastSeq(ctx context.Context) (uint64, error)
	// Resume prepares a resume after position after of watched users:
	// which of them the log holds every change of since then.
	Resume(ctx context.Context, users []core.UserRef, after uint64) (*notify.Resume, error)
	// Open returns a feed of the users' changes from position from on.
	Open(users []core.UserRef, from uint64) *notify.Feed
}

// StreamPath is the live stream, an extension of presenced's own (not a
// Graph path): Server-Sent Events of the presence of chosen users.
const StreamPath = "/presenced/v1/stream"

// streamHeartbeat keeps proxies from closing an idle stream.
const streamHeartbeat = 15 * time.Second

// streamCheck is how often an idle stream checks that its reader may still
// read it (token lifetime, directory changes); every delivery checks too.
const streamCheck = time.Second

// stream serves GET /presenced/v1/stream?ids=a,b (ids or UPNs, up to 650):
// first the current presence of each user, then every change, each as an
// SSE event whose id is its position in the change log. A client that
// reconnects with Last-Event-ID (EventSource does) gets every change after
// that position, or event: reset with the state now for a user whose
// changes since may be missing from the log. Authorised like a read, and
// held to it while open: a user the reader may no longer see is dropped
// (event: removed), and the stream ends (event: end) when its token
// expires or its reader leaves the directory. Browsers, which cannot set
// headers on EventSource, may pass the token as access_token in the query.
// docs/notifications.md has the protocol.
func (a *API) stream(w http.ResponseWriter, r *http.Request) {
	if a.streams == nil {
		a.writeError(w, r, errBody(http.StatusNotImplemented, "notImplemented", "Streams are not enabled on this server."))
		return
	}
	if r.Header.Get("Authorization") == "" && r.URL.Query().Get("access_token") != "" {
		r.Header.Set("Authorization", "Bearer "+r.URL.Query().Get("access_token"))
	}
	raw, err := auth.BearerToken(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	p, err := a.auth.Validate(raw)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	after, resume, idErr := lastEventID(r)
	// A resumed stream goes on with the users still there: one deleted
	// while its client was away is removed (as it would have been on the
	// stream), not a refusal of the whole stream, which its client —
	// EventSource reconnects with the same ids — could never get past.
	users, missing, err := a.streamUsers(r, p, resume && idErr == nil)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if idErr != nil {
		a.writeError(w, r, idErr)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		a.writeError(w, r, errBody(http.StatusInternalServerError, "generalException", "Streaming is not supported by this connection."))
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(a.streamsDone, cancel)
	defer stop()
	release := func() {}
	if len(users) > 0 {
		if release, err = a.streams.Watch(ctx, users); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	defer release()
	defer a.countStream()()

	// Where the stream starts: a new one at the log's position now, with
	// everyone's state; a resumed one after its position, with the state
	// of the users whose changes since may be missing.
	var head uint64
	var res *notify.Resume
	switch {
	case len(users) == 0:
		// Nobody left to follow: the stream only says so (start).
	case resume:
		if res, err = a.streams.Resume(ctx, users, after); err == nil {
			head = res.Head()
		}
	default:
		head, err = a.streams.LastSeq(ctx)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	limitSendBuffer(r)
	out := &sseWriter{w: w, flusher: flusher, rc: http.NewResponseController(w), timeout: a.streamWriteTimeout, raw: directConn(r)}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	if r.ProtoMajor == 1 {
		// Over HTTP/1.1 the body is the rest of the connection, not
		// chunks (net/http's "identity": no Transfer-Encoding sent, the
		// connection closed after it; what the SSE recommendation
		// suggests). A stream never shares its connection anyway, and
		// framing every event as a chunk cost, at 10,000 streams, ~4 % of
		// the server's CPU per event (docs/performance.md).
		w.Header().Set("Transfer-Encoding", "identity")
	}
	out.deadline()
	w.WriteHeader(http.StatusOK)
	st := &streamSession{a: a, p: p, raw: raw, users: users, missing: missing, version: a.dir.Version(),
		out: out, sent: map[string]presence.Stamp{}, gone: map[string]bool{}}
	reason := st.run(ctx, res, head)
	// Release before saying the stream closed: the users' linger counts
	// from the moment the stream stopped watching, and whoever waits for
	// this line (tests, operators) sees the watch already released.
	release()
	a.log.Debug("stream closed", "users", len(users), "reason", reason)
}

// streamUsers resolves and authorises the stream's ids. A new stream
// naming a user not found is refused; a resumed one (resumed) leaves them
// out and returns the ids as named in missing, for event: removed.
func (a *API) streamUsers(r *http.Request, p auth.Principal, resumed bool) (users []core.UserRef, missing []string, err error) {
	var raw []string
	for _, v := range r.URL.Query()["ids"] {
		for _, id := range strings.Split(v, ",") {
			if id = strings.TrimSpace(id); id != "" {
				raw = append(raw, id)
			}
		}
	}
	if len(raw) == 0 {
		return nil, nil, presence.Errorf(presence.Invalid, "ids",
			"Query parameter 'ids' must name 1 to %d users (object ids or userPrincipalNames, comma-separated).", MaxIDs)
	}
	if err := presence.CheckIDCount("ids", "Query parameter 'ids'", len(raw)); err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	for _, id := range raw {
		u, err := a.lookup(p, "ids", id)
		var pe *presence.Error
		if err != nil && resumed && errors.As(err, &pe) && pe.Code == presence.NotFound {
			if !seen[id] {
				seen[id] = true
				missing = append(missing, id)
			}
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if err := auth.Authorize(p, auth.ReadPresence, u.ID, false); err != nil {
			return nil, nil, err
		}
		if !seen[u.ID] {
			seen[u.ID] = true
			users = append(users, ref(u))
		}
	}
	return users, missing, nil
}

// lastEventID is the position a client resumes after: the Last-Event-ID
// header (EventSource sends it when it reconnects), else the lastEventId
// query parameter (for a client that opens a new EventSource). resume is
// false without either, or with an empty one (EventSource's "no id yet"):
// a new stream. "0" is a position, the start of the log.
func lastEventID(r *http.Request) (after uint64, resume bool, err error) {
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("lastEventId")
	}
	if last == "" {
		return 0, false, nil
	}
	if after, err = strconv.ParseUint(last, 10, 64); err != nil {
		return 0, false, presence.Errorf(presence.Invalid, "Last-Event-ID", "Last-Event-ID '%s' is not an event id of this stream (a number).", clip(last))
	}
	return after, true, nil
}

// streamSession is one open stream: what it sent, and whom it still
// serves. Used by the handler's goroutine only.
type streamSession struct {
	a       *API
	p       auth.Principal
	raw     string // the token, checked again when the directory changes
	users   []core.UserRef
	missing []string // ids of a resumed stream not found (event: removed first)
	version uint64   // the directory version last checked against
	out     *sseWriter
	data    []byte
	idle    time.Duration // since the last write
	sent    map[string]presence.Stamp
	gone    map[string]bool // users dropped (event: removed)

	// mu is held by the handler's goroutine while it follows the feed,
	// except while it waits on a direct one (streamdirect.go), and by a
	// fanout's writer delivering to it; it guards everything above.
	mu       sync.Mutex
	feed     *notify.Feed
	closed   bool  // the stream stopped following: writers leave it alone
	handback error // what ended the stream on a writer, for the handler
}

// streamEnd ends a stream with event: end naming the reason.
type streamEnd struct{ reason, message string }

func (e *streamEnd) Error() string { return e.reason + ": " + e.message }

// run sends the stream's start and then its changes until the client
// goes, the server stops, or the stream ends; it returns why it stopped.
func (st *streamSession) run(ctx context.Context, res *notify.Resume, head uint64) string {
	err := st.start(ctx, res, head)
	if err == nil {
		err = st.follow(ctx, head)
	}
	var end *streamEnd
	switch {
	case errors.As(err, &end):
		b := append(st.data[:0], `{"reason":`...)
		b = appendString(b, end.reason)
		b = append(b, `,"message":`...)
		b = appendString(b, end.message)
		b = append(b, '}')
		_ = st.out.event(false, 0, "end", b)
		return end.reason
	case ctx.Err() != nil:
		return "closed"
	default:
		// Neither the client nor the stream's rules ended it: the log or
		// the engine failed it (the client reconnects with its
		// Last-Event-ID). Said at WARN, for operators and failed tests.
		st.a.log.Warn("stream ended by an error; its client reconnects", "users", len(st.users), "err", err)
		return err.Error()
	}
}

// start sends what a new or resumed stream begins with: for a resumed one
// (res), the changes after its position that the log holds for each user
// as long as they follow one another, in order; then the state of the
// users whose changes since may be missing (reset), or of everyone (a new
// stream's presence). Only the last event of that batch carries an id
// (head): a client cut off in the middle of it still has its old
// position, and gets the whole batch again.
func (st *streamSession) start(ctx context.Context, res *notify.Resume, head uint64) error {
	if err := st.out.write([]byte("retry: 1000\n\n")); err != nil {
		return err
	}
	for _, id := range st.missing {
		if err := st.removed(id, "This user is no longer in the directory (or no longer visible to the reader): no more events for this user on this stream."); err != nil {
			return err
		}
	}
	if len(st.users) == 0 {
		return &streamEnd{"noUsers", "The reader may no longer see any of the stream's users."}
	}
	if res == nil {
		return st.states(ctx, "presence", head, st.users)
	}
	if err := res.Replay(ctx, st.change); err != nil {
		return err
	}
	var reset []core.UserRef
	for i, m := range res.Missing() {
		if m {
			reset = append(reset, st.users[i])
		}
	}
	return st.states(ctx, "reset", head, reset)
}

// follow sends every change after head until the stream ends; while idle
// it checks the reader once a second and sends a heartbeat every 15 s.
//
// A plain HTTP/1.1 stream that has caught up hands its feed to the
// fanout's writers (direct), and its goroutine only waits for what they
// leave to it: the periodic check, a client whose socket is full (then it
// follows the feed itself until it caught up again), the stream's end.
func (st *streamSession) follow(ctx context.Context, head uint64) error {
	feed := st.a.streams.Open(st.users, head+1)
	st.mu.Lock()
	st.feed = feed
	defer func() {
		st.closed = true
		st.mu.Unlock()
		feed.Close()
	}()
	for {
		if st.out.raw != nil && len(st.out.pending) == 0 && !st.closed {
			feed.TryDirect(st)
		}
		if feed.Direct() {
			if err := st.waitDirect(ctx); err != nil {
				return err
			}
			continue
		}
		e, err := feed.Next(ctx, streamCheck)
		switch {
		case err == nil:
			err = st.change(e)
		case errors.Is(err, notify.ErrIdle):
			err = st.idleCheck()
		case errors.Is(err, notify.ErrLagged):
			// The client reads too slowly: its queued changes were
			// dropped. Give it the state now and end; it reconnects from
			// there, with nothing more to catch up on.
			feed.Close()
			st.closed = true // no writer delivers to it any more
			if head, err = st.a.streams.LastSeq(ctx); err == nil {
				err = st.states(ctx, "reset", head, st.users)
			}
			if err == nil {
				err = &streamEnd{"tooSlow", "The client read the stream too slowly: the changes it had not read were dropped, and the events just sent (reset) carry the state now. Reconnect with Last-Event-ID to go on."}
			}
		}
		if err != nil {
			return err
		}
	}
}

// change sends one change, unless its user was dropped, the reader may no
// longer see them (then they are dropped now), or it was sent already.
func (st *streamSession) change(e notify.Entry) error {
	if err := st.check(); err != nil {
		return err
	}
	c := e.Change
	if len(st.gone) > 0 && st.gone[c.UserID] {
		return nil
	}
	u := core.UserRef{TenantID: c.TenantID, UserID: c.UserID}
	if !st.visible(u) {
		return st.remove(u)
	}
	if last := st.sent[c.UserID]; last != (presence.Stamp{}) && !last.Less(c.Seq) {
		return nil // already sent (a state raced this change)
	}
	st.sent[c.UserID] = c.Seq
	st.idle = 0
	return st.out.write(st.changeEvent(e))
}

// Shapes of a change event that streams share (notify.Entry.Encoded).
const (
	shapeOther = iota // as a reader other than the user reads it
	shapeOwner        // as the user reads their own presence
)

// changeEvent is the whole event of change e (id, type, data) as this
// stream's reader sees it. Every stream of the same user whose reader sees
// it in the same shape sends the same bytes, so they are encoded once per
// change and shape and shared: measured at 10,000 streams, the encoding
// and its framing per stream were ~4 % of the server's CPU per event
// (docs/performance.md).
func (st *streamSession) changeEvent(e notify.Entry) []byte {
	shape := shapeOther
	if isOwner(st.p, e.Change.UserID) {
		shape = shapeOwner
	}
	if b := e.Encoded(shape); b != nil {
		return b
	}
	st.data = appendPresence(st.data[:0], "", e.Change.Snapshot(), shape == shapeOwner)
	// A new slice: the kept bytes are shared and never written again.
	b := appendEvent(make([]byte, 0, len(st.data)+64), true, e.Seq, "presence", st.data)
	return e.KeepEncoded(shape, b)
}

// states sends the state now of users (those still served) as one batch,
// the last event with id head.
func (st *streamSession) states(ctx context.Context, kind string, head uint64, users []core.UserRef) error {
	var serve []core.UserRef
	for _, u := range users {
		if !st.gone[u.UserID] {
			serve = append(serve, u)
		}
	}
	if len(serve) == 0 {
		return nil
	}
	snaps, err := st.a.core.ReadMany(ctx, serve)
	if err != nil {
		return err
	}
	for i, s := range snaps {
		if err := st.send(i == len(snaps)-1, head, kind, s); err != nil {
			return err
		}
	}
	return nil
}

func (st *streamSession) send(hasID bool, id uint64, kind string, s core.Snapshot) error {
	st.sent[s.User.UserID] = s.Seq
	st.data = appendPresence(st.data[:0], "", s, isOwner(st.p, s.User.UserID))
	st.idle = 0
	return st.out.event(hasID, id, kind, st.data)
}

// check holds the stream to what a new request would be allowed: it ends
// once the token expired, and when the directory changed, checks the token
// again (its application, user and tenant still there) and drops the users
// the reader may no longer see.
func (st *streamSession) check() error {
	now := st.a.clock.Now()
	if !st.p.Expires.IsZero() && !now.Before(st.p.Expires) {
		return &streamEnd{"tokenExpired", "The access token expired at " + st.p.Expires.UTC().Format(time.RFC3339) +
			". Reconnect with a new token and lastEventId (the id of the last event received) to go on where the stream ended."}
	}
	v := st.a.dir.Version()
	if v == st.version {
		return nil
	}
	st.version = v
	if _, err := st.a.auth.Validate(st.raw); err != nil {
		var pe *presence.Error
		msg := "The access token is no longer accepted."
		if errors.As(err, &pe) {
			msg = pe.Message
		}
		return &streamEnd{"tokenInvalid", msg}
	}
	for _, u := range st.users {
		if !st.gone[u.UserID] && !st.visible(u) {
			if err := st.remove(u); err != nil {
				return err
			}
		}
	}
	return nil
}

// visible reports whether the reader may still see u: u is still in the
// directory, in the reader's tenant or one that trusts it both ways.
func (st *streamSession) visible(u core.UserRef) bool {
	du, ok := st.a.dir.UserInTenant(u.TenantID, u.UserID)
	return ok && du.ID == u.UserID && st.a.visible(st.p, du)
}

// remove drops u from the stream and tells the client; a stream left with
// nobody ends.
func (st *streamSession) remove(u core.UserRef) error {
	st.gone[u.UserID] = true
	st.idle = 0
	if err := st.removed(u.UserID, "The reader may no longer see this user's presence: no more events for this user on this stream."); err != nil {
		return err
	}
	if len(st.gone) == len(st.users) {
		return &streamEnd{"noUsers", "The reader may no longer see any of the stream's users."}
	}
	return nil
}

// removed writes event: removed for the user id, with message (a JSON
// string's content, written as it is).
func (st *streamSession) removed(id, message string) error {
	b := append(st.data[:0], `{"id":`...)
	b = appendString(b, id)
	b = append(b, `,"message":"`...)
	b = append(b, message...)
	b = append(b, `"}`...)
	st.data = b
	return st.out.event(false, 0, "removed", b)
}
