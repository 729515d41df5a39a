package natsstore_test

import (
	"fmt"
	"testing"

	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/natsstore"
)

// A cluster walk passes a key rewritten twice ahead of it (walkcluster.go).
// The walk used to read [1, L1], then [L1+1, L2], and stop; a key K not
// reached in the first pass, rewritten in (L1, L2] (S1) and again after
// L2 (S2) before the second pass reached S1, was never passed. Here the
// walk's fn holds it at its first key while X (a new key), 600 other new
// keys (more than a fetch's page, so that S1 is not fetched before S2
// replaces it), S1 and Y are written; then at X, the first key written
// after L1, while S2 is written. Every key live at the start must be
// passed, K at S2.
func walkPassesAKeyRewrittenTwice(t *testing.T, c *enginetest.Cluster) {
	ctx := clusterCtx(t)
	kv, err := c.Node(1).Bucket(ctx, "walktwice")
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	start := make(map[string]uint64, n)
	for i := range n {
		k := fmt.Sprintf("u.k%04d", i)
		rev, err := kv.Put(ctx, k, []byte("v"), 0)
		if err != nil {
			t.Fatal(err)
		}
		start[k] = rev
	}
	far := "u.k2500" // beyond the walk's first page
	w := natsstore.WalkTwice{T: t, Ctx: ctx, KV: kv}
	others := make([]string, 600)
	for i := range others {
		others[i] = fmt.Sprintf("u.o%04d", i)
	}
	seen, s1, s2 := w.Run(far, "u.x", "u.y", others, false)
	w.Check(seen, start, far, s1, s2)
}
