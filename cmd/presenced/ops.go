package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/observe"
)

// envPrefix starts the environment variable of every flag: --tls-cert is
// PRESENCED_TLS_CERT. Containers and systemd units set variables, not
// command lines.
const envPrefix = "PRESENCED_"

// envName is the environment variable of the flag name.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// fromEnv gives every flag of fs the value of its environment variable,
// when set, and names the variable in the flag's help. Call it after every
// flag is registered and before fs.Parse, so that the command line wins: a
// flag added anywhere gets its variable without a line of its own.
func fromEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		f.Usage += " [$" + name + "]"
		v, ok := lookup(name)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q (--%s): %w", name, v, f.Name, err))
		}
	})
	return errors.Join(errs...)
}

// logFlushInterval is how often buffered log lines are written out
// (observe.LogSink; WARN and above at once).
const logFlushInterval = 100 * time.Millisecond

// opsFlags registers the operations flags (metrics, logs, TLS, shutdown)
// on fs and returns the function that checks them after parsing and
// builds the logger, with the function that writes out what it buffered.
func opsFlags(fs *flag.FlagSet, cfg *presenced.Config) func(stderr io.Writer, level slog.Level) (*slog.Logger, func(), error) {
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "serve /metrics (and /healthz, /readyz) on this `address` instead of the main listener; \"off\": no metrics")
	fs.BoolVar(&cfg.AccessLog, "access-log", true, "log one line per request (request-id, route, status, latency, tenant, app)")
	fs.DurationVar(&cfg.ShutdownDrain, "shutdown-drain", 5*time.Second, "on SIGTERM, how long /readyz fails while requests are still served, before the server stops")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "PEM certificate (chain) `file`: serve https (and HTTP/2); reloaded on SIGHUP")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "PEM private key `file` of --tls-cert")
	format := fs.String("log-format", "text", "log `format`: text or json")
	return func(stderr io.Writer, level slog.Level) (*slog.Logger, func(), error) {
		if cfg.ShutdownDrain < 0 {
			return nil, nil, fmt.Errorf("--shutdown-drain: %s is negative", cfg.ShutdownDrain)
		}
		if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
			return nil, nil, errors.New("--tls-cert and --tls-key go together")
		}
		if *format != "text" && *format != "json" {
			return nil, nil, fmt.Errorf("--log-format: %q is neither text nor json", *format)
		}
		sink := observe.NewLogSink(stderr, logFlushInterval)
		log, err := observe.NewLogger(*format, level, sink)
		if err != nil {
			sink.Close()
			return nil, nil, err
		}
		return log, func() { _ = sink.Close() }, nil
	}
}

// reload is SIGHUP: the directory file (when there is one) and the TLS
// certificate (when TLS is on) are read again; what fails to load is
// logged and the previous one stays.
func reload(srv *presenced.Server, cfg presenced.Config) {
	if cfg.DirectoryFile != "" {
		if err := srv.ReloadDirectory(); err != nil {
			cfg.Logger.Error("directory not reloaded; the previous one stays", "err", err)
		}
		debug.FreeOSMemory() // as after the first load
	}
	if srv.TLS() {
		if err := srv.ReloadTLS(); err != nil {
			cfg.Logger.Error("TLS certificate not reloaded; the previous one stays", "err", err)
		}
	}
}

// stopSignals is how the command is asked to stop: ctx ends at SIGTERM or
// SIGINT, and interactive reports whether it was SIGINT — Ctrl-C at a
// terminal, where no load balancer waits for the drain — rather than a
// supervisor's SIGTERM (systemd, a container engine, Kubernetes). stop
// gives both signals their default back: a second one ends the process.
func stopSignals() (ctx context.Context, interactive func() bool, stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	var got atomic.Value
	go func() {
		select {
		case s := <-ch:
			got.Store(s)
			cancel()
		case <-ctx.Done():
		}
	}()
	interactive = func() bool { s, _ := got.Load().(os.Signal); return s == os.Interrupt }
	return ctx, interactive, func() { signal.Stop(ch); cancel() }
}
