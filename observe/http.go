package observe

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/internal/guid"
	"github.com/presenced/presenced/observe/reqlog"
)

// HTTPOptions configure Wrap.
type HTTPOptions struct {
	// Metrics receives requests by route, method and status (nil: none).
	Metrics *Metrics
	// AccessLog receives one line per request (nil: none): at INFO, or at
	// DEBUG for Quiet routes.
	AccessLog *slog.Logger
	// Quiet routes are probed every few seconds (health, metrics): their
	// lines would bury the others, so they are logged at DEBUG.
	Quiet []string
	// CloseUnread does what the CloseUnread handler does, in the response
	// writer Wrap makes anyway.
	CloseUnread bool
}

// Wrap returns next with the request's logging started: a request-id (the
// Request-Id header, which the Graph API keeps), a reqlog.Info in its
// context, and, when the request is done, its metrics and access line.
func Wrap(next http.Handler, o HTTPOptions) http.Handler {
	h := &handler{next: next, m: o.Metrics, log: o.AccessLog, quiet: map[string]bool{}, closeUnread: o.CloseUnread}
	for _, q := range o.Quiet {
		h.quiet[q] = true
	}
	if o.AccessLog != nil {
		// A Logger's handler never changes: the fast path is decided once.
		if f, ok := o.AccessLog.Handler().(flushing); ok && f.format != "" {
			h.fast = &fastLog{sink: f.sink, format: f.format, level: f.level}
		}
	}
	return h
}

type handler struct {
	next        http.Handler
	m           *Metrics
	log         *slog.Logger
	quiet       map[string]bool
	closeUnread bool
	fast        *fastLog // the access line written by hand (nil: by slog)
}

// fastLog is where the access line goes when NewLogger made the logger:
// written by hand (appendAccessLine) into its sink.
type fastLog struct {
	sink   *LogSink
	format string
	level  slog.Leveler
	second secondCache
}

// recorder is the response writer the handler sees: it notes the status
// and size of the answer, and holds the request's Info and the context
// that carries it (one allocation for the three).
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	info   reqlog.Info
	ctx    reqlog.Ctx // the request's context, carrying info
	// id holds the request-id's characters (info.RequestID is a string
	// over them: never written again once set) and idv the Request-Id
	// header's one value, so that neither is an allocation of its own.
	id  [36]byte
	idv [1]string
	// guard is the request's body with HTTPOptions.CloseUnread (its zero
	// value, guarding nothing, otherwise).
	guard bodyGuard
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Latency is the machine's time, whatever the server's clock says: a
	// monotonic stamp, half a wall-clock read's cost (the access line
	// reads the wall clock for its instant, when there is one).
	start := clock.Mono()
	rec := &recorder{ResponseWriter: w}
	guid.UniqueInto(&rec.id) // unique, not secret: see guid.Unique
	rec.info.RequestID = unsafe.String(&rec.id[0], len(rec.id))
	method := methodIndex(r.Method) // once: the label below is the same
	rec.info.Method = methods[method]
	// The canonical key read directly: Header.Get canonicalises per call.
	if c := r.Header["Client-Request-Id"]; len(c) > 0 && len(c[0]) <= 128 && printable(c[0]) {
		rec.info.ClientRequestID = c[0]
	}
	// Canonical key set directly: Header.Set would canonicalise per request.
	// The value slice is rec's: nothing changes a header's values in place
	// (Set replaces the slice, Add appends past its capacity of one).
	rec.idv[0] = rec.info.RequestID
	w.Header()["Request-Id"] = rec.idv[:]
	// The one copy of the request, for its context; the context itself is
	// part of rec.
	rec.ctx.Init(r.Context(), &rec.info)
	r = r.WithContext(&rec.ctx)
	if h.closeUnread && hasBody(r) {
		rec.guard.body, rec.guard.w, r.Body = r.Body, w, &rec.guard // the copy's body: the caller's request keeps its own
	}
	rec.info.Bind(r)
	if h.m != nil {
		defer h.m.httpInFlight.leave(h.m.httpInFlight.enter(hexDigit(rec.id[0])))
	}
	h.next.ServeHTTP(rec, r)
	rec.guard.end(w)

	took := start.Elapsed()
	status := rec.status
	if status == 0 {
		status = http.StatusOK // the handler wrote nothing: net/http answers 200
	}
	route := r.Pattern
	if route == "" {
		route = "unmatched"
	}
	if h.m != nil {
		c := h.m.routes.get(h.m, routeKey{route: route, method: method, status: statusIndex(status)})
		c.count.Inc()
		c.duration.Observe(took.Seconds())
	}
	if h.log != nil {
		h.logRequest(r, rec, clock.Real{}.Now(), took, route, status)
	}
}

// logRequest writes the access line. It calls the handler itself rather
// than Logger.LogAttrs, which would read the clock again and capture the
// caller's program counter (runtime.Callers) for a source no access line
// shows: measured, a quarter of the line's cost.
func (h *handler) logRequest(r *http.Request, rec *recorder, end time.Time, took time.Duration, route string, status int) {
	level := slog.LevelInfo
	if h.quiet[route] {
		level = slog.LevelDebug
	}
	i := &rec.info
	if f := h.fast; f != nil {
		if level < f.level.Level() { // slog's handlers' Enabled
			return
		}
		l := accessLine{at: end, level: level.String(), requestID: i.RequestID, clientRequestID: i.ClientRequestID, method: i.Method,
			route: route, tenant: i.Tenant, app: i.App, remote: r.RemoteAddr, status: status, latency: took, bytes: rec.bytes}
		bp := lineBufs.Get().(*[]byte)
		b, ok := appendAccessLine((*bp)[:0], f.format, &l, &f.second)
		if ok {
			_, _ = f.sink.Write(b)
		}
		*bp = b
		lineBufs.Put(bp)
		if ok {
			return
		}
	}
	ctx := context.Background()
	lh := h.log.Handler()
	if !lh.Enabled(ctx, level) {
		return
	}
	line := slog.NewRecord(end, level, "request", 0)
	line.AddAttrs(
		slog.String("request_id", i.RequestID),
		slog.String("client_request_id", i.ClientRequestID),
		slog.String("method", i.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("latency", took),
		slog.String("tenant", i.Tenant),
		slog.String("app", i.App),
		slog.Int64("bytes", rec.bytes),
		slog.String("remote", r.RemoteAddr))
	_ = lh.Handle(ctx, line)
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 { // 1xx are interim answers
		r.status = code
	}
	r.guard.start(r.ResponseWriter)
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.guard.start(r.ResponseWriter)
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Flush lets the live stream flush through the recorder (it asserts
// http.Flusher on its writer).
func (r *recorder) Flush() {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.guard.start(r.ResponseWriter)
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (deadlines).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// methods are the label values of the method label: a request's method is
// whatever its client wrote, so any other is "OTHER".
var methods = [...]string{"OTHER", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

func methodIndex(m string) uint8 {
	for i := 1; i < len(methods); i++ {
		if methods[i] == m {
			return uint8(i)
		}
	}
	return 0
}

// statusIndex is the status as a label key: 0 for anything outside
// 100–599, which a handler should never write.
func statusIndex(s int) uint16 {
	if s < 100 || s > 599 {
		return 0
	}
	return uint16(s)
}

func statusLabel(s uint16) string {
	if s == 0 {
		return "other"
	}
	return strconv.Itoa(int(s))
}

// routeKey is one combination of the request metrics' labels.
type routeKey struct {
	route  string
	method uint8
	status uint16
}

// routeChild is the counter and histogram of one routeKey, resolved once:
// a request then finds them with one map read, without building label
// values or hashing them in the vectors.
type routeChild struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// routeTable maps routeKeys to their children, copy-on-write: reads take
// no lock, and a new combination (a few dozen in a server's life) copies
// the map once.
type routeTable struct {
	cur atomic.Pointer[map[routeKey]*routeChild]
	mu  sync.Mutex
}

// maxRouteKeys bounds the table, should routes ever stop being bounded:
// combinations past it are counted under route "other".
const maxRouteKeys = 4096

func (t *routeTable) get(m *Metrics, k routeKey) *routeChild {
	if cur := t.cur.Load(); cur != nil {
		if c, ok := (*cur)[k]; ok {
			return c
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var old map[routeKey]*routeChild
	if cur := t.cur.Load(); cur != nil {
		old = *cur
	}
	if c, ok := old[k]; ok {
		return c
	}
	if len(old) >= maxRouteKeys {
		k.route = "other"
		if c, ok := old[k]; ok {
			return c
		}
	}
	next := make(map[routeKey]*routeChild, len(old)+1)
	for kk, c := range old {
		next[kk] = c
	}
	labels := []string{k.route, methods[k.method], statusLabel(k.status)}
	c := &routeChild{count: m.httpRequests.WithLabelValues(labels...), duration: m.httpDuration.WithLabelValues(labels...)}
	next[k] = c
	t.cur.Store(&next)
	return c
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
