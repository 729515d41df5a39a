package store

import (
	"context"
	"time"
)

// Record is one entry of a Log.
type Record struct {
	Subject string
	Seq     uint64 // position in the whole log; increases with every append
	Time    time.Time
	Data    []byte
}

// Log is a durable, append-only log of records, each under a subject
// ("chg.<tenant>.<user>"). Records are kept for a retention period; readers
// follow them in order, live (Follow), or read a range of them (Read).
// Change notifications are built on it.
type Log interface {
	// Append stores a record and returns its sequence once the engine has
	// acknowledged it.
	Append(ctx context.Context, subject string, data []byte) (uint64, error)
	// AppendAfter appends only if the newest record under subject has the
	// sequence last (0: there is none), and returns ErrConflict otherwise.
	// Nodes that each produce the same record (a change caused by time,
	// seen by every node) append after the Last they read: one succeeds,
	// the others learn that it is done.
	AppendAfter(ctx context.Context, subject string, last uint64, data []byte) (uint64, error)
	// Last returns the newest record under subject, or ErrNotFound.
	Last(ctx context.Context, subject string) (Record, error)
	// LastMany returns, aligned with subjects, the newest record under
	// each subject at or before position upTo (0: the newest of all); a
	// subject without one has the zero Record (Seq 0). It is one engine
	// round trip per few hundred subjects. In a cluster a replica that is
	// not the leader may answer: a record it lacks yet reads as an older
	// one or none, never as one that was not stored.
	LastMany(ctx context.Context, subjects []string, upTo uint64) ([]Record, error)
	// LastSeq is the sequence of the newest record in the whole log (0 if empty).
	LastSeq(ctx context.Context) (uint64, error)
	// FirstSeq is the sequence of the oldest record still kept (0 if empty).
	FirstSeq(ctx context.Context) (uint64, error)
	// Follow calls fn, in order, for every record under subjects with
	// sequence >= from (from 0: only records appended from now on), and
	// keeps following until ctx ends or fn returns an error.
	Follow(ctx context.Context, subjects []string, from uint64, fn func(Record) error) error
	// Read calls fn, in order, for the records under subjects with
	// sequence from..to (inclusive) that are still kept, then returns.
	Read(ctx context.Context, subjects []string, from, to uint64, fn func(Record) error) error
}
