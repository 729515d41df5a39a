package store

import "context"

// Position is where one partition's stream stands: which stream it is
// (its name, and the instant it was created, so that a stream deleted and
// made again under the same name is another one) and the sequence of its
// newest record. A key's Revision is a sequence in its partition's stream.
type Position struct {
	Stream  string
	Created int64 // Unix nanoseconds
	Seq     uint64
}

// Resumable is a KV whose changes can be read again from a position: a
// copy of its keys saved with the positions it reflects (the core's cache
// snapshot) catches up by reading only what was written after them,
// rather than every key. Positions are one per partition, in partition
// order (Change.Partition).
type Resumable interface {
	// Positions is each partition's position now.
	Positions(ctx context.Context) ([]Position, error)
	// WatchFrom is Watch, delivering every change under prefix written
	// after the positions (each partition's Seq) rather than after the
	// call.
	WatchFrom(ctx context.Context, prefix string, after []Position) (Watcher, error)
	// Replay calls fn, in each partition's order, with the changes under
	// prefix written after the positions after and up to upTo (the
	// changes a Watch would deliver; one replaced by a newer revision of
	// its key before it was read is not, and the newer one is), then
	// returns. Records the engine counts but cannot read end it with an
	// error wrapping ErrUnreadable.
	Replay(ctx context.Context, prefix string, after, upTo []Position, fn func(Change) error) error
}
