package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// healthcheckCmd asks a server on this machine whether it is ready (GET
// /readyz) and exits 0 only if it is: the container image's HEALTHCHECK,
// which has no curl. It reads the server's own variables (PRESENCED_ADDR,
// PRESENCED_TLS_CERT), so it finds the server as configured without
// arguments.
func healthcheckCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "the server's listen `address` (as serve's --addr)")
	cert := fs.String("tls-cert", "", "the server's certificate `file` (as serve's --tls-cert): set, the check uses https")
	path := fs.String("path", "/readyz", "the `path` to ask: /readyz (ready for traffic) or /healthz (alive)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this `duration`")
	if err := fromEnv(fs, os.LookupEnv); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1" // a wildcard listen address is reached on loopback
	}
	scheme := "http"
	tr := &http.Transport{}
	if *cert != "" {
		// The server checks itself on loopback, where its certificate's
		// names need not match: readiness, not identity, is the question.
		scheme = "https"
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	c := &http.Client{Timeout: *timeout, Transport: tr}
	u := scheme + "://" + net.JoinHostPort(host, port) + *path
	resp, err := c.Get(u)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprint(stdout, string(body))
	if resp.StatusCode != http.StatusOK {
		return errors.New("healthcheck: " + u + " answered " + resp.Status + ": " + strings.TrimSpace(string(body)))
	}
	return nil
}
