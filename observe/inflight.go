package observe

import "sync/atomic"

// inFlightShards is how many counters the in-flight gauge is spread over:
// with one, every request's two updates contend for one cache line between
// the cores (a prometheus.Gauge is a compare-and-swap loop on a float).
const inFlightShards = 16

// inFlight counts the requests being served, spread over shards. A
// request adds to and takes from the same shard (the one enter returns),
// so no shard goes below zero and their sum, read at a scrape, is never
// negative; it is exact whenever no request starts or ends during the read,
// and within the requests that do otherwise — what any gauge read while
// requests come and go is.
type inFlight struct {
	shards [inFlightShards]struct {
		n atomic.Int64
		_ [56]byte // one cache line per shard
	}
}

// enter counts a request in shard s (mod inFlightShards) and returns the
// shard to give to leave. The caller draws s at random, without shared
// state: the request's handler takes the request-id's first hex digit,
// drawn anyway (one draw of the runtime's generator fewer a request).
func (g *inFlight) enter(s uint8) uint8 {
	s %= inFlightShards
	g.shards[s].n.Add(1)
	return s
}

// hexDigit is the value of a lower-case hex digit (0–15).
func hexDigit(c byte) uint8 { return c&0x0f + 9*(c>>6) }

func (g *inFlight) leave(s uint8) { g.shards[s].n.Add(-1) }

// value is the sum of the shards, for the gauge read at each scrape.
func (g *inFlight) value() float64 {
	var n int64
	for i := range g.shards {
		n += g.shards[i].n.Load()
	}
	return float64(n)
}
