package notify

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// A subscription write refused by a full disk says so: before, it was
// answered "the subscription store did not answer" (seen operating the
// binary on a full tmpfs), which sends an operator looking at the engine's
// health rather than at the disk.
func TestSubscriptionStoreErrorSaysWhy(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"full disk", fmt.Errorf("natsstore: %w: 0 bytes free", store.ErrFull), "storage is full: nothing was written"},
		{"under way as the disk filled", fmt.Errorf("natsstore: %w (%w)", store.ErrFull, store.ErrMaybeStored), "may or may not have been stored"},
		{"no answer", fmt.Errorf("natsstore: %w", store.ErrUnavailable), "did not answer"},
	} {
		var pe *presence.Error
		err := engineErr(c.err)
		if !errors.As(err, &pe) || pe.Code != presence.Unavailable || !strings.Contains(presence.ErrorMessage(err), c.want) {
			t.Errorf("%s: %v, want 503 saying %q", c.name, err, c.want)
		}
	}
}
