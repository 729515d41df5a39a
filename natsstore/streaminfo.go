package natsstore

import (
	"context"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// leaderInfo is what presenced reads of a stream's info: when the stream
// was created and its state (the leader's).
type leaderInfo struct {
	created time.Time
	state   jetstream.StreamState
	leader  string // the server that answered, the stream's leader ("" on a single node)
}

// streamInfo asks the leader of stream for its info, in a cluster, through
// Engine.do: each attempt bounded, asked again while no leader answers,
// within the engine's WriteWait (15 s) or ctx. A stream's info is answered
// by its leader only (a replica answers only while the stream has no
// leader at all), so a request sent while the leadership moves — an
// election, a step-down (the coordinator draws CHANGES, KV_leases and
// KV_subscriptions to itself as nodes start; presence partitions are
// evened out) — may get no answer, and nats.go's js.Stream and
// Stream.Info then wait for the caller's whole deadline. So a start,
// whose reads have its 60 s, failed after them: "state of CHANGES:
// context deadline exceeded" (the log's state, TestClusterLogStateWhileItsLeaderMoves),
// then "directory: natsstore: last revision of directory: context
// deadline exceeded" (the bucket's, TestClusterBucketStateWhileItsLeaderMoves),
// each in TestClusterStreamResumesOnAnotherNode under a loaded -race run.
// Errors are unavailable's when no answer came.
func (e *Engine) streamInfo(ctx context.Context, stream string) (leaderInfo, error) {
	var info leaderInfo
	m := &nats.Msg{Subject: "$JS.API.STREAM.INFO." + stream}
	err := e.do(ctx, m, stream, exchange{answer: func(resp *nats.Msg) error {
		var a struct {
			Error   *jetstream.APIError `json:"error"`
			Created *time.Time          `json:"created"`
			Cluster *struct {
				Leader string `json:"leader"`
			} `json:"cluster"`
			State *struct {
				Msgs     uint64 `json:"messages"`
				FirstSeq uint64 `json:"first_seq"`
				LastSeq  uint64 `json:"last_seq"`
			} `json:"state"`
		}
		if err := jsonv2.Unmarshal(resp.Data, &a); err != nil {
			return badAnswer(resp.Data)
		}
		switch {
		case a.Error != nil:
			return answerError(a.Error)
		case a.State == nil || a.Created == nil:
			return badAnswer(resp.Data)
		}
		info = leaderInfo{created: *a.Created,
			state: jetstream.StreamState{Msgs: a.State.Msgs, FirstSeq: a.State.FirstSeq, LastSeq: a.State.LastSeq}}
		if a.Cluster != nil {
			info.leader = a.Cluster.Leader
		}
		return nil
	}})
	return info, err
}
