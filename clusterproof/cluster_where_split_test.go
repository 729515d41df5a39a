package clusterproof_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/loadgen"
)

// parseServerSide takes the action's successful requests and the presence
// bucket's puts, and nothing else: other routes, statuses, buckets and
// operations are left out, and a bucket's observations above a bound are
// the count less the bucket's.
func TestParseServerSide(t *testing.T) {
	const text = `# HELP presenced_http_request_duration_seconds x
presenced_http_request_duration_seconds_bucket{method="POST",route="/v1.0/users/{id}/presence/{action}",status="200",le="0.01"} 90
presenced_http_request_duration_seconds_bucket{method="POST",route="/v1.0/users/{id}/presence/{action}",status="200",le="0.025"} 97
presenced_http_request_duration_seconds_bucket{method="POST",route="/v1.0/users/{id}/presence/{action}",status="200",le="0.1"} 99
presenced_http_request_duration_seconds_bucket{method="POST",route="/v1.0/users/{id}/presence/{action}",status="200",le="+Inf"} 100
presenced_http_request_duration_seconds_sum{method="POST",route="/v1.0/users/{id}/presence/{action}",status="200"} 0.5
presenced_http_request_duration_seconds_count{method="POST",route="/v1.0/users/{id}/presence/{action}",status="200"} 100
presenced_http_request_duration_seconds_count{method="POST",route="/v1.0/users/{id}/presence/{action}",status="400"} 7
presenced_http_request_duration_seconds_count{method="GET",route="/v1.0/users/{id}/presence",status="200"} 9
presenced_engine_operation_duration_seconds_bucket{bucket="presence",op="put",le="0.01"} 100
presenced_engine_operation_duration_seconds_bucket{bucket="presence",op="put",le="0.025"} 102
presenced_engine_operation_duration_seconds_bucket{bucket="presence",op="put",le="0.1"} 103
presenced_engine_operation_duration_seconds_bucket{bucket="presence",op="put",le="+Inf"} 103
presenced_engine_operation_duration_seconds_sum{bucket="presence",op="put"} 0.4
presenced_engine_operation_duration_seconds_count{bucket="presence",op="put"} 103
presenced_engine_operation_duration_seconds_count{bucket="presence",op="get"} 55
presenced_engine_operation_duration_seconds_count{bucket="meta",op="put"} 3
presenced_engine_revision_conflicts_total{bucket="meta"} 4
presenced_engine_revision_conflicts_total{bucket="presence"} 3
`
	req, put, conflicts, err := parseServerSide(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  serverHist
		want serverHist
	}{
		{"request", req, serverHist{count: 100, sum: 0.5, above: []float64{10, 3, 1}}},
		{"put", put, serverHist{count: 103, sum: 0.4, above: []float64{3, 1, 0}}},
	} {
		if c.got.count != c.want.count || math.Abs(c.got.sum-c.want.sum) > 1e-12 || len(c.got.above) != 3 ||
			c.got.above[0] != c.want.above[0] || c.got.above[1] != c.want.above[1] || c.got.above[2] != c.want.above[2] {
			t.Errorf("%s: %+v, want %+v", c.name, c.got, c.want)
		}
	}
	if conflicts != 3 {
		t.Errorf("conflicts %v, want the presence bucket's 3", conflicts)
	}
}

// traceSide marks a write near another node's write of the same user
// (ended within nearWindow, or in flight) and a write behind the same
// node's write of the user in flight; nothing else.
func TestTraceSide(t *testing.T) {
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	w := func(start, lat float64, node, user int) loadgen.TraceRecord {
		return loadgen.TraceRecord{Start: ms(start), Latency: ms(lat), Node: node, User: user, Op: loadgen.OpSet, Status: 200}
	}
	for _, c := range []struct {
		name       string
		rs         []loadgen.TraceRecord
		near, same float64
	}{
		{"alone", []loadgen.TraceRecord{w(0, 1, 0, 1)}, 0, 0},
		{"another node's, just ended", []loadgen.TraceRecord{w(0, 1, 0, 1), w(5, 1, 1, 1)}, 0.5, 0},
		{"another node's, long ended", []loadgen.TraceRecord{w(0, 1, 0, 1), w(100, 1, 1, 1)}, 0, 0},
		{"another node's, in flight", []loadgen.TraceRecord{w(0, 50, 0, 1), w(40, 1, 1, 1)}, 0.5, 0},
		{"another user", []loadgen.TraceRecord{w(0, 1, 0, 1), w(5, 1, 1, 2)}, 0, 0},
		{"the same node's, in flight", []loadgen.TraceRecord{w(0, 10, 0, 1), w(5, 1, 0, 1)}, 0, 0.5},
		{"the same node's, ended", []loadgen.TraceRecord{w(0, 1, 0, 1), w(5, 1, 0, 1)}, 0, 0},
		{"a failed write is not one", []loadgen.TraceRecord{{Start: 0, Latency: ms(1), User: 1, Op: loadgen.OpSet, Status: 503}, w(5, 1, 1, 1)}, 0, 0},
	} {
		got := traceSide(c.rs)
		if got.nearShare != c.near || got.sameShare != c.same {
			t.Errorf("%s: near %v, same %v; want %v, %v", c.name, got.nearShare, got.sameShare, c.near, c.same)
		}
	}
}
