package main

import (
	"flag"
	"fmt"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/auth/throttle"
	"github.com/presenced/presenced/graphapi"
)

// throttleFlags registers the flags of Graph's throttling and of the
// overload guard (docs/security.md#throttling-and-batching) on fs, and
// returns the function that applies them to cfg after parsing. As with
// the other limits, 0 on the command line turns one off.
func throttleFlags(fs *flag.FlagSet, cfg *presenced.Config) func() error {
	fs.IntVar(&cfg.ThrottleRequests, "throttle-requests", throttle.DefaultBudgetRequests, "presence requests one application may make per --throttle-window in one tenant, as Graph throttles; over it 429 with Retry-After (0: no throttling)")
	fs.DurationVar(&cfg.ThrottleWindow, "throttle-window", throttle.DefaultBudgetWindow, "the period the --throttle-requests budget refills over")
	fs.IntVar(&cfg.MaxInFlight, "max-in-flight", graphapi.DefaultMaxInFlight, "Graph requests served at once; one more is answered 503 with Retry-After (0: no limit)")
	return func() error {
		switch {
		case cfg.ThrottleRequests < 0:
			return fmt.Errorf("--throttle-requests: %d (0 turns throttling off)", cfg.ThrottleRequests)
		case cfg.ThrottleWindow <= 0:
			return fmt.Errorf("--throttle-window: %s (must be positive)", cfg.ThrottleWindow)
		case cfg.MaxInFlight < 0:
			return fmt.Errorf("--max-in-flight: %d (0 turns the limit off)", cfg.MaxInFlight)
		}
		off(&cfg.ThrottleRequests)
		off(&cfg.MaxInFlight)
		return nil
	}
}
