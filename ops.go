package presenced

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/graphapi"
	"github.com/presenced/presenced/notify"
	"github.com/presenced/presenced/observe"
	"github.com/presenced/presenced/store"
)

// MetricsOff as Config.MetricsAddr turns metrics off.
const MetricsOff = "off"

// Routes of the operations endpoints, outside the Graph paths.
const (
	healthzPath = "/healthz"
	readyzPath  = "/readyz"
	metricsPath = "/metrics"
)

// startObserve makes the server's metrics (unless off) and readiness
// conditions; Start calls it first, so that every part can report.
func (s *Server) startObserve() {
	if s.cfg.MetricsAddr != MetricsOff {
		s.metrics = observe.NewMetrics()
	}
	s.health = &observe.Health{}
	s.dirLoaded = s.health.Flag("directory loaded", "the directory file is being read")
	s.health.Check("engine reachable", func() error {
		if !s.engineOpen.Load() {
			return errors.New("the engine is opening its files")
		}
		if nc := s.engine.Conn(); !nc.IsConnected() {
			return fmt.Errorf("the engine connection is %s", nc.Status())
		}
		return nil
	})
	s.warmed = s.health.Flag("cache warm", "the cache is being warmed from the engine")
	s.metrics.GaugeFunc("ready", "1 when /readyz answers 200, else 0.", func() float64 {
		if ok, _ := s.health.Ready(); ok {
			return 1
		}
		return 0
	})
}

// kv wraps an engine bucket with its metrics and the log lines of its
// failures.
func (s *Server) kv(name string, kv store.KV) store.KV { return observe.KV(kv, name, s.metrics, s.log) }

// observeParts registers the values read at each scrape, once the parts
// that hold them exist.
func (s *Server) observeParts(api *graphapi.API) {
	m := s.metrics
	if m == nil {
		return
	}
	m.ThrottledBy("graph_budget", api.BudgetRefused)
	m.ThrottledBy("in_flight", api.InFlightRefused)
	m.GaugeFunc("cached_users", "Users whose presence is cached in memory.", func() float64 { return float64(s.core.CachedUsers()) })
	m.GaugeFunc("subscriptions", "Webhook subscriptions this node delivers now (in a cluster, those of the shards whose lease it holds).", func() float64 { return float64(s.subs.Count()) })
	m.GaugeFunc("streams_open", "Live streams (Server-Sent Events) open.", func() float64 { return float64(api.OpenStreams()) })
	if l, ok := s.ln.(*limitListener); ok {
		m.GaugeFunc("connections_open", "Client connections open (bounded by --max-connections).", func() float64 { return float64(l.open.Load()) })
	}
	if s.cert != nil {
		m.GaugeFunc("tls_certificate_expiry_timestamp_seconds", "When the TLS certificate being served expires, in Unix seconds.",
			func() float64 { return float64(s.cert.notAfter().Unix()) })
	}
}

// opsHandler serves /healthz, /readyz and (unless it has a listener of its
// own, or is off) /metrics beside h, with the request's logging (metrics
// and access log) around them all, and observe.CloseUnread's guard of a
// body answered early.
func (s *Server) opsHandler(h http.Handler) http.Handler {
	ops := s.opsMux(s.cfg.MetricsAddr == "")
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case healthzPath, readyzPath, metricsPath:
			ops.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
	if s.metrics == nil && !s.cfg.AccessLog {
		return observe.CloseUnread(inner)
	}
	// The guard of bodies answered early is part of Wrap's response
	// writer: one allocation and one wrapper fewer a request.
	o := observe.HTTPOptions{Metrics: s.metrics, Quiet: []string{"GET " + healthzPath, "GET " + readyzPath, "GET " + metricsPath}, CloseUnread: true}
	if s.cfg.AccessLog {
		o.AccessLog = s.log
	}
	return observe.Wrap(inner, o)
}

// opsMux serves the health endpoints, and /metrics when withMetrics.
func (s *Server) opsMux(withMetrics bool) *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET "+healthzPath, s.health.ServeLive)
	m.HandleFunc("GET "+readyzPath, s.health.ServeReady)
	if withMetrics && s.metrics != nil {
		m.Handle("GET "+metricsPath, s.metrics.Handler())
	} else {
		m.HandleFunc(metricsPath, http.NotFound)
	}
	return m
}

// listenMetrics serves /metrics (and the health endpoints) on
// Config.MetricsAddr, when it is an address.
func (s *Server) listenMetrics() error {
	if s.cfg.MetricsAddr == "" || s.cfg.MetricsAddr == MetricsOff {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("presenced: metrics listener: %w", err)
	}
	s.metricsLn = ln
	s.metricsHTTP = &http.Server{Handler: s.opsMux(true), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	go func() { _ = s.metricsHTTP.Serve(ln) }()
	return nil
}

// MetricsAddr is the address of the metrics listener (nil when /metrics is
// on the main listener, or off).
func (s *Server) MetricsAddr() net.Addr {
	if s.metricsLn == nil {
		return nil
	}
	return s.metricsLn.Addr()
}

// Metrics is the server's metrics (nil when off).
func (s *Server) Metrics() *observe.Metrics { return s.metrics }

// Health is the server's readiness: a part that must hold for the server
// to get traffic adds its condition with Health().Check.
func (s *Server) Health() *observe.Health { return s.health }

// drain makes /readyz fail, then waits Config.ShutdownDrain (or until ctx
// ends) while requests are still served: load balancers see the node go
// and stop sending to it before it stops listening. The wait is on the
// wall clock (timers are), whatever the server's clock says.
func (s *Server) drain(ctx context.Context) {
	if s.health == nil {
		return
	}
	s.health.Drain()
	if s.cfg.ShutdownDrain <= 0 || s.noDrain.Load() {
		return
	}
	s.log.Info("draining: /readyz fails while requests are still served", "for", s.cfg.ShutdownDrain)
	t := time.NewTimer(s.cfg.ShutdownDrain)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// ShutdownNow is Shutdown without the drain: for a stop asked for at a
// terminal (the command's SIGINT), where no load balancer waits to see
// /readyz fail.
func (s *Server) ShutdownNow(ctx context.Context) error {
	s.noDrain.Store(true)
	return s.Shutdown(ctx)
}

// stopMetrics closes the metrics listener.
func (s *Server) stopMetrics(ctx context.Context) {
	if s.metricsHTTP == nil {
		return
	}
	if err := s.metricsHTTP.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn("closing the metrics listener", "err", err)
	}
}

// serve serves the main listener in the background: https when TLS is
// on (http.Server offers HTTP/2 through ALPN there), else http.
func (s *Server) serve() {
	if s.cert == nil {
		go func() { s.serveErr <- s.http.Serve(s.ln) }()
		return
	}
	s.http.TLSConfig = s.cert.tlsConfig()
	go func() { s.serveErr <- s.http.ServeTLS(s.ln, "", "") }()
}

// authObserver and notifyObserver are the metrics as the parts' hooks,
// or nil (no interface holding a nil pointer) when metrics are off.
func (s *Server) authObserver() auth.Observer {
	if s.metrics == nil {
		return nil
	}
	return s.metrics
}

func (s *Server) notifyObserver() notify.Observer {
	if s.metrics == nil {
		return nil
	}
	return s.metrics
}
