package loadgen_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/presenced/presenced/loadgen"
)

// A traced run lists every request to presenced, none of the
// baseline's, each with the user it was about, and reads back as written.
func TestRunTrace(t *testing.T) {
	srv := startServer(t)
	cfg := demoConfig(srv.URL())
	cfg.Requests = 300
	cfg.Rounds = 2
	cfg.Baseline = true
	var buf bytes.Buffer
	cfg.Trace = &buf
	rep, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := loadgen.ReadTrace(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(rs)) != rep.Presenced.Total.Count || len(rs) != 300 {
		t.Fatalf("%d records, the report counts %d requests to presenced (300 asked)", len(rs), rep.Presenced.Total.Count)
	}
	var last time.Duration
	ops := map[loadgen.Op]int{}
	for _, r := range rs {
		if r.Start < last {
			t.Fatalf("not oldest first: %v after %v", r.Start, last)
		}
		last = r.Start
		ops[r.Op]++
		if r.Node != 0 || r.Status != 200 || r.Latency <= 0 {
			t.Fatalf("record %+v: want node 0, status 200, a latency", r)
		}
		if want := r.Op != loadgen.OpMany; (r.User >= 0 && r.User < len(cfg.Users)) != want {
			t.Fatalf("record %+v: user index out of 0…%d (or set for getPresencesByUserId)", r, len(cfg.Users)-1)
		}
	}
	if ops[loadgen.OpSet] == 0 || ops[loadgen.OpGet] == 0 {
		t.Fatalf("operations %v: the default mix has writes and reads", ops)
	}
}

// WriteTrace and ReadTrace agree, to the microsecond.
func TestTraceRoundTrip(t *testing.T) {
	in := []loadgen.TraceRecord{
		{Start: 5 * time.Millisecond, Latency: 1234 * time.Microsecond, Node: 2, User: 17, Op: loadgen.OpSet, Status: 200},
		{Start: time.Millisecond, Latency: 7 * time.Microsecond, Node: 0, User: -1, Op: loadgen.OpMany, Status: 0},
	}
	var buf bytes.Buffer
	if err := loadgen.WriteTrace(&buf, in); err != nil {
		t.Fatal(err)
	}
	out, err := loadgen.ReadTrace(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0] != in[1] || out[1] != in[0] {
		t.Fatalf("read back %+v, want %+v sorted by start", out, in)
	}
}
