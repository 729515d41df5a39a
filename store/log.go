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
// follow them in order, live (Follow) or through a durable cursor that
// survives restarts (OpenCursor). Change notifications are built on it.
type Log interface {
	// Append stores a record and returns its sequence once the engine has
	// acknowledged it.
	Append(ctx context.Context, subject string, data []byte) (uint64, error)
	// Last returns the newest record under subject, or ErrNotFound.
	Last(ctx context.Context, subject string) (Record, error)
	// LastSeq is the sequence of the newest record in the whole log (0 if empty).
	LastSeq(ctx context.Context) (uint64, error)
	// FirstSeq is the sequence of the oldest record still kept (0 if empty).
	FirstSeq(ctx context.Context) (uint64, error)
	// Follow calls fn, in order, for every record under subjects with
	// sequence >= from (from 0: only records appended from now on), and
	// keeps following until ctx ends or fn returns an error.
	Follow(ctx context.Context, subjects []string, from uint64, fn func(Record) error) error
	// OpenCursor opens the durable cursor name over subjects where it
	// stands, or creates it starting at sequence from (0: after the newest
	// record) if it does not exist.
	OpenCursor(ctx context.Context, name string, subjects []string, from uint64) (Cursor, error)
	// DeleteCursor removes a durable cursor; a missing one is not an error.
	DeleteCursor(ctx context.Context, name string) error
	// Cursors lists the durable cursors.
	Cursors(ctx context.Context) ([]string, error)
}

// Cursor hands out a log's records one at a time, in order. A record handed
// out and not acknowledged is handed out again (after a restart, or when the
// holder stops signalling that it is still working on it).
type Cursor interface {
	// Next blocks until the next record is available or ctx ends.
	Next(ctx context.Context) (Pending, error)
	// Close stops the cursor (the durable position stays).
	Close()
}

// Pending is a record handed out by a Cursor.
type Pending interface {
	Record() Record
	// Done acknowledges the record: it is never handed out again.
	Done() error
	// Working tells the engine the record is still being worked on, so that
	// it is not handed out again meanwhile.
	Working() error
}
