package natsstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamState is what one of the engine's streams holds, as the engine
// reports it.
type StreamState struct {
	Name     string
	Msgs     uint64
	Bytes    uint64
	FirstSeq uint64
	LastSeq  uint64
	// Limited streams drop records by age or size on their own (the change
	// log): their message count may fall, their last sequence never does.
	// A KV bucket (one record per key, kept until replaced) holds as many
	// records as keys were ever written, so neither may fall.
	Limited bool
	// LostMsgs and LostBytes are what the engine itself reported dropping
	// when it recovered the stream's files (records it could not read).
	LostMsgs  []uint64
	LostBytes uint64
}

// Streams reports the state of every stream of the engine, by name. In a
// cluster each is its leader's (the cluster's) state, and it waits,
// bounded by ctx, until every stream has a leader to answer: the
// engine's listing leaves out streams without one, which a manifest
// check must not take for lost.
func (e *Engine) Streams(ctx context.Context) ([]StreamState, error) {
	if e.opts.clustered() {
		return e.clusterStreams(ctx)
	}
	l := e.js.ListStreams(ctx)
	var out []StreamState
	for info := range l.Info() {
		out = append(out, stateOf(info))
	}
	if err := l.Err(); err != nil {
		return nil, fmt.Errorf("natsstore: list streams: %w", err)
	}
	slices.SortFunc(out, func(a, b StreamState) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func stateOf(info *jetstream.StreamInfo) StreamState {
	st, cfg := info.State, info.Config
	s := StreamState{
		Name: cfg.Name, Msgs: st.Msgs, Bytes: st.Bytes, FirstSeq: st.FirstSeq, LastSeq: st.LastSeq,
		// A lease bucket's keys lapse (message TTLs): its count falls.
		Limited: cfg.MaxAge > 0 || cfg.MaxBytes > 0 || cfg.MaxMsgs > 0 || cfg.AllowMsgTTL,
	}
	if st.Lost != nil {
		s.LostMsgs, s.LostBytes = st.Lost.Msgs, st.Lost.Bytes
	}
	return s
}

func (e *Engine) clusterStreams(ctx context.Context) ([]StreamState, error) {
	var names []string
	err := e.retry(ctx, "the list of streams", func(ctx context.Context) error {
		names = names[:0]
		l := e.js.StreamNames(ctx)
		for n := range l.Name() {
			names = append(names, n)
		}
		return l.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("natsstore: list streams: %w", err)
	}
	out := make([]StreamState, 0, len(names))
	for _, name := range names {
		var info *jetstream.StreamInfo
		err := e.retry(ctx, "the state of stream "+name, func(ctx context.Context) error {
			s, err := e.js.Stream(ctx, name)
			if err == nil {
				info = s.CachedInfo()
			}
			return err
		})
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("natsstore: state of stream %s: %w", name, err)
		}
		out = append(out, stateOf(info))
	}
	slices.SortFunc(out, func(a, b StreamState) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
