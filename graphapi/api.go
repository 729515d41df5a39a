// Package graphapi serves Microsoft Graph's presence API over HTTP: routes
// under /v1.0 and /beta, bearer-token checks, strict request decoding, and
// responses and errors shaped as Graph's. It translates; the rules live in
// package presence and the state in package core.
package graphapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/auth/throttle"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/guid"
	"github.com/presenced/presenced/mailbox"
	"github.com/presenced/presenced/observe/reqlog"
	"github.com/presenced/presenced/presence"
)

// Authenticator turns a bearer token into a principal.
type Authenticator interface {
	Validate(raw string) (auth.Principal, error)
}

// DevClock is the movable clock of dev mode.
type DevClock interface {
	Now() time.Time
	Offset() time.Duration
	// Advance moves time forward by d durably and returns the new offset.
	Advance(ctx context.Context, d time.Duration) (time.Duration, error)
}

// Options configure the API. BaseURL, Core, Directory, Auth and Clock are
// required; the rest have defaults or are off when unset.
type Options struct {
	// BaseURL is the public URL clients reach the server at (the
	// configured public URL, e.g. https://presence.example.com): every URL
	// the API writes (@odata.context, Location, a 401's authorization_uri)
	// starts with it.
	BaseURL   string
	Core      *core.Core
	Directory *directory.Directory
	Auth      Authenticator
	Clock     clock.Clock
	Logger    *slog.Logger
	// MaxBody is the largest request body accepted, in bytes (default
	// 128 KiB: 650 long userPrincipalNames fit comfortably).
	MaxBody int64
	// SessionLimits caps each user's live sessions, per application and in
	// total (zero fields: presence's defaults, 16 and 64).
	SessionLimits presence.SessionLimits
	// DevClock, when set, enables the /dev endpoints (dev mode only).
	DevClock DevClock
	// Subscriptions, when set, serves /subscriptions (change notifications).
	Subscriptions Subscriptions
	// Streams, when set, serves the live stream (StreamPath).
	Streams Streams
	// Budget is each application's request budget per tenant (Graph's
	// throttling, 429 over it); nil: no budget.
	Budget *throttle.Budget
	// MaxInFlight is how many requests the API serves at once; over it a
	// request is answered 503 at once (zero or less: no limit; the server
	// passes DefaultMaxInFlight).
	MaxInFlight int
	// Mailbox, when set, serves events, calendarView and mailboxSettings.
	Mailbox *mailbox.Mailbox
	// Changes, when set, gives the explain endpoint each user's recent
	// changes (the change log).
	Changes ChangeLog
	// Users, when set, serves user administration: GET, PATCH and DELETE
	// /users/{id}, POST /users (the directory store).
	Users Users
	// StreamWriteTimeout bounds each write of the live stream (an event or
	// a heartbeat), so that a stream nobody reads is dropped. It replaces
	// the server's WriteTimeout, which bounds a whole response and would
	// end every stream. Zero: no bound.
	StreamWriteTimeout time.Duration
}

// MaxIDs is the most ids getPresencesByUserId (and the stream) accepts:
// presence.MaxIDs, counted by presence.CheckIDCount.
const MaxIDs = presence.MaxIDs

// API is the Graph presence HTTP handler.
type API struct {
	core    *core.Core
	dir     *directory.Directory
	auth    Authenticator
	clock   clock.Clock
	log     *slog.Logger
	maxBody int64
	limits  presence.SessionLimits
	dev     DevClock
	// baseURL is Options.BaseURL without a trailing slash; rootV1 and
	// rootBeta are it followed by the API version.
	baseURL, rootV1, rootBeta string
	subs                      Subscriptions
	streams                   Streams
	mail                      *mailbox.Mailbox
	changes                   ChangeLog
	users                     Users
	mux                       *http.ServeMux

	streamWriteTimeout time.Duration
	streamsOpen        atomic.Int64 // for OpenStreams
	budgetRefused      atomic.Int64 // for Throttled

	budget   *throttle.Budget
	inFlight *inFlight // nil: no limit

	// known and cachedToken are the authenticator's Known and Cached, when
	// it has them (auth.Chain), resolved once: see principal.
	known       func(string) bool
	cachedToken func(string) (auth.Principal, bool)

	// streamsDone ends every open stream when the server shuts down
	// (streams never go idle, so a graceful shutdown would wait forever).
	streamsDone context.Context
	stopStreams context.CancelFunc
}

// StopStreams ends every open live stream; register it with
// http.Server.RegisterOnShutdown.
func (a *API) StopStreams() { a.stopStreams() }

// New builds the handler.
func New(o Options) *API {
	a := &API{core: o.Core, dir: o.Directory, auth: o.Auth, clock: o.Clock, log: o.Logger, maxBody: o.MaxBody, limits: o.SessionLimits, dev: o.DevClock, subs: o.Subscriptions, streams: o.Streams, mail: o.Mailbox, changes: o.Changes, users: o.Users, streamWriteTimeout: o.StreamWriteTimeout, budget: o.Budget}
	if k, ok := a.auth.(interface{ Known(string) bool }); ok {
		a.known = k.Known
	}
	if c, ok := a.auth.(interface {
		Cached(string) (auth.Principal, bool)
	}); ok {
		a.cachedToken = c.Cached
	}
	if o.MaxInFlight > 0 {
		a.inFlight = &inFlight{max: int64(o.MaxInFlight)}
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.baseURL = strings.TrimSuffix(o.BaseURL, "/")
	a.rootV1, a.rootBeta = a.baseURL+"/v1.0", a.baseURL+"/beta"
	a.streamsDone, a.stopStreams = context.WithCancel(context.Background())
	if a.maxBody <= 0 {
		a.maxBody = 128 << 10
	}
	m := http.NewServeMux()
	for _, v := range []string{"/v1.0", "/beta"} {
		if a.users != nil {
			m.Handle(v+"/users", a.methods(route{"GET", a.listUsers}, route{"POST", a.createUser}))
			m.Handle(v+"/users/{id}", a.methods(route{"GET", a.getUser(subjectUsers)}, route{"PATCH", a.updateUser}, route{"DELETE", a.deleteUser}))
			m.Handle(v+"/me", a.method("GET", a.getUser(subjectMe)))
		} else {
			m.Handle(v+"/users", a.method("GET", a.listUsers))
		}
		m.Handle(v+"/me/presence", a.method("GET", a.getPresence(subjectMe)))
		m.Handle(v+"/users/{id}/presence", a.method("GET", a.getPresence(subjectUsers))) // GET: presencePath first
		m.Handle(v+"/communications/presences/{id}", a.method("GET", a.getPresence(subjectPresences)))
		m.Handle(v+"/communications/presences", a.method("GET", a.listPresences))
		m.Handle(v+"/communications/getPresencesByUserId", a.method("POST", a.getPresencesByUserID))
		m.Handle(v+"/me/presence/{action}", a.method("POST", a.action(subjectMe)))
		m.Handle(v+"/users/{id}/presence/{action}", a.method("POST", a.action(subjectUsers)))
		m.Handle(v+"/communications/presences/{id}/{action}", a.method("POST", a.action(subjectPresences)))
		m.Handle(v+"/subscriptions", a.methods(route{"GET", a.listSubscriptions}, route{"POST", a.createSubscription}))
		m.Handle(v+"/$batch", a.method("POST", a.batch))
		m.Handle(v+"/subscriptions/{id}", a.methods(route{"GET", a.subscriptionItem}, route{"PATCH", a.subscriptionItem}, route{"DELETE", a.subscriptionItem}))
		if a.mail != nil {
			a.routeCalendar(m, v)
			a.routeWorkPlan(m, v)
		}
	}
	m.Handle(StreamPath, a.method("GET", a.stream))
	m.Handle(ExplainPath, a.method("GET", a.explain(subjectUsers)))
	m.Handle("/presenced/v1/me/presence/explain", a.method("GET", a.explain(subjectMe)))
	if a.dev != nil {
		m.Handle("/dev/clock", a.method("GET", a.getDevClock))
		m.Handle("/dev/clock/advance", a.method("POST", a.advanceDevClock))
	}
	m.HandleFunc("/", a.notFound)
	a.mux = m
	return a
}

// ServeHTTP stamps every response with request-id (and echoes
// client-request-id) before routing, so that every error carries both,
// and answers browsers of other origins (see cors).
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.stamp(w.Header(), r)
	if cors(w, r) {
		return
	}
	if a.inFlight != nil && guarded(r) {
		if !a.inFlight.enter() {
			a.overloaded(w, r)
			return
		}
		defer a.inFlight.leave()
	}
	switch r.Method {
	case http.MethodGet:
		if pattern, id, ok := presencePath(r); ok {
			r.Pattern = pattern // what the mux sets: the route of the request's metrics and log line
			a.servePresence(w, r, subjectUsers, id)
			return
		}
	case http.MethodPost:
		if pattern, id, action, spec, ok := actionPath(r); ok {
			r.Pattern = pattern
			a.serveAction(w, r, subjectUsers, id, action, spec, true)
			return
		}
	}
	a.route(w, r)
}

// route serves r by the mux, a request on its own or one of a batch; a
// path the mux would redirect is answered a Graph error instead.
func (a *API) route(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; cleanPath(p) != p {
		a.uncleanPath(w, r)
		return
	}
	a.mux.ServeHTTP(w, r)
}

// notFound answers a path no route serves. A path that a route serves
// but for a trailing '/' (/v1.0/users/{id}/presence/) says so: it was
// "Resource not found for the segment 'presence'", naming a segment that
// is right. Only the mux's 404 comes here, so the fast routes before it
// pay nothing for the check.
func (a *API) notFound(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; len(p) > 1 && p[len(p)-1] == '/' {
		u := *r.URL
		u.Path, u.RawPath = p[:len(p)-1], strings.TrimSuffix(u.RawPath, "/")
		if _, pattern := a.mux.Handler(&http.Request{Method: r.Method, Host: r.Host, URL: &u}); pattern != "/" {
			a.writeError(w, r, errBody(http.StatusNotFound, "BadRequest",
				fmt.Sprintf("The request URL path '%s' ends in '/': write it without ('%s').", clip(p), clip(u.Path))))
			return
		}
	}
	a.writeError(w, r, errBody(http.StatusNotFound, "BadRequest",
		fmt.Sprintf("Resource not found for the segment '%s'. presenced serves the presence API under /v1.0 and /beta.", lastSegment(r.URL.Path))))
}

// cleanPath is the path ServeMux would redirect p to (net/http's own
// cleanPath): no empty, "." or ".." segments, a trailing slash kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// uncleanPath answers a path with an empty, "." or ".." segment with a
// Graph error, where ServeMux would answer an HTML 307 to the cleaned path:
// an SDK given an empty user id asks for /users//presence, and following
// the redirect (a POST too, body and all) reached /users/presence, whose
// answer named 'presence' as the user id the caller never wrote.
func (a *API) uncleanPath(w http.ResponseWriter, r *http.Request) {
	msg := fmt.Sprintf("The request URL path '%s' has an empty segment ('//'): a user id or another key is missing from it.", clip(r.URL.Path))
	if !strings.Contains(r.URL.Path, "//") {
		msg = fmt.Sprintf("The request URL path '%s' has a '.' or '..' segment; write the path without them.", clip(r.URL.Path))
	}
	a.writeError(w, r, errBody(http.StatusBadRequest, "invalidRequest", msg))
}

// stamp sets a response's request-id, and its client-request-id: the
// caller's, echoed, or the request-id when the caller sent none (or one it
// cannot echo safely), as Graph does.
func (a *API) stamp(h http.Header, r *http.Request) {
	// The keys are set in canonical form: Header.Set would allocate the
	// canonical "Request-Id" on every request.
	v := h["Request-Id"]
	if len(v) != 1 { // else the one the request's logging started with (observe.Wrap)
		v = []string{guid.Unique()} // unique, not secret: see guid.Unique
		h["Request-Id"] = v
	}
	// Graph echoes the caller's client-request-id, and uses the request-id
	// when the caller sent none (or one it cannot echo safely).
	// The canonical key read directly: Header.Get canonicalises (and
	// allocates) a lower-case key on every request.
	if c := r.Header["Client-Request-Id"]; len(c) > 0 && c[0] != "" && len(c[0]) <= 128 && printable(c[0]) {
		v = c[:1:1]
	}
	// The value slice is shared, with Request-Id or with the request's
	// header: nothing changes a header's values in place (Set replaces the
	// slice, Add appends past its capacity of one), and it saves an
	// allocation a request.
	h["Client-Request-Id"] = v
}

// method restricts h to one HTTP method with a Graph-style 405 otherwise.
func (a *API) method(m string, h http.HandlerFunc) http.Handler { return a.methods(route{m, h}) }

// route is the handler of one HTTP method of a path.
type route struct {
	method string
	h      http.HandlerFunc
}

// methods serves a path that takes the methods of routes (named in that
// order in the Allow header) and answers any other with a Graph-style 405,
// rather than ServeMux's plain-text one (or its 404, when a path's every
// pattern names a method).
func (a *API) methods(routes ...route) http.Handler {
	allowed := make([]string, len(routes))
	for i, rt := range routes {
		allowed[i] = rt.method
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, rt := range routes {
			if r.Method == rt.method {
				rt.h(w, r)
				return
			}
		}
		a.notAllowed(w, r, allowed)
	})
}

// notAllowed answers 405 with Graph's code for a method a resource does
// not support (notSupported) and the Allow header RFC 9110 requires.
func (a *API) notAllowed(w http.ResponseWriter, r *http.Request, allowed []string) {
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	use := allowed[len(allowed)-1]
	if n := len(allowed); n > 1 {
		use = strings.Join(allowed[:n-1], ", ") + " or " + use
	}
	a.writeError(w, r, errBody(http.StatusMethodNotAllowed, "notSupported",
		fmt.Sprintf("The HTTP method '%s' is not supported on %s; use %s.", clip(r.Method), clip(r.URL.Path), use)))
}

// principal authenticates the request's bearer token. A token the
// authenticator took before and that is still valid (auth.Chain.Cached)
// is looked up once, and its principal is the answer: the character check
// and Validate, which would look it up again, are skipped.
func (a *API) principal(r *http.Request) (auth.Principal, error) {
	// The header first, then the cache, then (for a token not cached) the
	// character check and Validate: BearerTokenKnown's steps in its order,
	// without the callback it would call the cache through, whose frames,
	// each holding a Principal, took a GET's stack past its first 8 KiB —
	// and every collection shrank it back, so that each connection's next
	// request copied its stack to grow it again (~0.5 µs a GET).
	raw, err := auth.BearerTokenUnchecked(r)
	if err != nil {
		return auth.Principal{}, err
	}
	var p auth.Principal
	cached := false
	if a.cachedToken != nil {
		p, cached = a.cachedToken(raw)
	}
	if !cached {
		if a.known == nil || !a.known(raw) {
			if err := auth.CheckTokenChars(raw); err != nil {
				return auth.Principal{}, err
			}
		}
		if p, err = a.auth.Validate(raw); err != nil {
			return p, err
		}
	}
	reqlog.SetCaller(r.Context(), p.TenantID, p.ClientID) // for the request's log lines
	return p, nil
}

// subjectKind says how the path names the user.
type subjectKind int

const (
	subjectMe subjectKind = iota
	subjectUsers
	subjectPresences
)

// checkUserID rejects what is neither an object id nor a userPrincipalName.
func checkUserID(field, id string) error {
	if directory.IsUserID(id) {
		return nil
	}
	return presence.Errorf(presence.Invalid, field,
		"'%s' is neither a user object id (a GUID such as 'fa8bf3dc-eca7-46b7-bad1-db199b62afc3') nor a userPrincipalName (such as 'adele@contoso.dev').", clip(id))
}

// lookup finds the user named by idOrUPN as the principal may see it. A
// user the principal's tenant may not see is reported exactly as an unknown
// one (semantics §6).
func (a *API) lookup(p auth.Principal, field, idOrUPN string) (directory.User, error) {
	if err := checkUserID(field, idOrUPN); err != nil {
		return directory.User{}, err
	}
	u, ok := a.find(p, idOrUPN)
	if !ok {
		return directory.User{}, presence.Errorf(presence.NotFound, field, "User '%s' was not found.", clip(idOrUPN))
	}
	return u, nil
}

// find is lookup of an id that already passed checkUserID, without
// building an error for a user it does not find.
func (a *API) find(p auth.Principal, idOrUPN string) (directory.User, bool) {
	u, ok := a.dir.User(idOrUPN)
	if !ok || !a.visible(p, u) {
		return directory.User{}, false
	}
	return u, true
}

// visible reports whether p's tenant may see u: its own tenant, or a
// tenant with which it trusts each other (semantics §6).
func (a *API) visible(p auth.Principal, u directory.User) bool {
	return strings.EqualFold(p.TenantID, u.TenantID) || a.dir.Trusted(p.TenantID, u.TenantID)
}

// subject resolves the user a request is about.
func (a *API) subject(r *http.Request, kind subjectKind, p auth.Principal) (directory.User, error) {
	return a.subjectID(kind, p, r.PathValue("id"))
}

// subjectID is subject of the user id names (unused for /me).
func (a *API) subjectID(kind subjectKind, p auth.Principal, id string) (directory.User, error) {
	if kind == subjectMe {
		if !p.Delegated {
			return directory.User{}, presence.Errorf(presence.Invalid, "",
				"/me request is only valid with delegated authentication flow: a signed-in user is required, and this token is an application token. Use /users/{id}/presence instead.")
		}
		u, ok := a.dir.User(p.UserID)
		if !ok {
			return directory.User{}, presence.Errorf(presence.NotFound, "", "The signed-in user '%s' was not found.", p.UserID)
		}
		return u, nil
	}
	return a.lookup(p, "id", id)
}

func ref(u directory.User) core.UserRef { return core.UserRef{TenantID: u.TenantID, UserID: u.ID} }

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// clip keeps echoed input short in messages.
func clip(s string) string {
	return presence.Clip(s, 80)
}

func lastSegment(p string) string {
	p = strings.TrimSuffix(p, "/")
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return clip(p[i+1:])
	}
	return clip(p)
}
