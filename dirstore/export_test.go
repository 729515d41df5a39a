package dirstore

import "context"

// DeleteOtherGenerations runs the clean-up a store runs after an import
// and at its start, for tests to run it at a chosen moment.
func (s *Store) DeleteOtherGenerations(ctx context.Context) { s.deleteOtherGenerations(ctx) }
