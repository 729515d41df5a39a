package natsstore

import (
	"github.com/presenced/presenced/store"
)

// SoleWriter declares that the caller is the only writer of kv's keys and
// writes each key from its last revision: a Put with an expected revision
// is then sent without the expected-last-subject-sequence header, so the
// engine neither looks the subject's last message up nor scans the
// header for its other checks (BenchmarkAckPath's update-sole against
// update: ~1.5–2 µs of a write's CPU, docs/performance.md). What is
// stored, and when the write is acknowledged, are unchanged: the
// acknowledgement still comes once the engine stored the message, and
// carries its revision. It reports whether it took effect: only on a
// single node's embedded engine (never in a cluster, where other nodes
// write the same keys, nor on an operator's NATS, which other processes
// may write), and only for a bucket of this engine (a KV or a partitioned
// one). Call it before the first write to kv.
//
// The caller keeps the promise, not the engine: core, under the user's
// lock, writes from the revision its cache holds, and on a single node
// the cache is the engine's (every write of a key goes through it, and a
// write that failed forgets the user, so that the next is made from the
// engine's). A Put without expect (0) still checks that the key is new.
func SoleWriter(s store.KV) bool {
	var parts []*kv
	switch b := s.(type) {
	case *kv:
		parts = []*kv{b}
	case *partitioned:
		parts = b.parts
	default:
		return false
	}
	for _, b := range parts {
		if b.e == nil || b.e.opts.clustered() {
			return false
		}
	}
	for _, b := range parts {
		b.sole = true
	}
	return true
}
