package presenced_test

import (
	"context"
	"testing"
	"time"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/benchenv"
	"github.com/presenced/presenced/loadgen"
)

// BenchmarkLoadgenInProcess is `presenced bench --mix set=1` (or get=1)
// with everything in this process: the load tool's own client, request
// shapes and users (loadgen.Run: 10,000 users × 4 sessions, random), its
// bare handler in this process (loadgen.StartBare, as BenchmarkHTTP runs
// it) and an in-process presenced (as BenchmarkHTTP's). It tells the two
// harnesses' differences apart: what the tool reads here and not in
// BenchmarkHTTP is its client's or its shapes'; what it reads in three
// processes and not here is the process boundary's (docs/performance.md,
// "The load tool's gap on setPresence"). -benchtime is the duration of
// each phase in seconds (e.g. 10x: 10 s each, in 5 rounds).
//
//	go test -run '^$' -bench 'BenchmarkLoadgenInProcess/set' -benchtime 10x -count 3 .
//
// PRESENCED_LOADGEN_USERS and PRESENCED_LOADGEN_SESSIONS change the users
// and sessions a user (bench's --users, --sessions-per-user; 10,000 and 4
// unless set), to take the default shape's costs apart.
// PRESENCED_LOADGEN_BASELINE=0 runs presenced alone (no bare phases): a
// CPU profile then holds only presenced's requests and the client's.
// PRESENCED_LOADGEN_WARMUP=1 warms up as `presenced bench` does (every
// user and session written once, untimed) before it measures, so that a
// profile holds a running server's writes and no user's first.
func BenchmarkLoadgenInProcess(b *testing.B) {
	users, sessions := 10_000, 4 // bench's defaults
	users = benchenv.Int("PRESENCED_LOADGEN_USERS", users, 1)
	sessions = benchenv.Int("PRESENCED_LOADGEN_SESSIONS", sessions, 1)
	baseline := benchenv.Int("PRESENCED_LOADGEN_BASELINE", 1, 0) != 0
	warmup := benchenv.Int("PRESENCED_LOADGEN_WARMUP", 0, 0) != 0
	e := startWith(b, directory.DemoFile(users))
	ids := make([]string, users)
	for i := range ids {
		ids[i] = directory.DemoUserID(i + 1)
	}
	for _, mix := range []struct {
		name string
		mix  loadgen.Mix
	}{{"set", loadgen.Mix{Set: 1}}, {"get", loadgen.Mix{Get: 1}}} {
		b.Run(mix.name, func(b *testing.B) {
			cfg := loadgen.Config{
				URL: e.srv.URL(), Tenant: directory.DemoTenantID,
				ClientID: directory.DemoDaemonClientID, ClientSecret: directory.DemoDaemonSecret,
				Users: ids, SessionsPerUser: sessions, Mix: mix.mix, Concurrency: benchClients,
				Duration: time.Duration(b.N) * time.Second, Baseline: baseline, Rounds: benchRounds, Warmup: warmup,
			}
			rep, err := loadgen.Run(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			if rep.Presenced.Total.Errors > 0 {
				b.Fatalf("errors: %s", rep.Presenced.Total.FirstError)
			}
			b.ReportMetric(rep.Presenced.Total.Throughput, "req/s")
			b.ReportMetric(float64(rep.Presenced.Total.Count), "reqs")
			if p := rep.Presenced.CPU; p != nil && !baseline {
				b.ReportMetric(float64(p.Client.Nanoseconds()), "cpu-ns/req")
			}
			if !baseline {
				return
			}
			if rep.Baseline.Total.Errors > 0 {
				b.Fatalf("errors: %s", rep.Baseline.Total.FirstError)
			}
			b.ReportMetric(100*rep.Ratio["total"], "pct-of-bare")
			b.ReportMetric(rep.Baseline.Total.Throughput, "bare-req/s")
			if p, q := rep.Presenced.CPU, rep.Baseline.CPU; p != nil && q != nil {
				// One process: the client's figure is everything's.
				b.ReportMetric(float64(p.Client.Nanoseconds()), "cpu-ns/req")
				b.ReportMetric(float64(q.Client.Nanoseconds()), "bare-cpu-ns/req")
				b.ReportMetric(100*float64(q.Client)/float64(p.Client), "cpu-pct-of-bare")
			}
		})
	}
}
