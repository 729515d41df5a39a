package presenced_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
)

// BenchmarkDeadlineConn is what deadlineConn saves a request: two servers
// over the same 1,000 users, one giving the socket every deadline net/http
// sets (eager, as before) and one through deadlineConn (lazy), driven in
// alternating rounds by BenchmarkHTTP's clients and requests, so that the
// shared machine's load weighs on both alike. It reports each side's
// process CPU a request (client and server: the median round) and the
// median of the rounds' differences, lazy less eager.
//
//	go test -run '^$' -bench 'BenchmarkDeadlineConn' -benchtime 40000x -count 3 .
func BenchmarkDeadlineConn(b *testing.B) {
	d := directory.DemoFile(1000)
	users := make([]string, 1000)
	for i := range users {
		users[i] = directory.DemoUserID(i + 1)
	}
	boot := func(eager bool) *env {
		e := &env{t: b, fake: clock.NewFake(t0), dir: b.TempDir(), addr: "127.0.0.1:0", d: d,
			cfg: func(c *presenced.Config) {
				if eager {
					presenced.EagerDeadlines(c)
				}
			}}
		e.boot()
		return e
	}
	eager, lazy := boot(true), boot(false)
	get, set := httpOps(eager.appToken(), users)
	lget, lset := httpOps(lazy.appToken(), users)
	for _, op := range []struct {
		name        string
		eager, lazy func(int) *http.Request
	}{{"get", get(eager.srv.URL()), lget(lazy.srv.URL())}, {"setPresence", set(eager.srv.URL()), lset(lazy.srv.URL())}} {
		b.Run(op.name, func(b *testing.B) {
			c := benchClient()
			drive(b, c, benchClients, op.eager)
			drive(b, c, benchClients, op.lazy)
			const part = 2000
			n := max(b.N/part, 6)
			b.ResetTimer()
			var ce, cl, diff []float64
			side := func(mk func(int) *http.Request) float64 {
				c0 := processCPU()
				drive(b, c, part, mk)
				return float64((processCPU() - c0).Nanoseconds()) / part
			}
			for round := range n {
				var e, l float64
				if round%2 == 0 {
					e, l = side(op.eager), side(op.lazy)
				} else {
					l, e = side(op.lazy), side(op.eager)
				}
				ce, cl, diff = append(ce, e), append(cl, l), append(diff, l-e)
			}
			b.StopTimer()
			lower := 0
			for _, v := range diff {
				if v < 0 {
					lower++
				}
			}
			b.ReportMetric(median(ce), "eager-cpu-ns/req")
			b.ReportMetric(median(cl), "lazy-cpu-ns/req")
			b.ReportMetric(median(diff), "diff-ns/req")
			b.ReportMetric(100*float64(lower)/float64(n), "pct-rounds-lower")
			if testing.Verbose() {
				b.Logf("%d rounds of %d requests a side; lazy less eager, ns a request: %s", n, part, fmt.Sprint(diff))
			}
		})
	}
}
