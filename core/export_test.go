package core

import (
	"context"
	"testing"

	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/store"
)

// openTestBucket is a presence bucket on a real engine (file storage) of
// the test's own, closed when the test ends.
func openTestBucket(t testing.TB) store.KV {
	t.Helper()
	ctx := context.Background()
	e, err := natsstore.Open(ctx, natsstore.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	kv, err := e.Bucket(ctx, "presence")
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// OpenTestBucket is openTestBucket for the package's external tests.
var OpenTestBucket = openTestBucket
