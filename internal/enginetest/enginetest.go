// Package enginetest opens real embedded engines for tests: the project's
// tests run against NATS JetStream itself, never a stand-in.
package enginetest

import (
	"context"
	"testing"

	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/store"
)

// Open starts an engine with file storage in a directory of the test's
// own; it is closed when the test ends (closing it earlier is fine).
func Open(t testing.TB) *natsstore.Engine {
	t.Helper()
	e, err := natsstore.Open(context.Background(), natsstore.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// Bucket is a KV bucket named name on a new engine of the test's own.
func Bucket(t testing.TB, name string) store.KV {
	t.Helper()
	kv, err := Open(t).Bucket(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}
