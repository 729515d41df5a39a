package natsstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StartPast has the streams it names, when they are created again, number
// their records from the given sequence instead of 1 (JetStream's
// StreamConfig.FirstSeq). It is for streams the engine lost and that a
// start goes on without (an accepted loss, docs/durability.md): what is
// kept elsewhere compares their revisions and sequences — a presence
// record the calendar revision its window was built from, a webhook
// subscription how far in the change log it was delivered, a client's
// stream its resume position — and a stream counting from 1 again would
// have its new records taken for older ones than those it lost. Call it
// before the buckets and logs are opened; a stream that exists is left as
// it is.
func (e *Engine) StartPast(first map[string]uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.firstSeq == nil {
		e.firstSeq = make(map[string]uint64, len(first))
	}
	for name, seq := range first {
		if seq > 1 {
			e.firstSeq[name] = seq
		}
	}
}

// takeFirstSeq is the first sequence StartPast gave the stream (0: none),
// forgotten once taken: only the stream's re-creation uses it.
func (e *Engine) takeFirstSeq(stream string) uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	seq := e.firstSeq[stream]
	delete(e.firstSeq, stream)
	return seq
}

// createPast creates the stream cfg describes, numbered from StartPast's
// sequence for it, if it had one and the stream does not exist; otherwise
// it does nothing (the caller opens or creates the stream as always).
func (e *Engine) createPast(ctx context.Context, cfg jetstream.StreamConfig) error {
	seq := e.takeFirstSeq(cfg.Name)
	if seq == 0 {
		return nil
	}
	cfg.FirstSeq = seq
	err := e.retry(ctx, fmt.Sprintf("stream %s to be created from sequence %d", cfg.Name, seq), func(ctx context.Context) error {
		_, err := e.js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return nil // it was not lost after all, or another node made it
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("natsstore: create stream %s from sequence %d: %w", cfg.Name, seq, err)
	}
	e.log.Info("stream created again, numbered past the one lost", "stream", cfg.Name, "first_seq", seq)
	return nil
}

// kvStreamConfig is the stream nats.go creates for the bucket cfg
// describes (jetstream's prepareKeyValueConfig, which is not exported), for
// the settings this package uses: createPast needs it to create a bucket's
// stream with a first sequence, which KeyValueConfig cannot say.
// TestKVStreamConfigIsNatsGos compares it with what nats.go creates.
func kvStreamConfig(cfg jetstream.KeyValueConfig) jetstream.StreamConfig {
	history := int64(1)
	if cfg.History > 0 {
		history = int64(cfg.History)
	}
	replicas := max(cfg.Replicas, 1)
	s := jetstream.StreamConfig{
		Name:              "KV_" + cfg.Bucket,
		Subjects:          []string{"$KV." + cfg.Bucket + ".>"},
		MaxMsgsPerSubject: history,
		MaxBytes:          -1,
		MaxMsgSize:        -1,
		Storage:           cfg.Storage,
		Replicas:          replicas,
		AllowRollup:       true,
		DenyDelete:        true,
		Duplicates:        2 * time.Minute,
		MaxMsgs:           -1,
		MaxConsumers:      -1,
		AllowDirect:       true,
		Discard:           jetstream.DiscardNew,
	}
	if cfg.LimitMarkerTTL != 0 {
		s.AllowMsgTTL = true
		s.SubjectDeleteMarkerTTL = cfg.LimitMarkerTTL
	}
	return s
}
