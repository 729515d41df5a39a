package observe

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Health answers /healthz (the process serves) and /readyz (it should get
// traffic). Readiness is a list of named conditions, each cheap to check
// (an atomic flag, a connection's state: never an engine round trip, since
// a load balancer asks every few seconds), and false while the server
// drains before it stops. It is safe for concurrent use.
type Health struct {
	mu       sync.Mutex
	checks   []check
	draining atomic.Bool
}

type check struct {
	name string
	fn   func() error
}

// Check adds a readiness condition: the server is ready only while fn
// returns nil (its error says why not, on /readyz). Adding one is one line
// where the condition's state lives.
func (h *Health) Check(name string, fn func() error) {
	h.mu.Lock()
	h.checks = append(h.checks, check{name, fn})
	h.mu.Unlock()
}

// Flag adds a condition that holds once it is set (directory loaded,
// cache warm); until then /readyz reports notYet.
func (h *Health) Flag(name, notYet string) *Flag {
	f := &Flag{}
	err := errors.New(notYet)
	h.Check(name, func() error {
		if f.ok.Load() {
			return nil
		}
		return err
	})
	return f
}

// Flag is a condition that is false until Set.
type Flag struct{ ok atomic.Bool }

// Set makes the condition hold.
func (f *Flag) Set() { f.ok.Store(true) }

// Drain makes the server not ready from now on: it is about to stop.
func (h *Health) Drain() { h.draining.Store(true) }

// errDraining is what /readyz says while the server drains.
var errDraining = errors.New("the server is shutting down")

// Status is one condition's state: Err nil when it holds.
type Status struct {
	Name string
	Err  error
}

// Ready reports whether every condition holds and the server does not
// drain, and each condition's state.
func (h *Health) Ready() (bool, []Status) {
	h.mu.Lock()
	checks := h.checks
	h.mu.Unlock()
	ready := true
	out := make([]Status, 0, len(checks)+1)
	if h.draining.Load() {
		ready = false
		out = append(out, Status{"shutdown", errDraining})
	}
	for _, c := range checks {
		err := c.fn()
		if err != nil {
			ready = false
		}
		out = append(out, Status{c.name, err})
	}
	return ready, out
}

// ServeLive answers /healthz: 200 while the process serves requests.
func (h *Health) ServeLive(w http.ResponseWriter, r *http.Request) {
	writeText(w, http.StatusOK, "ok\n")
}

// ServeReady answers /readyz: 200 when ready, else 503; the body says each
// condition's state, one per line ("ok: engine reachable", "failed: cache
// warm: …").
func (h *Health) ServeReady(w http.ResponseWriter, r *http.Request) {
	ready, st := h.Ready()
	var b strings.Builder
	for _, s := range st {
		if s.Err == nil {
			b.WriteString("ok: " + s.Name + "\n")
		} else {
			b.WriteString("failed: " + s.Name + ": " + s.Err.Error() + "\n")
		}
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeText(w, status, b.String())
}

func writeText(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
