package store

import "context"

// SerialKV is a KV whose writes can be ordered over the whole bucket, not
// only per key: PutAfter and DeleteAfter succeed only if the bucket's
// newest write, to any key, is the one at revision after. A writer that
// checked a change against everything up to after thereby knows that
// nothing came in between — an optimistic transaction over the bucket,
// for data whose rules span keys (the directory: a userPrincipalName
// unique across pages).
type SerialKV interface {
	KV
	// PutAfter stores value under key if the bucket's last revision is
	// after, and returns the new revision; otherwise ErrConflict.
	PutAfter(ctx context.Context, key string, value []byte, after uint64) (uint64, error)
	// DeleteAfter removes key (a delete marker, which has a revision of
	// its own) if the bucket's last revision is after; otherwise
	// ErrConflict.
	DeleteAfter(ctx context.Context, key string, after uint64) (uint64, error)
	// LastRevision is the revision of the bucket's newest write, of any
	// key, a delete too (0: none yet).
	LastRevision(ctx context.Context) (uint64, error)
}
