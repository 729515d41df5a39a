// Package store is the narrow boundary between presenced and its engine.
// Everything presenced keeps lives in a few key/value buckets with optimistic
// concurrency; natsstore implements it on embedded NATS JetStream. Keeping the
// boundary this small keeps the engine a decision, not an accident.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors callers test with errors.Is.
var (
	ErrNotFound = errors.New("store: key not found")
	ErrConflict = errors.New("store: revision conflict")
	// ErrUnreadable: the engine holds records it cannot read (its files
	// are damaged).
	ErrUnreadable = errors.New("store: records could not be read")
	// ErrFull: the engine's disk is full; the write was not made (unless
	// also ErrMaybeStored).
	ErrFull = errors.New("store: storage full")
	// ErrMaybeStored marks a write that failed after it was sent (with
	// ErrFull: the disk filled, or the engine stopped writing, while it
	// was under way): the engine may have stored it. A write refused
	// before it was sent is ErrFull alone: nothing was written.
	ErrMaybeStored = errors.New("store: the write was under way and may have been stored")
	// ErrUnavailable: the engine could not take or answer the request in
	// time (a cluster without quorum, a stream without a leader yet, a
	// lost connection). A write that fails with it may still have been
	// stored when it had been sent; retrying is safe where writes are
	// conditional (Put with an expected revision).
	ErrUnavailable = errors.New("store: engine unavailable")
)

// What a client is told of a write that failed with ErrFull: FullInDoubt
// when it was under way (ErrMaybeStored too), FullNotWritten when it was
// refused before it was sent.
const (
	FullInDoubt    = "The server's storage filled while this write was under way: it may or may not have been stored. Retry it; writes succeed again as soon as the server has space."
	FullNotWritten = "The server's storage is full: nothing was written. Retry later; writes succeed again as soon as the server has space."
)

// FullMessage is what a client is told of err when it is ErrFull
// (FullInDoubt or FullNotWritten); ok is false for any other error.
func FullMessage(err error) (msg string, ok bool) {
	switch {
	case errors.Is(err, ErrFull) && errors.Is(err, ErrMaybeStored):
		return FullInDoubt, true
	case errors.Is(err, ErrFull):
		return FullNotWritten, true
	}
	return "", false
}

// Entry is a stored value and its revision.
type Entry struct {
	Key      string
	Value    []byte
	Revision uint64
}

// KV is one bucket of keys. Keys use the characters [-/_=.a-zA-Z0-9]; dots
// separate tokens, and the first tokens of a key name its partition (the
// tenant and user), so that a cluster can partition by user without moving
// data.
type KV interface {
	// Get returns the current entry for key, or ErrNotFound. It is never
	// stale: it returns the newest entry acknowledged before the call, by
	// any node of a cluster (it reads the stream's leader there), so a
	// write path that lost a revision conflict reloads with it.
	Get(ctx context.Context, key string) (Entry, error)
	// GetMany returns the current entries for keys, aligned with keys: an
	// absent key (never written, deleted or purged) has the zero Entry, so
	// Revision 0; a present one has Revision > 0, as Get would return it.
	// Each entry is current as of some instant during the call; the
	// entries need not all be of the same instant. In a cluster a replica
	// that is not the leader may answer: an entry may then be older than a
	// write another node had acknowledged just before the call (by the
	// replication lag, milliseconds), never one that was not acknowledged.
	// It is one engine round trip per few hundred keys instead of one per
	// key.
	GetMany(ctx context.Context, keys []string) ([]Entry, error)
	// Put stores value under key if the key's current revision is expect
	// (0: the key must not exist) and returns the new revision once the
	// engine has acknowledged it; otherwise it returns ErrConflict.
	// It keeps neither key nor value once it returns (not in what it
	// returns either): the caller may reuse their bytes.
	Put(ctx context.Context, key string, value []byte, expect uint64) (uint64, error)
	// Delete removes key if its current revision is expect (0: any).
	Delete(ctx context.Context, key string, expect uint64) error
	// Keys lists the keys under prefix ("" for all).
	Keys(ctx context.Context, prefix string) ([]string, error)
	// Walk calls fn with the current entry of each live key under prefix
	// ("" for all), in the order the keys were last written (within a
	// partition, for a partitioned KV), one at a time: it holds a few hundred entries at most, whatever the number of
	// keys, and reads them in a stream, not one request per key. It returns
	// nil once it has passed every key that was live when it started; a
	// key written meanwhile may be passed at its old or its new revision,
	// or both, one deleted meanwhile may be passed or not. It stops with
	// fn's error if fn returns one, or ctx's when ctx ends. Records the
	// engine counts but cannot read (damaged files) are skipped, and Walk
	// then ends with an error wrapping ErrUnreadable once past the rest.
	Walk(ctx context.Context, prefix string, fn func(Entry) error) error
	// Watch follows the changes under prefix ("" for all). It returns once
	// the watch is in place: every change acknowledged after it returned,
	// by any node, is then delivered by the Watcher, in order per key,
	// each with its revision — except that a watcher that has fallen
	// behind skips a change already replaced by a newer one of the same
	// key (a bucket keeps one revision per key) and gets the newer one.
	// So it always ends on each key's latest state, and sees every change
	// while it keeps up. It ends when ctx ends or the Watcher is stopped.
	//
	// To follow a bucket from its current content (a cache), start the
	// Watch, then Walk, and keep for each key only the entry of the
	// highest revision seen from either — a deleted key's revision too —
	// because Walk may pass a key at an older revision than Watch has
	// already delivered.
	Watch(ctx context.Context, prefix string) (Watcher, error)
}

// Change is one change to a key, as a Watcher delivers it.
type Change struct {
	Key      string
	Value    []byte // nil when Deleted
	Revision uint64
	// Deleted: the key was deleted, purged, or its TTL lapsed (a lease).
	Deleted bool
	// Skipped: the watch may have skipped a revision of this key before
	// this one. A bucket keeps one revision per key, so a revision
	// replaced before the watch delivered it (a watch that fell behind)
	// is never delivered; a change is marked from the first skip the
	// watch notices until it has caught up with the bucket. Unmarked, the
	// change directly follows the key's previous one the watch delivered.
	Skipped bool
	// SkippedUpTo, when Skipped, is a Revision at or above every one the
	// watch may have skipped (0: not known). A reader that holds a
	// revision of this key at or above it from elsewhere (its own write
	// acknowledged, a read) missed nothing of the key between that one
	// and this change: the skipped revision was one it had, or older.
	SkippedUpTo uint64
	// Partition is the number of the key's partition (0 for a bucket that
	// is not partitioned): a Revision is a position in that partition's
	// stream (Resumable).
	Partition int
	// Stored is when the engine stored the change, by the clock of the
	// server that stored it (a stream's leader); zero if not known.
	Stored time.Time
}

// Watcher delivers the changes a Watch follows.
type Watcher interface {
	// Next returns the next change, waiting for it until ctx ends. An
	// error other than ctx's ends the watch (the engine refused to go on):
	// start a new one, and catch up as after a start.
	Next(ctx context.Context) (Change, error)
	// Stop ends the watch and releases what it holds on the engine.
	Stop()
}
