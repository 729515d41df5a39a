package natsstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/store"
)

// kv implements store.KV on a JetStream KV bucket with History 1.
type kv struct {
	kv   jetstream.KeyValue
	name string

	js jetstream.JetStream // for Walk's consumer (walk.go)
	g  *guard              // keeps writes off a full disk (space.go); may be nil
	e  *Engine             // its engine: in a cluster, writes go through e.do (leader.go)

	// For GetMany's batched direct gets (getmany.go).
	nc     *nats.Conn
	rep    *replies // the reply subjects update waits on (replies.go)
	stream string   // the bucket's stream, "KV_<name>"
	prefix string   // a key's subject is prefix+key: "$KV.<name>."
	direct bool     // the stream answers direct gets
	// maxBytes is the max_bytes of a batched get (0: multiLastMaxBytes);
	// tests lower it to make the server stop early.
	maxBytes int
	// sole: the caller writes every key from its last revision, alone
	// (SoleWriter); a Put with an expected revision asks the engine for no
	// check. Set before the bucket's first write, never changed after.
	sole bool
}

var _ store.KV = (*kv)(nil)

func (b *kv) Get(ctx context.Context, key string) (store.Entry, error) {
	if b.e.opts.clustered() {
		return b.clusterGet(ctx, key)
	}
	e, err := b.kv.Get(ctx, key)
	if err != nil {
		// Deleted and purged keys are absent (nats.go maps ErrKeyDeleted to
		// ErrKeyNotFound in Get; both are checked to stay independent of that).
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			return store.Entry{}, fmt.Errorf("natsstore: get %s/%q: %w", b.name, key, store.ErrNotFound)
		}
		return store.Entry{}, fmt.Errorf("natsstore: get %s/%q: %w", b.name, key, unavailable(err))
	}
	return store.Entry{Key: e.Key(), Value: e.Value(), Revision: e.Revision()}, nil
}

func (b *kv) Put(ctx context.Context, key string, value []byte, expect uint64) (uint64, error) {
	var (
		rev uint64
		err error
	)
	switch {
	case b.e.opts.clustered():
		rev, err = b.clusterPut(ctx, key, value, expect, 0)
	case expect == 0:
		rev, err = b.create(ctx, key, value)
	default:
		rev, err = b.update(ctx, key, value, expect, !b.sole)
	}
	if err != nil {
		if isConflict(err) {
			return 0, fmt.Errorf("natsstore: put %s/%q expecting revision %d: %w: %w", b.name, key, expect, store.ErrConflict, err)
		}
		return 0, fmt.Errorf("natsstore: put %s/%q: %w", b.name, key, unavailable(err))
	}
	return rev, nil
}

func (b *kv) Delete(ctx context.Context, key string, expect uint64) error {
	if b.e.opts.clustered() {
		if err := b.clusterDelete(ctx, key, expect); err != nil {
			if expect != 0 && isConflict(err) {
				return fmt.Errorf("natsstore: delete %s/%q expecting revision %d: %w: %w", b.name, key, expect, store.ErrConflict, err)
			}
			return fmt.Errorf("natsstore: delete %s/%q: %w", b.name, key, unavailable(err))
		}
		return nil
	}
	var opts []jetstream.KVDeleteOpt
	if expect != 0 {
		opts = append(opts, jetstream.LastRevision(expect))
	}
	if err := b.g.write(ctx, func(ctx context.Context) error { return b.kv.Delete(ctx, key, opts...) }); err != nil {
		if expect != 0 && isConflict(err) {
			return fmt.Errorf("natsstore: delete %s/%q expecting revision %d: %w: %w", b.name, key, expect, store.ErrConflict, err)
		}
		return fmt.Errorf("natsstore: delete %s/%q: %w", b.name, key, unavailable(err))
	}
	return nil
}

// Keys lists the live keys under prefix, sorted. A prefix that ends on a
// token boundary is pushed down to the engine as a subject filter; any other
// prefix filters from its last complete token (or from all keys).
func (b *kv) Keys(ctx context.Context, prefix string) ([]string, error) {
	if !validKeyChars(prefix) {
		return []string{}, nil // no key can start with it
	}
	kl, err := b.kv.ListKeysFiltered(ctx, filterOf(prefix))
	if err != nil {
		return nil, fmt.Errorf("natsstore: keys %s/%q: %w", b.name, prefix, err)
	}
	keys := []string{}
	for k := range kl.Keys() {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	// The lister closes its channel without an error when ctx ends; a
	// truncated list must not pass for a complete one.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("natsstore: keys %s/%q: %w", b.name, prefix, err)
	}
	slices.Sort(keys)
	return slices.Compact(keys), nil // listing may repeat keys under writes
}

// isConflict reports whether err is JetStream's optimistic-concurrency
// failure: "wrong last sequence" (10071, or 10164 on replicated streams),
// which nats.go surfaces as ErrKeyExists from Create and
// ErrKeyRevisionMismatch from Update and Delete.
func isConflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
	}
	return false
}

// validKeyChars reports whether s uses only key characters (store.KV).
func validKeyChars(s string) bool {
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '/', c == '_', c == '=', c == '.':
		default:
			return false
		}
	}
	return true
}

// validTokens reports whether s is a non-empty dot-separated run of
// non-empty tokens, usable in a subject filter.
func validTokens(s string) bool {
	if s == "" {
		return false
	}
	return !slices.Contains(strings.Split(s, "."), "")
}
