package natsstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/store"
)

// PartitionOf is the partition, 0 to n-1, that key belongs to among n.
// It must never change: it decides in which bucket every stored user is.
//
// The partition key is the key's second and third dot-separated tokens
// ("<tenant>.<user>" of "u.<tenant>.<user>", so everything of one user is
// in one partition), or the whole key if it has fewer than three tokens.
// Its bytes are hashed with 64-bit FNV-1a (offset basis
// 14695981039346656037, prime 1099511628211), and the hash is mapped to
// one of n with Jump Consistent Hash (Lamping and Veach, "A Fast, Minimal
// Memory, Consistent Hash Algorithm", 2014), which a later change of n
// would move only a 1/n share of the keys with. TestPartitionOfIsFrozen
// holds it to recorded values.
func PartitionOf(key string, n int) int {
	if n <= 1 {
		return 0
	}
	return jump(fnv1a64(partitionKey(key)), n)
}

// partitionKey is the part of key PartitionOf hashes.
func partitionKey(key string) string {
	_, rest, ok := strings.Cut(key, ".")
	if !ok {
		return key
	}
	i := strings.IndexByte(rest, '.')
	if i < 0 {
		return key // two tokens
	}
	if j := strings.IndexByte(rest[i+1:], '.'); j >= 0 {
		return rest[:i+1+j]
	}
	return rest
}

func fnv1a64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// jump is Jump Consistent Hash: the bucket, 0 to n-1, of key. The
// explicit float64 conversion keeps the compiler from fusing the
// multiplication with anything (the Go spec allows fused operations
// otherwise), so the result is the same on every platform.
func jump(key uint64, n int) int {
	b, j := int64(-1), int64(0)
	for j < int64(n) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1))))
	}
	return int(b)
}

// Partitioned opens the partitioned bucket name: Layout().Partitions
// buckets (name-0, name-1, …; name itself when there is one, so a single
// node's bucket is one partition), as one store.KV whose keys go to their
// PartitionOf. Get, Put and Delete go to the key's partition; GetMany
// reads the partitions it needs in parallel; Keys, Walk and Watch go
// through them all.
func (e *Engine) Partitioned(ctx context.Context, name string) (store.KV, error) {
	l, err := e.Layout(ctx)
	if err != nil {
		return nil, err
	}
	if l.Partitions == 1 {
		return e.Bucket(ctx, name)
	}
	return e.openPartitioned(ctx, jetstream.KeyValueConfig{Bucket: name, History: 1, Storage: e.storage, Replicas: l.Replicas}, l.Partitions)
}

// openPartitioned opens the n buckets of the partitioned bucket
// cfg.Bucket, each with cfg's settings but its name.
func (e *Engine) openPartitioned(ctx context.Context, cfg jetstream.KeyValueConfig, n int) (*partitioned, error) {
	// Opened at once: in a cluster each new bucket waits for its leader.
	p := &partitioned{name: cfg.Bucket, parts: make([]*kv, n)}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range p.parts {
		wg.Go(func() {
			c := cfg
			c.Bucket = partitionName(cfg.Bucket, i, n)
			p.parts[i], errs[i] = e.bucket(ctx, c)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// partitioned is a store.KV over several buckets (Partitioned). Revisions
// are per partition: a key's only ever grow, and those of keys in
// different partitions are not comparable (nothing compares them).
type partitioned struct {
	name  string
	parts []*kv
}

var _ store.KV = (*partitioned)(nil)

func (p *partitioned) of(key string) *kv { return p.parts[PartitionOf(key, len(p.parts))] }

func (p *partitioned) Get(ctx context.Context, key string) (store.Entry, error) {
	return p.of(key).Get(ctx, key)
}

func (p *partitioned) Put(ctx context.Context, key string, value []byte, expect uint64) (uint64, error) {
	return p.of(key).Put(ctx, key, value, expect)
}

func (p *partitioned) Delete(ctx context.Context, key string, expect uint64) error {
	return p.of(key).Delete(ctx, key, expect)
}

// GetMany asks each partition that has some of the keys, in parallel.
func (p *partitioned) GetMany(ctx context.Context, keys []string) ([]store.Entry, error) {
	out := make([]store.Entry, len(keys))
	at := make([][]int, len(p.parts)) // at[i]: where partition i's keys are in keys
	for i, k := range keys {
		n := PartitionOf(k, len(p.parts))
		at[n] = append(at[n], i)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for n, is := range at {
		if len(is) == 0 {
			continue
		}
		wg.Go(func() {
			sub := make([]string, len(is))
			for j, i := range is {
				sub[j] = keys[i]
			}
			got, err := p.parts[n].GetMany(ctx, sub)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			for j, i := range is {
				out[i] = got[j] // distinct indexes: no lock needed
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func (p *partitioned) Keys(ctx context.Context, prefix string) ([]string, error) {
	var all []string
	for _, b := range p.parts {
		keys, err := b.Keys(ctx, prefix)
		if err != nil {
			return nil, err
		}
		all = append(all, keys...)
	}
	slices.Sort(all)
	return slices.Compact(all), nil
}

// Walk walks the partitions one after the other. Records a partition
// cannot read do not stop the others: the error that says so comes once
// all are walked.
func (p *partitioned) Walk(ctx context.Context, prefix string, fn func(store.Entry) error) error {
	var unreadable []error
	for _, b := range p.parts {
		err := b.Walk(ctx, prefix, fn)
		switch {
		case err == nil:
		case errors.Is(err, store.ErrUnreadable) && ctx.Err() == nil:
			unreadable = append(unreadable, err)
		default:
			return err
		}
	}
	if len(unreadable) > 0 {
		return fmt.Errorf("natsstore: walk %s: %w", p.name, errors.Join(unreadable...))
	}
	return nil
}
