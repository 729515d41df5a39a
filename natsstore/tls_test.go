package natsstore_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/natsstore"
)

// writeCA makes a CA and a certificate it signs for 127.0.0.1 (server and
// client use: a route is both), and writes them as PEM files in dir.
func writeCA(t *testing.T, dir, name string) natsstore.TLSFiles {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name + " node"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	f := natsstore.TLSFiles{CA: filepath.Join(dir, name+"-ca.pem"), Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem")}
	for path, block := range map[string]*pem.Block{f.CA: {Type: "CERTIFICATE", Bytes: caDER}, f.Cert: {Type: "CERTIFICATE", Bytes: der}, f.Key: {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// Routes with mutual TLS: the nodes form the cluster and replicate; a
// server whose certificate another CA signed cannot join.
func TestClusterRoutesWithTLS(t *testing.T) {
	dir := t.TempDir()
	files := writeCA(t, dir, "cluster")
	c := startCluster(t, natsstore.Options{Partitions: 1, Cluster: &natsstore.ClusterOptions{TLS: &files}})
	ctx := clusterCtx(t)
	rev, err := partitioned(t, c.Node(0)).Put(ctx, "u.t.u", []byte("over TLS"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := partitioned(t, c.Node(2)).Get(ctx, "u.t.u"); err != nil || got.Revision != rev {
		t.Fatalf("node 2 reads %+v, %v", got, err)
	}

	rogue := writeCA(t, dir, "rogue")
	var routes []string
	for i := range 3 {
		routes = append(routes, c.Options(i).Cluster.Routes[i])
	}
	port := enginetest.FreePorts(t, 1)[0]
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	e, err := natsstore.Open(rctx, natsstore.Options{Dir: t.TempDir(), ServerName: "rogue", Logger: c.Options(0).Logger,
		Cluster: &natsstore.ClusterOptions{Name: "presenced-test", Listen: fmt.Sprintf("127.0.0.1:%d", port), Routes: routes, TLS: &rogue}})
	if err == nil {
		e.Close()
		t.Fatal("a node with another CA's certificate joined the cluster")
	}
	peers := c.Node(0).JetStream()
	info, err := peers.Stream(ctx, "KV_presence")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range info.CachedInfo().Cluster.Replicas {
		if r.Name == "rogue" {
			t.Fatal("the rogue server is a replica")
		}
	}
}
