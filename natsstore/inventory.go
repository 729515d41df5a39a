package natsstore

import (
	"context"
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

// Streams reports the state of every stream of the engine, by name.
func (e *Engine) Streams(ctx context.Context) ([]StreamState, error) {
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
		Limited: cfg.MaxAge > 0 || cfg.MaxBytes > 0 || cfg.MaxMsgs > 0,
	}
	if st.Lost != nil {
		s.LostMsgs, s.LostBytes = st.Lost.Msgs, st.Lost.Bytes
	}
	return s
}
