package natsstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/presenced/presenced/clock"
)

// ClusterOptions make the embedded server a node of a NATS cluster: the
// same cluster name on every node, and every node's route address in
// Routes. JetStream sizes its meta group from the routes, so give every
// node the same full list (a node ignores the route to itself).
type ClusterOptions struct {
	// Name is the cluster's name, the same on every node.
	Name string
	// Listen is the host:port this node's routes listen on (where the
	// other nodes' Routes point).
	Listen string
	// Routes are the nats://host:port route addresses of the nodes.
	Routes []string
	// ClientListen is the host:port NATS clients (tools, other presenced
	// nodes in external mode) reach this node at. A clustered server must
	// listen (nats-server's DontListen prevents clustering); presenced
	// itself reaches it in-process. Default "127.0.0.1:-1": loopback, a
	// port the system picks.
	ClientListen string
	// TLS, when set, secures and authenticates the routes: each node
	// presents Cert and Key and accepts only peers whose certificate CA
	// verifies.
	TLS *TLSFiles
}

// TLSFiles names PEM files.
type TLSFiles struct {
	CA   string // certificate authorities to verify the other side with
	Cert string // this side's certificate
	Key  string // its private key
}

// DefaultClientListen is where a clustered node listens for NATS clients
// unless told: loopback, on a port the system picks.
const DefaultClientListen = "127.0.0.1:-1"

func (c *ClusterOptions) validate(node string) error {
	switch {
	case node == "":
		return errors.New("natsstore: open: a cluster node needs a name (Options.ServerName, --node-name), unique in the cluster and never changed")
	case c.Name == "":
		return errors.New("natsstore: open: a cluster node needs the cluster's name (--cluster-name)")
	case len(c.Routes) == 0:
		return errors.New("natsstore: open: a cluster node needs the routes of the cluster's nodes (--routes nats://host:port,…)")
	}
	if _, _, err := hostPort(c.Listen, "cluster listen address"); err != nil {
		return err
	}
	if c.ClientListen != "" {
		if _, _, err := hostPort(c.ClientListen, "client listen address"); err != nil {
			return err
		}
	}
	if _, err := routeURLs(c.Routes); err != nil {
		return err
	}
	if c.TLS != nil && (c.TLS.Cert == "" || c.TLS.Key == "" || c.TLS.CA == "") {
		return errors.New("natsstore: open: cluster TLS needs a certificate, its key and the CA that signed the nodes' certificates")
	}
	return nil
}

// hostPort splits "host:port" (port -1: one the system picks).
func hostPort(addr, what string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err == nil {
		var port int
		if port, err = strconv.Atoi(p); err == nil && (port < -1 || port > 65535) {
			err = errors.New("port out of range")
		}
		if err == nil {
			return host, port, nil
		}
	}
	return "", 0, fmt.Errorf("natsstore: open: %s %q: want host:port: %v", what, addr, err)
}

// routeURLs parses route addresses: nats://host:port (nats-route:// and
// tls:// too), or a bare host:port.
func routeURLs(routes []string) ([]*url.URL, error) {
	var out []*url.URL
	for _, r := range routes {
		r = strings.TrimSpace(r)
		if !strings.Contains(r, "://") {
			r = "nats://" + r
		}
		u, err := url.Parse(r)
		if err == nil && (u.Host == "" || u.Port() == "") {
			err = errors.New("no host:port")
		}
		if err != nil {
			return nil, fmt.Errorf("natsstore: open: route %q: want nats://host:port: %v", r, err)
		}
		out = append(out, u)
	}
	return out, nil
}

// startEmbedded starts the embedded nats-server (a single node, or a
// node of a cluster), waits until it is ready and connects to it
// in-process.
func (e *Engine) startEmbedded(ctx context.Context) error {
	o := e.opts
	dir := o.Dir
	if dir == "" {
		// JetStream still wants a store directory for its metadata.
		d, err := os.MkdirTemp("", "presenced-natsstore-")
		if err != nil {
			return fmt.Errorf("natsstore: open: temp dir: %w", err)
		}
		dir, e.tmpDir = d, d
	}
	name := o.ServerName
	if name == "" {
		name = "presenced"
	}
	e.store = filepath.Join(dir, "jetstream")

	var minFree uint64
	if !o.Memory {
		if err := os.MkdirAll(e.store, 0o700); err != nil {
			return fmt.Errorf("natsstore: open: %w", err)
		}
		if total, free, err := volumeOf(e.store); err == nil {
			if o.MaxStore == 0 {
				o.MaxStore = int64(total)
			}
			switch {
			case o.MinFree > 0:
				minFree = uint64(o.MinFree)
			case o.MinFree == 0:
				minFree = defaultMinFree(total)
			}
			if err := roomToStart(e.store, free, minFree); err != nil {
				return err
			}
		}
	}
	sopts := &server.Options{
		ServerName: name,
		DontListen: true,
		NoSigs:     true, // the process owns its signals, not the library
		JetStream:  true,
		StoreDir:   e.store,
		SyncAlways: o.SyncAlways,
		// 0 lets nats-server apply its default (2m).
		SyncInterval: o.SyncInterval,
	}
	if o.MaxStore > 0 {
		sopts.JetStreamMaxStore = o.MaxStore
	}
	if o.Cluster != nil {
		if err := clusterServerOptions(sopts, o.Cluster); err != nil {
			e.removeTmp()
			return err
		}
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		e.removeTmp()
		return fmt.Errorf("natsstore: open: new server: %w", err)
	}
	log := &slogLogger{l: e.log.With("component", "nats-server")}
	if minFree > 0 {
		e.guard = newGuard(e, e.store, minFree)
		log.hook = e.guard.engineLogged
	}
	srv.SetLoggerV2(log, false, false, false)
	e.srv = srv
	e.srvLog = log

	fail := func(what string, err error) error {
		srv.Shutdown()
		srv.WaitForShutdown()
		e.removeTmp()
		return fmt.Errorf("natsstore: open: %s: %w", what, err)
	}

	// Start recovers every stream before it returns; run it aside so ctx can
	// give up on a slow recovery.
	started := make(chan struct{})
	go func() { defer close(started); srv.Start() }()
	select {
	case <-started:
	case <-ctx.Done():
		go func() { <-started; srv.Shutdown() }()
		e.removeTmp()
		return fmt.Errorf("natsstore: open: waiting for nats-server to start: %w", ctx.Err())
	}
	if ferr := log.fatal(); ferr != nil {
		return fail("start nats-server", ferr)
	}
	wait := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		// The deadline is wall-clock time: start-up waits in real time.
		wait = -clock.Since(clock.Real{}, dl)
	}
	if !srv.ReadyForConnections(wait) {
		return fail("nats-server", errors.New("not ready for connections"))
	}
	if !srv.JetStreamEnabled() {
		return fail("nats-server", errors.New("JetStream is not enabled"))
	}

	nc, err := nats.Connect("",
		nats.InProcessServer(srv),
		nats.Name(name+"-natsstore"),
		nats.NoReconnect(), // an in-process server does not come back
		// No write deadline on the in-process pipe: with one, every flush
		// set and cleared a deadline, which on a net.Pipe starts and stops
		// a timer (time.AfterFunc: ~2 allocations and two timer-heap
		// operations a flush, one flush a write when writes are few).
		// The pipe's reader is the server's read loop in this process:
		// nothing is slow to read but a server that is stuck, and then
		// every request still ends at its own timeout (publishTimeout,
		// the guard's wait) and reports the engine unavailable, as before.
		nats.FlusherTimeout(0),
		nats.ClosedHandler(func(*nats.Conn) { close(e.closed) }),
	)
	if err != nil {
		return fail("connect in-process", err)
	}
	e.nc = nc
	if o.Cluster == nil {
		if e.raw, err = rawConnect(srv, name+"-natsstore-writes"); err != nil {
			nc.Close()
			return fail("connect in-process", err)
		}
		var ended chan struct{}
		if e.guard != nil {
			ended = e.guard.ended
		}
		go e.raw.watch(ended)
	}
	return nil
}

// routePoolSize is the route pool size of a cluster node's server
// (nats-server's Cluster.PoolSize): -1, no pool — one route to each
// peer, carrying every account's traffic, as nats-server did before
// v2.10. Its default is a pool of three routes a peer, each account
// hashed to one of them, plus a route of its own for the system account
// (Raft and JetStream's own traffic): presenced has one account, so two
// of the three carried nothing, and a write's replication and its
// forwarded publish and answer went over two connections, each with its
// own read and write loop. Nothing about what is stored or acknowledged
// changes: the same Raft messages on one connection instead of two.
//
// It is kept for that simpler topology (three connections fewer to each
// peer, and their goroutines), not for speed: three nodes in one process
// read 16 of 18 alternated pairs lower on a loaded box, but 1 of 4 in
// session 9's quiet window, and end to end the cluster bench does not
// resolve it (docs/performance.md, "The embedded engine's own settings").
// Peers of another pool size (a cluster upgraded node by node from a
// presenced on the default) link up as nats-server allows since v2.11
// (TestClusterRoutesChangedNodeByNode).
var routePoolSize = -1

// routePinned are accounts given routes of their own (nats-server's
// Cluster.PinnedAccounts): none. A benchmark sets them
// (BenchmarkClusterRoutes).
var routePinned []string

// clusterServerOptions makes sopts those of a cluster node.
func clusterServerOptions(sopts *server.Options, c *ClusterOptions) error {
	host, port, _ := hostPort(c.Listen, "")
	routes, _ := routeURLs(c.Routes)
	client := c.ClientListen
	if client == "" {
		client = DefaultClientListen
	}
	chost, cport, _ := hostPort(client, "")
	sopts.DontListen = false
	sopts.Host, sopts.Port = chost, cport
	sopts.Cluster = server.ClusterOpts{Name: c.Name, Host: host, Port: port, PoolSize: routePoolSize, PinnedAccounts: routePinned}
	sopts.Routes = routes
	if c.TLS != nil {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: c.TLS.Cert, KeyFile: c.TLS.Key, CaFile: c.TLS.CA, Verify: true})
		if err != nil {
			return fmt.Errorf("natsstore: open: cluster TLS: %w", err)
		}
		// A route is both client and server: verify the peer both ways
		// with the CA, as nats-server does for a configuration file's
		// cluster TLS.
		tc.ClientAuth = tls.RequireAndVerifyClientCert
		tc.RootCAs = tc.ClientCAs
		sopts.Cluster.TLSConfig = tc
		sopts.Cluster.TLSTimeout = 5
	}
	return nil
}

// ClientURL is where NATS clients reach the embedded server
// (nats://host:port), or "" when it does not listen (a single node).
func (e *Engine) ClientURL() string {
	if e.srv == nil || e.opts.Cluster == nil {
		return ""
	}
	return e.srv.ClientURL()
}

// ClusterAddr is the address the embedded server's routes listen on (nil
// when it is not a cluster node).
func (e *Engine) ClusterAddr() *net.TCPAddr {
	if e.srv == nil || e.opts.Cluster == nil {
		return nil
	}
	return e.srv.ClusterAddr()
}
