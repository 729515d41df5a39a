package natsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/store"
)

// Layout is how an engine's data is laid out: fixed when the engine is
// created, recorded in its replicated meta bucket, and the same for every
// node.
type Layout struct {
	// Partitions is how many buckets a Partitioned bucket has.
	Partitions int `json:"partitions"`
	// Replicas is the replica count of every bucket and log.
	Replicas int `json:"replicas"`
	// Hash names PartitionOf's function, which must never change.
	Hash string `json:"hash"`
}

// DefaultPartitions is a new cluster's partition count unless told
// (docs/cluster.md#partitions says how it was chosen: 6 until 2026-12-03,
// then 3 — one leader a node once the nodes even the leaders out, and
// larger Raft batches; an engine keeps the count it was created with).
const DefaultPartitions = 3

// MaxPartitions bounds Options.Partitions: each partition is a replicated
// stream (a Raft group on each of its nodes).
const MaxPartitions = 64

// afterLayoutRead, if set (tests only), runs between checkLayout's read
// finding no record and its list of the streams.
var afterLayoutRead func()

// partitionHash names PartitionOf in the layout record.
const partitionHash = "fnv1a64-jump"

// MetaBucket is the engine's own bucket (the layout record; presenced
// keeps its dev clock and signing key's id there too).
const MetaBucket = "meta"

// layoutKey is the layout record's key in MetaBucket.
const layoutKey = "engine.layout"

// LayoutError is the refusal of a node started with another layout than
// the engine's.
type LayoutError struct {
	Stored, Wanted Layout
}

func (e *LayoutError) Error() string {
	if e.Stored.Hash != partitionHash {
		return fmt.Sprintf("natsstore: the engine's layout record names the partition function %q, which this presenced does not know (it knows %q): it was written by another version", e.Stored.Hash, partitionHash)
	}
	return fmt.Sprintf("natsstore: the engine was created with %s (recorded in its %s bucket); this node was started with %s. "+
		"Start it with the stored partitions and replicas, or without setting them (a node takes the stored ones). "+
		"The layout of existing data is not changed in place: a new layout needs a new engine (docs/cluster.md#changing-the-layout)",
		e.Stored.describe(), MetaBucket, e.Wanted.describe())
}

func (l Layout) describe() string {
	return fmt.Sprintf("%d partition%s and %d replica%s", l.Partitions, plural(l.Partitions), l.Replicas, plural(l.Replicas))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Layout returns the engine's layout, checking it the first time: the
// stored one if the engine has one (a node started with other
// Options.Partitions or Options.Replicas is refused with a *LayoutError),
// else the options' (or the defaults), recorded. A single node's engine
// from before layouts were recorded (one presence bucket) is one
// partition at its meta bucket's replica count. Nodes starting at once
// agree: the record is created only if absent, and re-read otherwise.
func (e *Engine) Layout(ctx context.Context) (Layout, error) {
	e.layoutMu.Lock()
	defer e.layoutMu.Unlock()
	if e.layout != nil {
		return *e.layout, nil
	}
	l, err := e.checkLayout(ctx)
	if err != nil {
		return Layout{}, err
	}
	e.layout = &l
	return l, nil
}

func (e *Engine) checkLayout(ctx context.Context) (Layout, error) {
	want := Layout{Partitions: e.opts.Partitions, Replicas: e.opts.Replicas, Hash: partitionHash}
	metaReplicas, err := e.streamReplicas(ctx, "KV_"+MetaBucket)
	if err != nil {
		return Layout{}, fmt.Errorf("natsstore: layout: %w", err)
	}
	create := metaReplicas == 0
	if create {
		metaReplicas = want.orDefaults(e.opts.clustered()).Replicas
	}
	meta, err := e.bucket(ctx, jetstream.KeyValueConfig{Bucket: MetaBucket, History: 1, Storage: e.storage, Replicas: metaReplicas})
	if err != nil {
		return Layout{}, fmt.Errorf("natsstore: layout: %w", err)
	}
	for range 3 {
		stored, rev, err := readLayout(ctx, meta)
		switch {
		case err != nil:
			return Layout{}, err
		case rev != 0:
			if stored.Hash != partitionHash ||
				want.Partitions != 0 && want.Partitions != stored.Partitions ||
				want.Replicas != 0 && want.Replicas != stored.Replicas {
				return Layout{}, &LayoutError{Stored: stored, Wanted: want.orDefaults(e.opts.clustered())}
			}
			return stored, nil
		}
		// No record: a new engine (the node that created the meta bucket
		// records it before any other stream exists; another node may
		// find the bucket first), or a single node's from before records
		// (it has other streams).
		rec := want.orDefaults(e.opts.clustered())
		if afterLayoutRead != nil {
			afterLayoutRead()
		}
		older, err := e.hasOtherStreams(ctx)
		if err != nil {
			return Layout{}, fmt.Errorf("natsstore: layout: %w", err)
		}
		if !create && older {
			// The node that created the engine recorded the layout before
			// any other stream, but perhaps after the read above: streams
			// seen now may be that node's, made after its record. Only a
			// record still absent once they are seen makes this an engine
			// from before records (TestLayoutRecordedBetweenReadAndList).
			if _, rev, err := readLayout(ctx, meta); err != nil {
				return Layout{}, err
			} else if rev != 0 {
				continue
			}
			old := Layout{Partitions: 1, Replicas: metaReplicas, Hash: partitionHash}
			if want.Partitions != 0 && want.Partitions != old.Partitions || want.Replicas != 0 && want.Replicas != old.Replicas {
				return Layout{}, &LayoutError{Stored: old, Wanted: rec}
			}
			rec = old
		}
		b, _ := json.Marshal(rec)
		if _, err := meta.Put(ctx, layoutKey, b, 0); err == nil {
			e.log.Info("engine layout recorded", "partitions", rec.Partitions, "replicas", rec.Replicas)
			return rec, nil
		} else if !errors.Is(err, store.ErrConflict) {
			return Layout{}, fmt.Errorf("natsstore: layout: record: %w", err)
		}
		// Another node recorded it first: read it again.
	}
	return Layout{}, errors.New("natsstore: layout: the record keeps changing")
}

// orDefaults fills what l leaves 0: one partition and replica on a single
// node, DefaultPartitions and 3 replicas in a cluster.
func (l Layout) orDefaults(clustered bool) Layout {
	if l.Partitions == 0 {
		l.Partitions = 1
		if clustered {
			l.Partitions = DefaultPartitions
		}
	}
	if l.Replicas == 0 {
		l.Replicas = 1
		if clustered {
			l.Replicas = 3
		}
	}
	return l
}

// readLayout reads the layout record (rev 0: none).
func readLayout(ctx context.Context, meta store.KV) (Layout, uint64, error) {
	ent, err := meta.Get(ctx, layoutKey)
	if errors.Is(err, store.ErrNotFound) {
		return Layout{}, 0, nil
	}
	if err != nil {
		return Layout{}, 0, fmt.Errorf("natsstore: layout: read: %w", err)
	}
	var l Layout
	if err := json.Unmarshal(ent.Value, &l); err != nil || l.Partitions < 1 || l.Replicas < 1 {
		return Layout{}, 0, fmt.Errorf("natsstore: layout: the record %s/%s is damaged: %q", MetaBucket, layoutKey, ent.Value)
	}
	return l, ent.Revision, nil
}

// hasOtherStreams reports whether the engine has streams besides the meta
// bucket's.
func (e *Engine) hasOtherStreams(ctx context.Context) (bool, error) {
	var other bool
	err := e.retry(ctx, "the list of streams", func(ctx context.Context) error {
		other = false
		l := e.js.StreamNames(ctx)
		for n := range l.Name() {
			other = other || n != "KV_"+MetaBucket
		}
		return l.Err()
	})
	return other, err
}

// streamReplicas is the replica count of the stream name, 0 if there is
// no such stream.
func (e *Engine) streamReplicas(ctx context.Context, name string) (int, error) {
	var n int
	err := e.retry(ctx, "the state of stream "+name, func(ctx context.Context) error {
		s, err := e.js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			n = 0
			return nil
		}
		if err != nil {
			return err
		}
		n = max(s.CachedInfo().Config.Replicas, 1)
		return nil
	})
	return n, err
}

// partitionName is the bucket of partition i of n of the partitioned
// bucket name: name itself when n is 1 (so a single node's data is one
// partition), else name-<i>.
func partitionName(name string, i, n int) string {
	if n == 1 {
		return name
	}
	return fmt.Sprintf("%s-%d", name, i)
}
