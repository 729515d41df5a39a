package presenced

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// certificate holds the server's TLS certificate and reads it again on
// ReloadTLS. Handshakes take the current one (tls.Config.GetCertificate):
// a reload serves new connections with the new pair while the open ones
// carry on with the old, so nothing is dropped.
type certificate struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// load reads the pair; on any error the current one stays.
func (c *certificate) load() error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("presenced: TLS certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return fmt.Errorf("presenced: TLS certificate %s: %w", c.certFile, err)
		}
	}
	c.cur.Store(&pair)
	return nil
}

func (c *certificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cur.Load(), nil }

// notAfter is when the current certificate expires.
func (c *certificate) notAfter() time.Time { return c.cur.Load().Leaf.NotAfter }

// tlsConfig is the listener's: TLS 1.2 at least (Go's default cipher
// suites), HTTP/2 offered by http.Server.ServeTLS.
func (c *certificate) tlsConfig() *tls.Config {
	return &tls.Config{GetCertificate: c.get, MinVersion: tls.VersionTLS12}
}

// newCertificate loads cfg's pair, or returns nil when TLS is off.
func newCertificate(cfg Config) (*certificate, error) {
	if cfg.TLSCertFile == "" && cfg.TLSKeyFile == "" {
		return nil, nil
	}
	if cfg.TLSCertFile == "" || cfg.TLSKeyFile == "" {
		return nil, errors.New("presenced: TLS needs both a certificate file and a key file (--tls-cert and --tls-key)")
	}
	c := &certificate{certFile: cfg.TLSCertFile, keyFile: cfg.TLSKeyFile}
	return c, c.load()
}

// ReloadTLS reads the TLS certificate and key files again (the command
// does so on SIGHUP): new connections get the new pair, open ones are
// left alone. If the files do not make a valid pair the current one stays
// and the error says why.
func (s *Server) ReloadTLS() error {
	if s.cert == nil {
		return errors.New("presenced: TLS is not on")
	}
	if err := s.cert.load(); err != nil {
		return err
	}
	leaf := s.cert.cur.Load().Leaf
	s.log.Info("TLS certificate reloaded", "file", s.cert.certFile, "subject", leaf.Subject.String(), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// TLS reports whether the server speaks https.
func (s *Server) TLS() bool { return s.cert != nil }
