package main

import (
	"flag"
	"fmt"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/auth/throttle"
)

// limitFlags registers the flags of the connection and sign-in limits
// (docs/security.md) on fs, and returns the function that applies them to
// cfg after parsing. On the command line 0 turns a timeout or limit off, as
// in net/http; in presenced.Config zero is the default and off is negative.
func limitFlags(fs *flag.FlagSet, cfg *presenced.Config) func() error {
	fs.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", presenced.DefaultReadHeaderTimeout, "longest a client may take to send a request's headers (0: no limit)")
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", presenced.DefaultReadTimeout, "longest a client may take to send a whole request, headers and body (0: no limit)")
	fs.DurationVar(&cfg.WriteTimeout, "write-timeout", presenced.DefaultWriteTimeout, "longest a response may take to write; on the live stream, each event and heartbeat (0: no limit)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", presenced.DefaultIdleTimeout, "how long a keep-alive connection may wait for its next request (0: no limit)")
	fs.IntVar(&cfg.MaxHeaderBytes, "max-header-bytes", presenced.DefaultMaxHeaderBytes, "largest request headers accepted, in `bytes`")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", presenced.DefaultMaxBodyBytes, "largest Graph request body accepted, in `bytes` after decompression")
	fs.IntVar(&cfg.MaxConnections, "max-connections", presenced.DefaultMaxConnections, "most connections open at once; one more is closed at once (0: no limit)")
	fs.IntVar(&cfg.LockoutThreshold, "lockout-threshold", throttle.DefaultLockoutThreshold, "failed passwords that lock a user for the address they came from (0: no lockout)")
	fs.DurationVar(&cfg.LockoutDuration, "lockout-duration", throttle.DefaultLockoutDuration, "first lock of a user; each further one doubles, up to an hour")
	fs.Float64Var(&cfg.TokenRate, "token-rate", throttle.DefaultRate, "token requests per second one address may send, sustained (0: no limit)")
	fs.IntVar(&cfg.TokenBurst, "token-burst", throttle.DefaultBurst, "token requests one address may send at once")
	return func() error {
		for _, f := range []struct {
			name string
			ok   bool
		}{
			{"max-header-bytes", cfg.MaxHeaderBytes > 0}, {"max-body-bytes", cfg.MaxBodyBytes > 0},
			{"lockout-duration", cfg.LockoutDuration > 0}, {"token-burst", cfg.TokenBurst > 0},
			{"read-header-timeout", cfg.ReadHeaderTimeout >= 0}, {"read-timeout", cfg.ReadTimeout >= 0},
			{"write-timeout", cfg.WriteTimeout >= 0}, {"idle-timeout", cfg.IdleTimeout >= 0},
			{"max-connections", cfg.MaxConnections >= 0}, {"lockout-threshold", cfg.LockoutThreshold >= 0}, {"token-rate", cfg.TokenRate >= 0},
		} {
			if !f.ok {
				return fmt.Errorf("--%s: %s", f.name, fs.Lookup(f.name).Value)
			}
		}
		off(&cfg.ReadHeaderTimeout)
		off(&cfg.ReadTimeout)
		off(&cfg.WriteTimeout)
		off(&cfg.IdleTimeout)
		off(&cfg.MaxConnections)
		off(&cfg.LockoutThreshold)
		off(&cfg.TokenRate)
		return nil
	}
}

// off turns a flag's 0 ("no limit") into Config's -1.
func off[T interface{ ~int | ~int64 | ~float64 }](v *T) {
	if *v == 0 {
		*v = -1
	}
}
