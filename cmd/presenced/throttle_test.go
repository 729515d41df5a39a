package main

import (
	"bytes"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/internal/servertest"
)

// A server that throttles (Graph's budget, the default) makes bench's
// requests fail with 429: bench says why and how to measure the server.
func TestBenchExplainsThrottling(t *testing.T) {
	srv := servertest.Start(t, presenced.Config{DataDir: t.TempDir(), Dev: true, DemoUsers: 5, ThrottleRequests: 5})
	var out, errb bytes.Buffer
	err := run([]string{"bench", "--url", srv.URL(), "--users", "5", "--concurrency", "2", "--requests", "30", "--baseline=false", "--mix", "get=1", "--warmup=false"}, &out, &errb)
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	if !strings.Contains(errb.String(), "start it with --throttle-requests 0") {
		t.Errorf("bench does not say why its requests failed:\n%s", errb.String())
	}
	// With the warm-up (the default) the budget runs out before any load
	// (here at the first request: the run above spent it): the run fails,
	// saying why.
	err = run([]string{"bench", "--url", srv.URL(), "--users", "5", "--concurrency", "2", "--requests", "30", "--baseline=false", "--mix", "set=1"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "start it with --throttle-requests 0") {
		t.Errorf("a throttled warm-up: %v", err)
	}
}

// The throttling flags reach the Config: 0 on the command line is off.
func TestThrottleFlags(t *testing.T) {
	tests := []struct {
		args               []string
		requests, inFlight int
		window             time.Duration
		err                string
	}{
		{nil, 1500, 1000, 30 * time.Second, ""},
		{[]string{"--throttle-requests", "0", "--max-in-flight", "0"}, -1, -1, 30 * time.Second, ""},
		{[]string{"--throttle-requests", "10", "--throttle-window", "1m"}, 10, 1000, time.Minute, ""},
		{[]string{"--throttle-window", "0s"}, 0, 0, 0, "--throttle-window"},
		{[]string{"--max-in-flight", "-1"}, 0, 0, 0, "--max-in-flight"},
	}
	for _, tt := range tests {
		var cfg presenced.Config
		fs := newFlagSet()
		apply := throttleFlags(fs, &cfg)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		err := apply()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%v: err %v, want %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || cfg.ThrottleRequests != tt.requests || cfg.MaxInFlight != tt.inFlight || cfg.ThrottleWindow != tt.window {
			t.Errorf("%v: %d %d %v %v", tt.args, cfg.ThrottleRequests, cfg.MaxInFlight, cfg.ThrottleWindow, err)
		}
	}
}

func newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}
