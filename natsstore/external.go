package natsstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// ExternalOptions connect the engine to a NATS cluster an operator runs,
// with JetStream enabled, as NATS users expect: server URLs, a
// credentials file, TLS.
type ExternalOptions struct {
	// URLs are the servers' client URLs (nats://host:4222, tls://…); the
	// client learns the rest of the cluster from them.
	URLs []string
	// Creds is a credentials file (a user JWT and its NKey seed), as
	// `nsc` and `nats` write them ("": none).
	Creds string
	// TLS: CA verifies the servers' certificates (default: the system's
	// roots); Cert and Key are a client certificate, for servers that
	// ask for one (both or neither).
	TLS TLSFiles
}

func (x *ExternalOptions) validate() error {
	if len(x.URLs) == 0 {
		return errors.New("natsstore: open: external NATS needs at least one server URL (--nats-url nats://host:4222,…)")
	}
	for _, u := range x.URLs {
		if strings.TrimSpace(u) == "" {
			return errors.New("natsstore: open: an empty NATS server URL")
		}
	}
	if (x.TLS.Cert == "") != (x.TLS.Key == "") {
		return errors.New("natsstore: open: a NATS client certificate needs both its certificate and its key file")
	}
	return nil
}

// connectExternal connects to the operator's NATS. The connection
// reconnects for ever (to any server of the cluster): a write meanwhile
// fails with store.ErrUnavailable once its wait ends.
func (e *Engine) connectExternal(ctx context.Context) error {
	x := e.opts.External
	name := e.opts.ServerName
	if name == "" {
		name = "presenced"
	}
	opts := []nats.Option{
		nats.Name(name + "-natsstore"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		// The first connection is retried like a lost one: the start waits
		// for the cluster (waitForJetStream), bounded by its context.
		nats.RetryOnFailedConnect(true),
		nats.ClosedHandler(func(*nats.Conn) { close(e.closed) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				e.log.Warn("lost the connection to NATS; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			e.log.Info("reconnected to NATS", "server", nc.ConnectedUrlRedacted())
		}),
	}
	if x.Creds != "" {
		opts = append(opts, nats.UserCredentials(x.Creds))
	}
	if x.TLS.CA != "" {
		opts = append(opts, nats.RootCAs(x.TLS.CA))
	}
	if x.TLS.Cert != "" {
		opts = append(opts, nats.ClientCert(x.TLS.Cert, x.TLS.Key))
	}
	nc, err := nats.Connect(strings.Join(x.URLs, ","), opts...)
	if err != nil {
		return fmt.Errorf("natsstore: open: connect to NATS at %s: %w", strings.Join(x.URLs, ","), err)
	}
	e.nc = nc
	if err := ctx.Err(); err != nil {
		nc.Close()
		return fmt.Errorf("natsstore: open: %w", err)
	}
	return nil
}
